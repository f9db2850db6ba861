#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "engine/em-time.h"
#include "dbus/em-dbus-util.h"

char *
em_dbus_task_path (const char *id)
{
  g_autoptr(GString) path = g_string_new (EM_DBUS_TASKS_PATH "/");

  /* ids are UUIDs; anything outside [A-Za-z0-9_] would not be a valid path
   * element, so it is replaced as '-' is */
  for (const char *p = id; *p != '\0'; p++)
    g_string_append_c (path, g_ascii_isalnum (*p) ? *p : '_');

  return g_string_free (g_steal_pointer (&path), FALSE);
}

GVariant *
em_dbus_empty_dict (void)
{
  return g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0);
}

gboolean
em_dbus_check_keys (GVariant            *dict,
                    const char          *what,
                    const char * const  *known,
                    GError             **error)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GVariantIter iter;
  const char *key;

  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
    {
      g_autofree char *quoted = em_clip_member_name (key);

      /* D-Bus allows a key twice and a lookup would take one of them in
       * silence; a JSON member twice is refused too */
      if (!g_hash_table_add (seen, (gpointer) key))
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, "%s.%s: %s", what, quoted,
                       _("member name appears more than once"));
          return FALSE;
        }
      if (known == NULL || !g_strv_contains (known, key))
        {
          g_autofree char *list = known != NULL ? g_strjoinv (", ", (char **) known) : NULL;

          if (list != NULL && *list != '\0')
            g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                         _("%s.%s is not a known key (known keys: %s)"), what, quoted, list);
          else
            g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                         _("%s.%s is not a known key (%s takes no keys yet)"), what, quoted, what);
          return FALSE;
        }
    }

  return TRUE;
}

gboolean
em_dbus_lookup (GVariant            *dict,
                const char          *what,
                const char          *key,
                const GVariantType  *type,
                GVariant           **out,
                GError             **error)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (dict, key, NULL);

  *out = NULL;
  if (value == NULL)
    return TRUE;

  if (!g_variant_is_of_type (value, type))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s.%s must be of type %.*s, not %s"), what, key,
                   (int) g_variant_type_get_string_length (type),
                   g_variant_type_peek_string (type),
                   g_variant_get_type_string (value));
      return FALSE;
    }

  *out = g_steal_pointer (&value);
  return TRUE;
}

gboolean
em_dbus_lookup_uint (GVariant    *dict,
                     const char  *what,
                     const char  *key,
                     guint       *out,
                     GError     **error)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (dict, key, NULL);
  g_autofree char *text = NULL;
  gint64 number;

  if (value == NULL)
    return TRUE;

  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTE))
    number = g_variant_get_byte (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT16))
    number = g_variant_get_int16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT16))
    number = g_variant_get_uint16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    number = g_variant_get_int32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    number = g_variant_get_uint32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    number = g_variant_get_int64 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    {
      /* beyond any gint64 too: quoted back as sent */
      if (g_variant_get_uint64 (value) > G_MAXUINT)
        text = g_strdup_printf ("%" G_GUINT64_FORMAT, g_variant_get_uint64 (value));
      number = (gint64) MIN (g_variant_get_uint64 (value), (guint64) G_MAXINT64);
    }
  else
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s.%s must be an integer (type u), not %s"), what, key,
                   g_variant_get_type_string (value));
      return FALSE;
    }

  if (number < 0 || number > G_MAXUINT)
    {
      if (text == NULL)
        text = g_strdup_printf ("%" G_GINT64_FORMAT, number);
      /* the number apart: a format macro would cut the msgid short */
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s.%s must be between 0 and %u, got %s"),
                   what, key, G_MAXUINT, text);
      return FALSE;
    }

  *out = (guint) number;
  return TRUE;
}

gboolean
em_dbus_lookup_time (GVariant    *dict,
                     const char  *what,
                     const char  *key,
                     GDateTime  **out,
                     GError     **error)
{
  g_autoptr(GVariant) value = NULL;
  GDateTime *time;

  if (!em_dbus_lookup (dict, what, key, G_VARIANT_TYPE_STRING, &value, error))
    return FALSE;
  if (value == NULL)
    return TRUE;

  time = em_time_parse (g_variant_get_string (value, NULL));
  if (time == NULL)
    {
      /* the call may carry a megabyte of it */
      g_autofree char *quoted = em_clip_for_message (g_variant_get_string (value, NULL));

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s.%s must be an RFC 3339 time with a time zone, e.g. "
                     "2026-01-01T12:00:00Z, not “%s”"),
                   what, key, quoted);
      return FALSE;
    }

  g_clear_pointer (out, g_date_time_unref);
  *out = time;
  return TRUE;
}

static EmError
map_foreign_error (const GError *error)
{
  if (error->domain == G_IO_ERROR)
    {
      switch (error->code)
        {
        case G_IO_ERROR_NOT_FOUND:
          return EM_ERROR_NOT_FOUND;
        case G_IO_ERROR_INVALID_ARGUMENT:
        case G_IO_ERROR_INVALID_DATA:
        case G_IO_ERROR_INVALID_FILENAME:
          return EM_ERROR_INVALID_ARGUMENT;
        case G_IO_ERROR_EXISTS:
        case G_IO_ERROR_BUSY:
          return EM_ERROR_CONFLICT;
        case G_IO_ERROR_CANCELLED:
        case G_IO_ERROR_WOULD_BLOCK:
        case G_IO_ERROR_NOT_SUPPORTED:
        case G_IO_ERROR_NO_SPACE:
          return EM_ERROR_UNAVAILABLE;
        default:
          return EM_ERROR_FAILED;
        }
    }

  if (error->domain == JSON_PARSER_ERROR || error->domain == G_VARIANT_PARSE_ERROR)
    return EM_ERROR_INVALID_ARGUMENT;

  return EM_ERROR_FAILED;
}

void
em_dbus_return_error (GDBusMethodInvocation *invocation,
                      const GError          *error)
{
  if (error->domain == EM_ERROR)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }

  g_debug ("mapping %s error %d: %s", g_quark_to_string (error->domain),
           error->code, error->message);
  g_dbus_method_invocation_return_error_literal (invocation, EM_ERROR,
                                                 map_foreign_error (error),
                                                 error->message);
}
