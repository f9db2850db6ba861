/* Query strings and times: the input is a URL query as libsoup's server hands it
 * to a handler (soup_form_decode), read the way GET /tasks and /ws read theirs:
 * status, limit, offset, action, since/until (RFC 3339) and the WebSocket's
 * `since` sequence number; with the REST adapter's parser built in, through
 * em_rest_query_parse() too, whose `Link: rel="next"` must keep every filter. The whole input is also tried as a time, as `run_at`,
 * `since` and `until` arrive: whatever em_time_parse() accepts must format and
 * parse back to the same instant, so a stored time reads back as it was written. */

#include "config.h"

#include <string.h>
#include <libsoup/soup.h>

#include "engine/em-json-writer.h"
#include "engine/em-task-query.h"
#include "engine/em-time.h"
#include "em-fuzz-common.h"
#ifdef HAVE_EM_REST_QUERY
#include "rest/em-rest-query.h"
#endif

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_object_unref (em_fuzz_init ());
  return 0;
}

static void
check_time (const char *text)
{
  g_autoptr(GDateTime) time = em_time_parse (text);
  g_autoptr(GDateTime) again = NULL;
  g_autofree char *formatted = NULL;
  g_autofree char *fast = NULL;

  if (time == NULL)
    return;
  formatted = em_time_format (time);
  if (formatted == NULL)
    {
      /* in range in its own zone, out of range in UTC: refused, never half-read */
      g_printerr ("em_time_parse() accepted “%s”, which has no UTC form\n", text);
      abort ();
    }
  /* the writer's fast path must agree with the reference one */
  fast = em_json_format_time (time);
  g_assert_cmpstr (fast, ==, formatted);
  again = em_time_parse (formatted);
  if (again == NULL || !g_date_time_equal (again, time))
    {
      g_printerr ("“%s” became “%s”, which reads back differently\n", text, formatted);
      abort ();
    }
}

static gboolean
parse_uint (GHashTable *form, const char *name, guint64 maximum, guint64 *out)
{
  const char *text = g_hash_table_lookup (form, name);
  g_autoptr(GError) error = NULL;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, 0, maximum, out, &error))
    {
      g_assert_nonnull (error);
      return FALSE;
    }
  g_assert_cmpuint (*out, <=, maximum);
  return TRUE;
}

static void
read_query (const char *text)
{
  g_autoptr(GHashTable) form = soup_form_decode (text);
  g_auto(EmTaskQuery) query = { 0 };
  g_auto(EmTaskQuery) copy = { 0 };
  GHashTableIter iter;
  const char *key;
  const char *value;
  const char *status_text;
  guint64 limit = 0, offset = 0, seq = 0;

  g_assert_nonnull (form);
  em_task_query_init (&query);

  /* keys and values are handed to messages and SQL parameters as they are */
  g_hash_table_iter_init (&iter, form);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, (gpointer *) &value))
    {
      g_assert_nonnull (key);
      g_assert_nonnull (value);
    }

  status_text = g_hash_table_lookup (form, "status");
  if (status_text != NULL)
    {
      /* a comma-separated list of statuses */
      g_auto(GStrv) names = g_strsplit (status_text, ",", -1);

      for (guint i = 0; names[i] != NULL; i++)
        {
          EmTaskStatus status;

          if (!em_task_status_from_string (names[i], &status))
            break;
          g_assert_cmpint (status, >=, 0);
          g_assert_cmpint (status, <, EM_TASK_STATUS_N_STATUSES);
          g_assert_cmpstr (em_task_status_to_string (status), ==, names[i]);
          query.statuses |= EM_TASK_QUERY_STATUS (status);
        }
    }
  if (parse_uint (form, "limit", G_MAXUINT, &limit))
    query.limit = (guint) limit;
  if (parse_uint (form, "offset", G_MAXUINT, &offset))
    query.offset = (guint) offset;
  (void) parse_uint (form, "since", G_MAXUINT64, &seq);
  query.action = g_strdup (g_hash_table_lookup (form, "action"));

  value = g_hash_table_lookup (form, "since");
  if (value != NULL)
    {
      check_time (value);
      query.since = em_time_parse (value);
    }
  value = g_hash_table_lookup (form, "until");
  if (value != NULL)
    {
      check_time (value);
      query.until = em_time_parse (value);
    }

  /* the engine copies a query for its worker thread */
  em_task_query_copy (&copy, &query);
  g_assert_cmpuint (copy.statuses, ==, query.statuses);
  g_assert_cmpstr (copy.action, ==, query.action);
}

