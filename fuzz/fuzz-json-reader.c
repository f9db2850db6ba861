/* The one-pass JSON reader that serves POST bodies, against the path it stands
 * in for, the guard and then json-glib: whatever the reader accepts, the guard
 * passes and json-glib reads into the same tree (member order, integer or
 * double, every string). What it declines is the other targets' business. */

#include "config.h"

#include "rest/em-json-guard.h"
#include "rest/em-json-reader.h"
#include "rest/em-rest-limits.h"
#include "em-fuzz-common.h"

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  const char *text = (const char *) data;
  g_autoptr(JsonNode) ours = em_json_reader_read (text, size, EM_REST_MAX_JSON_DEPTH);
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ours_text = NULL;
  g_autofree char *theirs_text = NULL;

  if (ours == NULL)
    return 0;
  if (!json_node_is_immutable (ours))
    g_error ("the reader's tree is not sealed");
  if (!em_json_guard_check (text, size, EM_REST_MAX_JSON_DEPTH, &error))
    g_error ("the reader accepted what the guard refuses: %s", error->message);
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) size, &error))
    g_error ("the reader accepted what json-glib refuses: %s", error->message);
  ours_text = json_to_string (ours, FALSE);
  theirs_text = json_to_string (json_parser_get_root (parser), FALSE);
  if (g_strcmp0 (ours_text, theirs_text) != 0)
    g_error ("the reader read %s where json-glib read %s", ours_text, theirs_text);
  return 0;
}
