#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-reply-guard.h"

/* the bus disconnects a sender whose message is over the limit, and the
 * service would lose its name with it. Replies GLib builds (GetManagedObjects
 * over thousands of task objects) grow with the tasks, so every reply is
 * measured here, in GDBus's worker, just before it is written */
static GDBusMessage *
guard_cb (GDBusConnection *connection,
          GDBusMessage    *message,
          gboolean         incoming,
          gpointer         user_data)
{
  gsize max_bytes = GPOINTER_TO_SIZE (user_data);
  GVariant *body;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *size = NULL;
  g_autofree char *limit = NULL;
  GDBusMessage *refusal;

  if (incoming || g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_RETURN)
    return message;
  body = g_dbus_message_get_body (message);
  if (body == NULL || g_variant_get_size (body) <= max_bytes)
    return message;

  /* the numbers apart: a format macro would cut the msgid short */
  size = g_strdup_printf ("%" G_GSIZE_FORMAT, g_variant_get_size (body));
  limit = g_strdup_printf ("%" G_GSIZE_FORMAT, max_bytes);
  g_set_error (&error, EM_ERROR, EM_ERROR_FAILED,
               _("The reply of %s bytes is larger than the %s bytes one D-Bus message may "
                 "hold; ask for less"), size, limit);
  g_warning ("refusing to send a reply of %s bytes to %s", size,
             g_dbus_message_get_destination (message));
  name = g_dbus_error_encode_gerror (error);

  refusal = g_dbus_message_new ();
  g_dbus_message_set_message_type (refusal, G_DBUS_MESSAGE_TYPE_ERROR);
  g_dbus_message_set_flags (refusal, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_dbus_message_set_serial (refusal, g_dbus_message_get_serial (message));
  g_dbus_message_set_reply_serial (refusal, g_dbus_message_get_reply_serial (message));
  g_dbus_message_set_destination (refusal, g_dbus_message_get_destination (message));
  g_dbus_message_set_error_name (refusal, name);
  g_dbus_message_set_body (refusal, g_variant_new ("(s)", error->message));
  g_object_unref (message);
  return refusal;
}

guint
em_dbus_reply_guard_add (GDBusConnection *connection,
                         gsize            max_bytes)
{
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), 0);

  return g_dbus_connection_add_filter (connection, guard_cb, GSIZE_TO_POINTER (max_bytes), NULL);
}