#ifdef HAVE_EM_REST_QUERY
/* the check every request's query passes first: refused with an EM_ERROR, or
 * names and values that are UTF-8 */
static void
check_rest_query (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) form = NULL;
  GHashTableIter iter;
  const char *key;
  const char *value;

  form = em_rest_query_decode (text, &error);
  if (form == NULL)
    {
      em_fuzz_assert_error (error);
      return;
    }
  g_hash_table_iter_init (&iter, form);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, (gpointer *) &value))
    {
      if (!g_utf8_validate (key, -1, NULL) || !g_utf8_validate (value, -1, NULL))
        {
          g_printerr ("“%s” passed the check with a name or value that is not UTF-8\n", text);
          abort ();
        }
    }
}

/* the adapter's parser: refused with an EM_ERROR, or a query whose next link
 * carries the same filters and page size, and its cursor */
static void
read_rest_query (const char *text)
{
  g_autoptr(GHashTable) form = soup_form_decode (text);
  g_auto(EmTaskQuery) query = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *link = NULL;
  g_autoptr(GHashTable) again = NULL;
  g_auto(EmTaskQuery) query_again = { 0 };
  const char *prefix = "</tasks?";
  const char *suffix = ">; rel=\"next\"";
  g_autofree char *inner = NULL;
  guint64 cursor;

  if (!em_rest_query_parse (form, EM_REST_QUERY_FILTERS | EM_REST_QUERY_PAGING, 100, 1000,
                            &query, &error))
    {
      em_fuzz_assert_error (error);
      return;
    }
  g_assert_cmpuint (query.limit, >=, 1);
  g_assert_cmpuint (query.limit, <=, 1000);
  g_assert_true ((query.statuses >> EM_TASK_STATUS_N_STATUSES) == 0);
  if (query.since != NULL)
    check_time (g_hash_table_lookup (form, "since"));

  /* the serial of a page's last task: the page's own cursor will do */
  cursor = query.after > 0 ? query.after : 1;
  link = em_rest_query_next_link (form, query.limit, cursor);
  g_assert_true (g_str_has_prefix (link, prefix) && g_str_has_suffix (link, suffix));
  inner = g_strndup (link + strlen (prefix), strlen (link) - strlen (prefix) - strlen (suffix));
  again = soup_form_decode (inner);
  if (!em_rest_query_parse (again, EM_REST_QUERY_FILTERS | EM_REST_QUERY_PAGING, 100, 1000,
                            &query_again, &error))
    {
      g_printerr ("the next link “%s” of “%s” is refused: %s\n", link, text, error->message);
      abort ();
    }
  if (query_again.statuses != query.statuses ||
      g_strcmp0 (query_again.action, query.action) != 0 ||
      (query.since == NULL) != (query_again.since == NULL) ||
      (query.since != NULL && !g_date_time_equal (query.since, query_again.since)) ||
      (query.until == NULL) != (query_again.until == NULL) ||
      (query.until != NULL && !g_date_time_equal (query.until, query_again.until)) ||
      query_again.limit != query.limit || query_again.after != cursor ||
      query_again.offset != 0)
    {
      g_printerr ("the next link “%s” of “%s” changed the query\n", link, text);
      abort ();
    }
}
#endif

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);

  check_time (text);
  read_query (text);
#ifdef HAVE_EM_REST_QUERY
  check_rest_query (text);
  read_rest_query (text);
#endif
  return 0;
}
