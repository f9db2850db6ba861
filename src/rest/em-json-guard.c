#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-json-guard.h"
#include "engine/em-json-reader.h"

static gboolean
is_blank (const char *data,
          gsize       length)
{
  for (gsize i = 0; i < length; i++)
    if (strchr (" \t\r\n", data[i]) == NULL || data[i] == '\0')
      return FALSE;
  return TRUE;
}

JsonNode *
em_json_guard_parse (const char  *data,
                     gsize        length,
                     guint        max_depth,
                     GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  JsonNode *root = NULL;

  /* the reader alone: json-glib's own parser reads more than JSON, and would
   * turn 0x10 into 16, 'x' into "x", and a repeated member into one of them */
  if (length > 0)
    root = em_json_reader_read (data, length, max_depth, &local_error);
  if (root != NULL)
    return root;
  if (length == 0 || is_blank (data, length))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("body: empty; expected a JSON object"));
      return NULL;
    }
  /* invisible in an editor: "expected a value at byte 0" would not say why */
  if (length >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("body: starts with a byte order mark (bytes EF BB BF), which "
                             "JSON sent over a network must not have; send the body without it"));
      return NULL;
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}
