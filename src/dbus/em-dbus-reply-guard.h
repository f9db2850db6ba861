#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* replaces every method reply whose body is over @max_bytes, on its way out
 * of @connection, with an error; returns the filter's id for
 * g_dbus_connection_remove_filter() */
guint em_dbus_reply_guard_add (GDBusConnection *connection,
                               gsize            max_bytes);

G_END_DECLS
