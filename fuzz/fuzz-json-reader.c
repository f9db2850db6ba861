/* The JSON reader that serves POST bodies: what it accepts, json-glib reads into
 * the same tree (member order, integer or double, every string); what it refuses
 * it explains with an EM_ERROR in UTF-8 that starts with where, as a field path,
 * and for syntax errors a byte offset inside the input. */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/em-json-reader.h"
#include "rest/em-rest-limits.h"
#include "em-fuzz-common.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_object_unref (em_fuzz_init ());
  return 0;
}

static void
check_refusal (const char   *text,
               size_t        size,
               const GError *error)
{
  const char *at;

  em_fuzz_assert_error (error);
  if (strstr (error->message, ": ") == NULL)
    {
      g_printerr ("the refusal does not say where: %s\n", error->message);
      abort ();
    }
  at = g_strrstr (error->message, "not valid JSON at byte ");
  if (at != NULL && g_ascii_strtoull (at + strlen ("not valid JSON at byte "), NULL, 10) > size)
    {
      g_printerr ("the refusal points past the input (%zu bytes): %s\n", size, error->message);
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  const char *text = (const char *) data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) ours = em_json_reader_read (text, size, EM_REST_MAX_JSON_DEPTH, &error);
  g_autoptr(JsonParser) parser = NULL;
  g_autofree char *ours_text = NULL;
  g_autofree char *theirs_text = NULL;

  if (ours == NULL)
    {
      check_refusal (text, size, error);
      return 0;
    }
  if (error != NULL)
    g_error ("the reader gave a tree and an error: %s", error->message);
  if (!json_node_is_immutable (ours))
    g_error ("the reader's tree is not sealed");
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) size, &error))
    g_error ("the reader accepted what json-glib refuses: %s", error->message);
  ours_text = json_to_string (ours, FALSE);
  theirs_text = json_to_string (json_parser_get_root (parser), FALSE);
  if (g_strcmp0 (ours_text, theirs_text) != 0)
    g_error ("the reader read %s where json-glib read %s", ours_text, theirs_text);
  return 0;
}
