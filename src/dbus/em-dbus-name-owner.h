#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EM_TYPE_DBUS_NAME_OWNER (em_dbus_name_owner_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusNameOwner, em_dbus_name_owner, EM, DBUS_NAME_OWNER, GObject)

/* owns a well-known name on a bus connection, alone (no queueing, no
 * replacement), without ever waiting on the bus: GLib's g_bus_unown_name()
 * (2.74) releases the name with a call that blocks for up to 25 s on a bus
 * that does not answer. Emits `lost` when the name goes after it was
 * acquired: taken away, or the connection closed. */
EmDbusNameOwner *em_dbus_name_owner_new            (GDBusConnection     *connection,
                                                    const char          *name);
/* fails with EM_ERROR_CONFLICT when another connection owns the name, and
 * EM_ERROR_UNAVAILABLE when the bus could not be asked */
void             em_dbus_name_owner_acquire_async  (EmDbusNameOwner     *self,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean         em_dbus_name_owner_acquire_finish (EmDbusNameOwner     *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
/* gives the name back, also one granted after this call, with a message
 * that expects no answer; `lost` is not emitted from now on */
void             em_dbus_name_owner_release        (EmDbusNameOwner     *self);

G_END_DECLS
