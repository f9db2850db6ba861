#pragma once

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

#define EM_TYPE_DBUS_SERVICE (em_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusService, em_dbus_service, EM, DBUS_SERVICE, GObject)

/* @http_address: (nullable): the REST base URL, published as HttpAddress */
EmDbusService *em_dbus_service_new          (EmEngineManager     *manager,
                                             const char          *http_address);
/* connects to the session bus, exports the objects and owns the well-known name;
 * fails with a message a user can act on when the name is taken or no bus is
 * reachable. Emits `name-lost` if the name is lost later. */
void           em_dbus_service_start_async  (EmDbusService       *self,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gboolean       em_dbus_service_start_finish (EmDbusService       *self,
                                             GAsyncResult        *result,
                                             GError             **error);
void           em_dbus_service_stop         (EmDbusService       *self);
/* whether calls that reply later are still unanswered, also after a stop */
gboolean       em_dbus_service_is_answering (EmDbusService       *self);
/* writes out what was sent on the bus, replies and signals, which the
 * connection otherwise still holds in its own queue when the process exits;
 * also after a stop */
void           em_dbus_service_flush        (EmDbusService       *self);
gboolean       em_dbus_service_is_flushing  (EmDbusService       *self);

G_END_DECLS
