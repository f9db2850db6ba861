#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/em-enum-types.h"
#include "engine/em-json-variant.h"
#include "engine/em-json-writer.h"
#include "engine/em-task-private.h"
#include "engine/em-task-spec.h"
#include "engine/em-error.h"
#include "engine/em-time.h"
#include "engine/em-uuid.h"

static JsonObject *
object_from_string (const char *text)
{
  g_autoptr(JsonNode) node = json_from_string (text, NULL);

  g_assert_nonnull (node);
  return json_object_ref (json_node_get_object (node));
}

static void
test_new_task_fields (void)
{
  g_autoptr(JsonObject) params = object_from_string ("{\"exposure\": 10}");
  g_autoptr(EmTask) task = em_task_new (1, "snap", "capture_image", params);
  g_autoptr(EmTask) other = em_task_new (2, "snap", "capture_image", NULL);

  g_assert_true (g_uuid_string_is_valid (em_task_get_id (task)));
  g_assert_cmpstr (em_task_get_id (task), !=, em_task_get_id (other));
  g_assert_cmpstr (em_task_get_name (task), ==, "snap");
  g_assert_cmpstr (em_task_get_action (task), ==, "capture_image");
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  g_assert_nonnull (em_task_get_created_at (task));
  g_assert_null (em_task_get_started_at (task));
  g_assert_null (em_task_get_completed_at (task));
  g_assert_null (em_task_get_result (task));
  g_assert_null (em_task_get_error (task));
  g_assert_null (em_task_get_parameters (other));
}

static void
count_notify (GObject *object, GParamSpec *pspec, GPtrArray *names)
{
  g_ptr_array_add (names, g_strdup (pspec->name));
}

static void
test_transitions_notify (void)
{
  g_autoptr(EmTask) task = em_task_new (1, "move", "move_stage", NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonObject) result = object_from_string ("{\"x\": 1.5}");

  g_signal_connect (task, "notify", G_CALLBACK (count_notify), names);

  em_task_mark_running (task);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_RUNNING);
  g_assert_nonnull (em_task_get_started_at (task));
  g_assert_true (g_ptr_array_find_with_equal_func (names, "status", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (names, "started-at", g_str_equal, NULL));

  g_ptr_array_set_size (names, 0);
  em_task_set_progress (task, 0.5);
  g_assert_cmpuint (names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (names, 0), ==, "progress");
  em_task_set_progress (task, 0.5);
  g_assert_cmpuint (names->len, ==, 1);

  g_ptr_array_set_size (names, 0);
  em_task_mark_completed (task, result);
  g_assert_true (em_task_is_finished (task));
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_nonnull (em_task_get_completed_at (task));
  g_assert_cmpfloat (em_task_get_progress (task), ==, 1.0);
  g_assert_true (g_ptr_array_find_with_equal_func (names, "result", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (names, "completed-at", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (names, "status", g_str_equal, NULL));
}

static void
test_failed_and_cancelled (void)
{
  g_autoptr(EmTask) failed = em_task_new (1, "a", "wait", NULL);
  g_autoptr(EmTask) cancelled = em_task_new (2, "b", "wait", NULL);

  em_task_mark_running (failed);
  em_task_mark_failed (failed, "the stage is stuck");
  g_assert_cmpint (em_task_get_status (failed), ==, EM_TASK_STATUS_FAILED);
  g_assert_cmpstr (em_task_get_error (failed), ==, "the stage is stuck");

  em_task_mark_cancelled (cancelled);
  g_assert_cmpint (em_task_get_status (cancelled), ==, EM_TASK_STATUS_CANCELLED);
  g_assert_null (em_task_get_started_at (cancelled));
  g_assert_nonnull (em_task_get_completed_at (cancelled));
}

/* a stored task that is run again (restored while running, say) comes with
 * the result or error of its earlier end: the new one replaces it */
static void
test_rerun_replaces_end (void)
{
  g_autoptr(JsonObject) stored = object_from_string (
    "{\"id\": \"6f1c0000-0000-4000-8000-000000000001\", \"name\": \"again\", "
    "\"action\": \"wait\", \"status\": \"pending\", \"result\": {\"old\": 1}, "
    "\"error\": \"the earlier run failed\"}");
  g_autoptr(JsonObject) result = object_from_string ("{\"new\": 2}");
  g_autoptr(EmTask) failed = em_task_new_from_json (1, stored, NULL);
  g_autoptr(EmTask) completed = em_task_new_from_json (2, stored, NULL);

  g_assert_nonnull (failed);
  g_assert_cmpstr (em_task_get_error (failed), ==, "the earlier run failed");
  em_task_mark_running (failed);
  em_task_mark_failed (failed, "the stage is stuck");
  g_assert_cmpstr (em_task_get_error (failed), ==, "the stage is stuck");

  g_assert_nonnull (completed);
  em_task_mark_running (completed);
  em_task_mark_completed (completed, result);
  g_assert_true (em_task_get_result (completed) == result);
}

static void
test_json_form (void)
{
  g_autoptr(JsonObject) params = object_from_string ("{\"exposure\": 10, \"format\": \"png\"}");
  g_autoptr(EmTask) task = em_task_new (1, "snap", "capture_image", params);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GRegex) rfc3339 = g_regex_new ("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z$", 0, 0, NULL);
  JsonObject *object;
  const char *keys[] = { "id", "name", "action", "parameters", "status", "result", "error",
                         "created_at", "started_at", "completed_at" };

  node = em_task_to_json (task);
  object = json_node_get_object (node);
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    g_assert_true (json_object_has_member (object, keys[i]));

  g_assert_cmpstr (json_object_get_string_member (object, "id"), ==, em_task_get_id (task));
  g_assert_cmpstr (json_object_get_string_member (object, "status"), ==, "pending");
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (object, "parameters"), "exposure"), ==, 10);
  g_assert_true (json_object_get_null_member (object, "result"));
  g_assert_true (json_object_get_null_member (object, "error"));
  g_assert_true (json_object_get_null_member (object, "started_at"));
  g_assert_true (g_regex_match (rfc3339, json_object_get_string_member (object, "created_at"), 0, NULL));

  em_task_mark_running (task);
  em_task_mark_failed (task, "no light");
  g_clear_pointer (&node, json_node_unref);
  node = em_task_to_json (task);
  object = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (object, "status"), ==, "failed");
  g_assert_cmpstr (json_object_get_string_member (object, "error"), ==, "no light");
  g_assert_true (g_regex_match (rfc3339, json_object_get_string_member (object, "completed_at"), 0, NULL));
}

static void
assert_text_matches_tree (EmTask *task)
{
  g_autoptr(JsonNode) node = em_task_to_json (task);
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autofree char *text = em_task_to_json_string (task);
  g_autoptr(JsonNode) reread = NULL;

  em_json_write_node (expected, node);
  g_assert_cmpstr (text, ==, expected->str);
  reread = json_from_string (text, NULL);
  g_assert_true (json_node_equal (reread, node));
}

/* the text form every response and store row uses is the tree's, in each state */
static void
test_json_text_form (void)
{
  g_autoptr(JsonObject) params = object_from_string ("{\"exposure\": 10, \"gain\": 1.5, \"tags\": [\"a\", null], \"note\": \"µm \\\"x\\\"\\n\"}");
  g_autoptr(JsonObject) result = object_from_string ("{\"path\": \"/tmp/a.png\", \"focus\": {\"z\": -12.25}}");
  g_autoptr(EmTask) task = em_task_new (7, "snap \"one\"", "capture_image", params);
  g_autoptr(EmTask) failing = em_task_new (8, "fail", "wait", NULL);
  const char *depends[] = { "a-1", "b-2", NULL };
  const char *devices[] = { "camera", NULL };

  assert_text_matches_tree (task);
  em_task_set_schedule (task, -3, depends, 2, 0.25, 30, "batch-1");
  em_task_set_waiting_on (task, depends);
  em_task_set_waiting_for (task, devices);
  assert_text_matches_tree (task);
  em_task_mark_running (task);
  em_task_set_progress (task, 0.3);
  assert_text_matches_tree (task);
  em_task_mark_completed (task, result);
  assert_text_matches_tree (task);

  em_task_mark_running (failing);
  em_task_mark_failed (failing, "no light\tat all");
  assert_text_matches_tree (failing);
}

/* a snapshot is a copy: it writes the task as it was, on any thread, and
 * the task can change or go meanwhile */
static gpointer
write_snapshot_thread (gpointer data)
{
  GString *out = g_string_new (NULL);

  em_task_snapshot_write_json (data, out);
  return g_string_free (out, FALSE);
}

static char *
write_snapshot_elsewhere (EmTaskSnapshot *snapshot)
{
  return g_thread_join (g_thread_new ("snapshot", write_snapshot_thread, snapshot));
}

static void
test_snapshot (void)
{
  g_autoptr(JsonObject) params = object_from_string ("{\"exposure\": 10, \"note\": \"µm\"}");
  g_autoptr(JsonObject) result = object_from_string ("{\"path\": \"/tmp/a.png\"}");
  g_autoptr(EmArena) arena = em_arena_new ();
  EmTask *task = em_task_new (7, "snap", "capture_image", params);
  const char *depends[] = { "a-1", "b-2", NULL };
  const char *devices[] = { "camera", NULL };
  g_autofree char *pending_text = em_task_to_json_string (task);
  EmTaskSnapshot *pending = em_task_snapshot_new (task, arena);
  g_autofree char *running_text = NULL, *completed_text = NULL;
  g_autofree char *pending_written = NULL, *running_written = NULL, *completed_written = NULL;
  EmTaskSnapshot *running, *completed;
  GDateTime *created = em_task_get_created_at (task);

  em_task_set_schedule (task, -3, depends, 2, 0.25, 30, "batch-1");
  em_task_set_waiting_on (task, depends);
  em_task_set_waiting_for (task, devices);
  em_task_mark_running (task);
  running_text = em_task_to_json_string (task);
  running = em_task_snapshot_new (task, arena);
  em_task_mark_completed (task, result);
  completed_text = em_task_to_json_string (task);
  completed = em_task_snapshot_new (task, arena);
  g_assert_cmpint (completed->created_us, ==,
                   g_date_time_to_unix (created) * G_USEC_PER_SEC + g_date_time_get_microsecond (created));
  g_assert_cmpint (pending->started_us, ==, EM_TASK_NO_TIME);
  g_object_unref (task);

  pending_written = write_snapshot_elsewhere (pending);
  running_written = write_snapshot_elsewhere (running);
  completed_written = write_snapshot_elsewhere (completed);
  g_assert_cmpstr (pending_written, ==, pending_text);
  g_assert_cmpstr (running_written, ==, running_text);
  g_assert_cmpstr (completed_written, ==, completed_text);
  g_assert_nonnull (strstr (running_written, "\"waiting_for\":[\"camera\"]"));
  g_assert_nonnull (strstr (running_written, "\"batch\":\"batch-1\""));
  g_assert_nonnull (strstr (completed_written, "\"result\":{\"path\":\"/tmp/a.png\"}"));
}

static void
test_variant_form (void)
{
  g_autoptr(JsonObject) params = object_from_string ("{\"x\": 10, \"y\": 2.5, \"relative\": true, \"tags\": [1, \"a\"]}");
  g_autoptr(JsonObject) result = object_from_string ("{\"position\": {\"x\": 1.0}}");
  g_autoptr(EmTask) task = em_task_new (1, "move", "move_stage", params);
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(GVariant) parameters = NULL;
  g_autoptr(GVariant) tags = NULL;
  g_autoptr(GVariant) res = NULL;
  g_autoptr(GVariantDict) lookup = NULL;
  const char *text;
  gint64 x;
  gdouble y;
  gboolean relative;

  em_task_mark_running (task);
  em_task_mark_completed (task, result);
  dict = em_task_to_variant (task);
  g_assert_true (g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT));

  lookup = g_variant_dict_new (dict);
  g_assert_true (g_variant_dict_lookup (lookup, "id", "&s", &text));
  g_assert_cmpstr (text, ==, em_task_get_id (task));
  g_assert_true (g_variant_dict_lookup (lookup, "status", "&s", &text));
  g_assert_cmpstr (text, ==, "completed");
  g_assert_true (g_variant_dict_lookup (lookup, "started_at", "&s", &text));
  /* null has no D-Bus form: the key is left out */
  g_assert_false (g_variant_dict_contains (lookup, "error"));

  parameters = g_variant_dict_lookup_value (lookup, "parameters", G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (parameters);
  g_assert_true (g_variant_lookup (parameters, "x", "x", &x));
  g_assert_cmpint (x, ==, 10);
  g_assert_true (g_variant_lookup (parameters, "y", "d", &y));
  g_assert_cmpfloat (y, ==, 2.5);
  g_assert_true (g_variant_lookup (parameters, "relative", "b", &relative));
  g_assert_true (relative);
  tags = g_variant_lookup_value (parameters, "tags", G_VARIANT_TYPE ("av"));
  g_assert_nonnull (tags);
  g_assert_cmpuint (g_variant_n_children (tags), ==, 2);

  res = g_variant_dict_lookup_value (lookup, "result", G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (res);
}

static void
test_variant_round_trip (void)
{
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GVariant) back = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "exposure", g_variant_new_double (12.5));
  g_variant_builder_add (&builder, "{sv}", "count", g_variant_new_uint32 (3));
  g_variant_builder_add (&builder, "{sv}", "format", g_variant_new_string ("tiff"));
  dict = g_variant_ref_sink (g_variant_builder_end (&builder));

  object = em_variant_to_json_object (dict, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (json_object_get_double_member (object, "exposure"), ==, 12.5);
  g_assert_cmpint (json_object_get_int_member (object, "count"), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (object, "format"), ==, "tiff");

  back = g_variant_ref_sink (em_json_object_to_variant (object));
  g_assert_cmpuint (g_variant_n_children (back), ==, 3);
}

static void
test_variant_refuses_unmappable (void)
{
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "where", g_variant_new_object_path ("/a/b"));
  dict = g_variant_ref_sink (g_variant_builder_end (&builder));

  object = em_variant_to_json_object (dict, &error);
  g_assert_null (object);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "where"));
}

/* a{ss} and the like are as plain a JSON object as a{sv}; an entry of one
 * was refused as "key[0]: a value of D-Bus type “{ss}”" */
static void
test_variant_string_keyed_dicts (void)
{
  g_autoptr(GVariant) dict = g_variant_ref_sink (g_variant_new_parsed (
    "{'labels': <{'a': 'x', 'b': 'y'}>, 'counts': <[{'n': int64 2}]>, 'empty': <@a{sd} {}>}"));
  g_autoptr(GVariant) bad = g_variant_ref_sink (g_variant_new_parsed (
    "{'where': <{'at': objectpath '/a'}>}"));
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *labels;
  JsonArray *counts;

  object = em_variant_to_json_object (dict, &error);
  g_assert_no_error (error);
  labels = json_object_get_object_member (object, "labels");
  g_assert_nonnull (labels);
  g_assert_cmpstr (json_object_get_string_member (labels, "a"), ==, "x");
  g_assert_cmpstr (json_object_get_string_member (labels, "b"), ==, "y");
  counts = json_object_get_array_member (object, "counts");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (counts, 0), "n"),
                   ==, 2);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (object, "empty")), ==, 0);

  /* a key inside one is named by its path, as inside a{sv} */
  g_clear_pointer (&object, json_object_unref);
  object = em_variant_to_json_object (bad, &error);
  g_assert_null (object);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (error->message, "where.at: "));
}

/* the refusal a{sv} text @text gets, or NULL when it converts */
static char *
variant_refusal (const char *text)
{
  g_autoptr(GVariant) dict = g_variant_ref_sink (g_variant_new_parsed (text));
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = em_variant_to_json_object (dict, &error);

  if (object != NULL)
    return NULL;
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  return g_strdup (error->message);
}

/* an entry of a dictionary with keys other than strings is named by its key
 * in braces after the path, as a caller wrote it: integers in decimal,
 * anything else in GVariant text; it was named "x[0]", as an array item */
static void
test_variant_key_forms (void)
{
  static const struct {
    const char *dict;
    const char *message;
  } cases[] = {
    { "{'duration': <{3: <'a'>}>}",
      "duration{3}: a dictionary with keys of D-Bus type “i” has no JSON form; "
      "JSON object keys are strings" },
    { "{'d': <{int64 -5: 1}>}", "d{-5}: a dictionary with keys of D-Bus type “x”" },
    { "{'d': <{uint64 18446744073709551615: 1}>}",
      "d{18446744073709551615}: a dictionary with keys of D-Bus type “t”" },
    { "{'d': <{byte 7: 'a', byte 9: 'b'}>}", "d{7}: a dictionary with keys of D-Bus type “y”" },
    { "{'d': <{int16 -3: 1}>}", "d{-3}: a dictionary with keys of D-Bus type “n”" },
    { "{'d': <{uint16 3: 1}>}", "d{3}: a dictionary with keys of D-Bus type “q”" },
    { "{'d': <{uint32 4000000000: 1}>}", "d{4000000000}: a dictionary with keys of D-Bus type “u”" },
    { "{'d': <{objectpath '/a/b': 1}>}", "d{'/a/b'}: a dictionary with keys of D-Bus type “o”" },
    { "{'d': <{true: 1}>}", "d{true}: a dictionary with keys of D-Bus type “b”" },
    { "{'d': <{1.5: 1}>}", "d{1.5}: a dictionary with keys of D-Bus type “d”" },
    /* nested: under the path of any other refusal */
    { "{'a': <{'b': <[<1>, <{3: 'x'}>]>}>}", "a.b[1]{3}: a dictionary with keys of D-Bus type “i”" },
    { "{'a': <[{byte 1: 'x'}]>}", "a[0]{1}: a dictionary with keys of D-Bus type “y”" },
    { "{'a': <{'b': {7: <{'c': 1}>}}>}", "a.b{7}: a dictionary with keys of D-Bus type “i”" },
    /* the first refusal in order, whatever it is */
    { "{'a': <objectpath '/a'>, 'b': <{3: 'x'}>}", "a: a value of D-Bus type “o” has no JSON form" },
    { "{'a': <{3: 'x'}>, 'b': <objectpath '/a'>}", "a{3}: " },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *message = variant_refusal (cases[i].dict);

      g_test_message ("%s", cases[i].dict);
      g_assert_nonnull (message);
      g_assert_true (g_str_has_prefix (message, cases[i].message));
    }
}

/* a long key of another type is clipped as a long string key is */
static void
test_variant_key_clipped (void)
{
  g_autofree char *long_path = g_strnfill (5000, 'p');
  g_autofree char *text = g_strdup_printf ("{'d': <{objectpath '/%s': 1}>}", long_path);
  g_autofree char *message = variant_refusal (text);

  g_assert_nonnull (message);
  g_assert_true (g_str_has_prefix (message, "d{'/ppppp"));
  g_assert_cmpuint (strlen (message), <, 400);
}

/* string keys, whatever the value type, still make a JSON object, also
 * inside an array and under another object */
static void
test_variant_string_keys_stay_objects (void)
{
  g_autoptr(GVariant) dict = g_variant_ref_sink (g_variant_new_parsed (
    "{'a': <[{'x': int64 1}, {'y': int64 2}]>, 'b': <{'c': <{'d': 'e'}>}>}"));
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = em_variant_to_json_object (dict, &error);
  JsonArray *a;
  JsonObject *c;

  g_assert_no_error (error);
  a = json_object_get_array_member (object, "a");
  g_assert_cmpuint (json_array_get_length (a), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (a, 1), "y"), ==, 2);
  c = json_object_get_object_member (json_object_get_object_member (object, "b"), "c");
  g_assert_cmpstr (json_object_get_string_member (c, "d"), ==, "e");
}

/* an empty container is refused by its type as a full one is: an empty
 * a{is} or ao was taken as [] and an empty a{so} as {}, while a full one
 * was refused */
static void
test_variant_empty_by_type (void)
{
  static const struct {
    const char *dict;
    const char *message;
  } refused[] = {
    { "{'d': <@a{is} {}>}", "d: a value of D-Bus type “a{is}” has no JSON form" },
    { "{'d': <@ao []>}", "d: a value of D-Bus type “ao” has no JSON form" },
    { "{'d': <@a{so} {}>}", "d: a value of D-Bus type “a{so}” has no JSON form" },
    { "{'d': <@a(ii) []>}", "d: a value of D-Bus type “a(ii)” has no JSON form" },
    { "{'d': <@aag [[]]>}", "d[0]: a value of D-Bus type “ag” has no JSON form" },
    { "{'d': <@ah []>}", "d: a value of D-Bus type “ah” has no JSON form" },
    { "{'d': <()>}", "d: a value of D-Bus type “()” has no JSON form" },
  };
  static const char * const accepted[] = {
    "{'d': <@av []>}", "{'d': <@a{sv} {}>}", "{'d': <@aas []>}", "{'d': <@a{sa{sx}} {}>}",
    "{'d': <@aav [[]]>}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree char *message = variant_refusal (refused[i].dict);

      g_test_message ("%s", refused[i].dict);
      g_assert_cmpstr (message, ==, refused[i].message);
    }
  for (guint i = 0; i < G_N_ELEMENTS (accepted); i++)
    {
      g_autofree char *message = variant_refusal (accepted[i]);

      g_test_message ("%s", accepted[i]);
      g_assert_cmpstr (message, ==, NULL);
    }
}

/* maybe, handle and other types with no JSON form are refused by name; a
 * double that is not finite as such */
static void
test_variant_other_types (void)
{
  static const struct {
    const char *dict;
    const char *message;
  } cases[] = {
    { "{'d': <just 'x'>}", "d: a value of D-Bus type “ms” has no JSON form" },
    { "{'d': <@ms nothing>}", "d: a value of D-Bus type “ms” has no JSON form" },
    { "{'d': <handle 3>}", "d: a value of D-Bus type “h” has no JSON form" },
    { "{'d': <signature 'x'>}", "d: a value of D-Bus type “g” has no JSON form" },
    { "{'d': <(1, 'a')>}", "d: a value of D-Bus type “(is)” has no JSON form" },
    { "{'d': <[<inf>]>}", "d[0]: inf is not a finite number" },
    { "{'d': <{'e': <-inf>}>}", "d.e: -inf is not a finite number" },
    { "{'d': <{'e': nan}>}", "d.e: nan is not a finite number" },
    { "{'d': <[uint64 1, 9223372036854775808]>}",
      "d[1]: 9223372036854775808 is out of range; integers go up to 9223372036854775807" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *message = variant_refusal (cases[i].dict);

      g_test_message ("%s", cases[i].dict);
      g_assert_cmpstr (message, ==, cases[i].message);
    }
}

/* as deep as a REST body may nest, and no deeper: over the bus GDBus refuses
 * such a message first, but a value built in-process has no bound of its own */
static void
test_variant_depth (void)
{
  for (guint depth = 63; depth <= 66; depth++)
    {
      GVariant *value = g_variant_new_int32 (1);
      g_autoptr(GVariant) dict = NULL;
      g_autoptr(JsonObject) object = NULL;
      g_autoptr(GError) error = NULL;

      /* the dictionary itself is one level, as a JSON body's object is */
      for (guint i = 1; i < depth; i++)
        value = g_variant_new_array (G_VARIANT_TYPE_VARIANT,
                                     (GVariant *[]) { g_variant_new_variant (value) }, 1);
      dict = g_variant_ref_sink (g_variant_new_parsed ("{'d': %v}", value));
      object = em_variant_to_json_object (dict, &error);
      g_test_message ("%u levels", depth);
      if (depth <= 64)
        {
          g_assert_no_error (error);
          g_assert_nonnull (object);
        }
      else
        {
          g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
          g_assert_true (g_str_has_prefix (error->message, "d[0][0]"));
          g_assert_true (g_str_has_suffix (error->message, ": nested deeper than 64 levels"));
        }
    }
}

/* a variant holding a variant counts as a level, toward the same limit: a
 * chain of them built in-process recursed without bound. One variant around
 * a value is none, as a{sv} holds every member in one */
static void
test_variant_in_variant_depth (void)
{
  for (guint depth = 63; depth <= 66; depth++)
    {
      GVariant *value = g_variant_new_int32 (1);
      g_autoptr(GVariant) dict = NULL;
      g_autoptr(JsonObject) object = NULL;
      g_autoptr(GError) error = NULL;

      /* the dictionary is one level, and each variant in a variant one more */
      for (guint i = 1; i < depth; i++)
        value = g_variant_new_variant (value);
      dict = g_variant_ref_sink (g_variant_new_parsed ("{'d': %v}", value));
      object = em_variant_to_json_object (dict, &error);
      g_test_message ("%u levels", depth);
      if (depth <= 64)
        {
          g_assert_no_error (error);
          g_assert_nonnull (object);
          g_assert_cmpint (json_object_get_int_member (object, "d"), ==, 1);
        }
      else
        {
          g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
          g_assert_cmpstr (error->message, ==, "d: nested deeper than 64 levels");
        }
    }

  /* nor does a chain far deeper exhaust the stack, alone or inside arrays */
  {
    GVariant *value = g_variant_new_int32 (1);
    g_autoptr(GVariant) owned = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 10000; i++)
      value = g_variant_new_variant (value);
    owned = g_variant_ref_sink (value);
    node = em_variant_to_json_node (owned, "v", &error);
    g_assert_null (node);
    g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr (error->message, ==, "v: nested deeper than 64 levels");
  }
  {
    GVariant *value = g_variant_new_int32 (1);
    g_autoptr(GVariant) owned = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 40; i++)
      value = g_variant_new_array (G_VARIANT_TYPE_VARIANT,
                                   (GVariant *[]) { g_variant_new_variant (g_variant_new_variant (value)) }, 1);
    owned = g_variant_ref_sink (value);
    node = em_variant_to_json_node (owned, "a", &error);
    g_assert_null (node);
    g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
    g_assert_true (g_str_has_suffix (error->message, ": nested deeper than 64 levels"));
  }
}

/* a long array converts, and its items are named by index */
static void
test_variant_huge_array (void)
{
  gsize n = 1024 * 1024;
  g_autofree guchar *bytes = g_malloc0 (n);
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  GVariantBuilder builder;

  bytes[n - 1] = 7;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "data",
                         g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes, n, 1));
  dict = g_variant_ref_sink (g_variant_builder_end (&builder));
  object = em_variant_to_json_object (dict, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (object, "data")), ==, n);
  g_assert_cmpint (json_array_get_int_element (json_object_get_array_member (object, "data"), n - 1),
                   ==, 7);

  message = variant_refusal ("{'data': <[<1>, <2>, <3>, <4>, <5>, <6>, <7>, <8>, <9>, <10>, <11.0>, <objectpath '/'>]>}");
  g_assert_cmpstr (message, ==, "data[11]: a value of D-Bus type “o” has no JSON form");
}

static void
test_status_strings (void)
{
  EmTaskStatus status;
  g_autoptr(GEnumClass) klass = g_type_class_ref (EM_TYPE_TASK_STATUS);

  for (guint i = 0; i < EM_TASK_STATUS_N_STATUSES; i++)
    {
      g_assert_true (em_task_status_from_string (em_task_status_to_string (i), &status));
      g_assert_cmpint (status, ==, i);
      /* the registered GEnum nicks are the wire names */
      g_assert_cmpstr (g_enum_get_value (klass, i)->value_nick, ==, em_task_status_to_string (i));
    }
  g_assert_false (em_task_status_from_string ("done", &status));
  g_assert_false (em_task_status_from_string (NULL, &status));
}

static void
test_time_format (void)
{
  g_autoptr(GTimeZone) tz = g_time_zone_new_identifier ("+02:00");
  g_autoptr(GDateTime) local = g_date_time_new (tz, 2026, 1, 1, 14, 0, 0.123456);
  g_autofree char *text = em_time_format (local);
  g_autoptr(GDateTime) parsed = em_time_parse (text);

  g_assert_cmpstr (text, ==, "2026-01-01T12:00:00.123456Z");
  g_assert_nonnull (parsed);
  g_assert_true (g_date_time_equal (parsed, local));
  g_assert_null (em_time_parse ("2026-01-01T12:00:00"));
  g_assert_null (em_time_parse ("yesterday"));
}

/* RFC 3339's date-time, and none of the rest of ISO 8601 */
static void
test_time_parse_rfc3339 (void)
{
  static const char * const accepted[] = {
    "2026-01-01T12:00:00Z", "2026-01-01T12:00:00.5Z", "2026-01-01T12:00:00.123456789Z",
    "2026-01-01T14:00:00+02:00", "2026-01-01T07:30:00-04:30", "2026-01-01t12:00:00z",
    "2026-01-01 12:00:00Z",
  };
  static const char * const refused[] = {
    "20260101T120000Z", "2026-01-01T120000Z", "2026-001T12:00:00Z", "2026-W01-4T12:00:00Z",
    "2026-01-01T12:00:00+02", "2026-01-01T12:00:00+0200", "2026-01-01T12:00:00,5Z",
    "2026-01-01T12:00Z", "2026-01-01T12Z", "2026-01-01", "2026-01-01T12:00:00.Z",
    "2026-01-01T12:00:00Z ", " 2026-01-01T12:00:00Z", "+2026-01-01T12:00:00Z",
    "2026-13-01T12:00:00Z", "2026-02-30T12:00:00Z", "2026-01-01T24:00:00Z", "",
    "2026-01-01T12:00:61Z", "2026-01-01T12:00:99Z", "2026-01-01T12:00:00+24:00",
    "2026-01-01T12:00:00-24:00", "2026-01-01T12:00:00+23:60",
  };
  g_autoptr(GDateTime) leap = em_time_parse ("2016-12-31T23:59:60Z");

  for (guint i = 0; i < G_N_ELEMENTS (accepted); i++)
    {
      g_autoptr(GDateTime) time = em_time_parse (accepted[i]);
      g_autofree char *text = NULL;

      if (time == NULL)
        g_error ("“%s” is RFC 3339 but was refused", accepted[i]);
      /* each names noon UTC */
      text = em_time_format (time);
      g_assert_true (g_str_has_prefix (text, "2026-01-01T12:00:00."));
    }
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GDateTime) time = em_time_parse (refused[i]);

      if (time != NULL)
        g_error ("“%s” is not RFC 3339 but was accepted", refused[i]);
    }
  /* a leap second is RFC 3339's; GLib reads it as second 59 */
  g_assert_nonnull (leap);
  g_assert_cmpint (g_date_time_get_second (leap), ==, 59);
}

/* digits past the microsecond are kept, as the next microsecond: "since" is
 * inclusive and "until" exclusive on times stamped in whole microseconds */
static void
test_time_parse_fraction (void)
{
  static const struct { const char *text, *parsed; } cases[] = {
    { "2026-01-01T12:00:00Z", "2026-01-01T12:00:00.000000Z" },
    { "2026-01-01T12:00:00.5Z", "2026-01-01T12:00:00.500000Z" },
    { "2026-01-01T12:00:00.123456Z", "2026-01-01T12:00:00.123456Z" },
    { "2026-01-01T12:00:00.1234560000Z", "2026-01-01T12:00:00.123456Z" },
    { "2026-01-01T12:00:00.1234561Z", "2026-01-01T12:00:00.123457Z" },
    { "2026-01-01T12:00:07.123456999999999Z", "2026-01-01T12:00:07.123457Z" },
    { "2026-01-01T12:00:00.9999991Z", "2026-01-01T12:00:01.000000Z" },
    { "2026-01-01T14:00:00.0000001+02:00", "2026-01-01T12:00:00.000001Z" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GDateTime) time = em_time_parse (cases[i].text);
      g_autofree char *text = em_time_format (time);

      g_assert_cmpstr (text, ==, cases[i].parsed);
    }
}

/* the writer's printf-free times and integers agree with em_time_format()
 * and printf over the whole range, across days, leap years and offsets */
static void
test_json_writer_times_and_integers (void)
{
  g_autoptr(GTimeZone) east = g_time_zone_new_identifier ("+05:30");
  g_autoptr(GTimeZone) west = g_time_zone_new_identifier ("-11:00");
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  static const gint64 integers[] = { 0, 1, -1, 9, 10, -10, 4294967295, G_MAXINT64, G_MININT64 };
  struct { gint year, month, day, hour, minute; gdouble seconds; } fixed[] = {
    { 1, 1, 1, 0, 0, 0 }, { 1969, 12, 31, 23, 59, 59.999999 }, { 1970, 1, 1, 0, 0, 0 },
    { 2000, 2, 29, 12, 30, 1.5 }, { 2100, 3, 1, 0, 0, 0.000001 }, { 1600, 2, 29, 6, 7, 8 },
    { 9999, 12, 31, 23, 59, 59.999999 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (fixed) + 2000; i++)
    {
      g_autoptr(GDateTime) time = NULL;
      g_autofree char *expected = NULL;
      g_autofree char *written = NULL;

      if (i < G_N_ELEMENTS (fixed))
        time = g_date_time_new_utc (fixed[i].year, fixed[i].month, fixed[i].day,
                                    fixed[i].hour, fixed[i].minute, fixed[i].seconds);
      else
        time = g_date_time_new (i % 3 == 0 ? east : west, g_rand_int_range (rand, 2, 9999),
                                g_rand_int_range (rand, 1, 13), g_rand_int_range (rand, 1, 29),
                                g_rand_int_range (rand, 0, 24), g_rand_int_range (rand, 0, 60),
                                g_rand_int_range (rand, 0, 60000000) / 1e6);
      g_assert_nonnull (time);
      expected = em_time_format (time);
      written = em_json_format_time (time);
      g_assert_cmpstr (written, ==, expected);
    }

  for (guint i = 0; i < G_N_ELEMENTS (integers); i++)
    {
      g_autoptr(GString) written = g_string_new (NULL);
      g_autofree char *expected = g_strdup_printf ("%" G_GINT64_FORMAT, integers[i]);

      em_json_write_int64 (written, integers[i]);
      g_assert_cmpstr (written->str, ==, expected);
      g_string_truncate (written, 0);
      g_free (expected);
      expected = g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) integers[i]);
      em_json_write_uint64 (written, (guint64) integers[i]);
      g_assert_cmpstr (written->str, ==, expected);
    }
}

/* ids are version 4 UUIDs, each different */
static void
test_uuid (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 10000; i++)
    {
      char *id = em_uuid_string_random ();

      g_assert_true (g_uuid_string_is_valid (id));
      g_assert_cmpint (id[14], ==, '4');
      g_assert_nonnull (strchr ("89ab", id[19]));
      for (const char *c = id; *c != '\0'; c++)
        g_assert_false (g_ascii_isupper (*c));
      g_assert_true (g_hash_table_add (seen, id));
    }
}

static void
test_spec_from_json (void)
{
  struct {
    const char *body;
    const char *field;
  } bad[] = {
    { "[1]", "object" },
    { "{\"name\": 1, \"action\": \"wait\"}", "name" },
    { "{\"name\": \"a\", \"action\": true}", "action" },
    { "{\"name\": \"a\", \"action\": \"wait\", \"parameters\": [1]}", "parameters" },
    { "{\"name\": \"a\", \"action\": \"wait\", \"colour\": \"red\"}", "colour" },
    /* a value just past its bound is quoted in full, not as the bound */
    { "{\"name\": \"a\", \"action\": \"wait\", \"retry_delay\": 600.000001}",
      "retry_delay must be between 0 and 600, got 600.000001" },
    { "{\"name\": \"a\", \"action\": \"wait\", \"delay\": 31622401}",
      "delay must be between 0 and 31622400, got 31622401" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(JsonNode) node = json_from_string (bad[i].body, NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(EmTaskSpec) spec = em_task_spec_from_json (node, &error);

      g_assert_null (spec);
      g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, bad[i].field));
    }

  {
    g_autoptr(JsonNode) node = json_from_string ("{\"name\": \"a\", \"action\": \"wait\", \"parameters\": null}", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(EmTaskSpec) spec = em_task_spec_from_json (node, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (spec->name, ==, "a");
    g_assert_cmpstr (spec->action, ==, "wait");
    g_assert_null (spec->parameters);
  }
}

/* the direct writer produces the generator's text, byte for byte, except
 * where the generator's text is not JSON: it writes 1e-300 as "1e-300.0"
 * and U+001F unescaped */
static void
test_json_writer_matches_generator (void)
{
  /* @exact: json-glib writes the same text; where not, only doubles differ,
   * which json-glib writes with 17 digits */
  static const struct { const char *json; gboolean exact; } documents[] = {
    { "{}", TRUE },
    { "{\"duration\": 0, \"neg\": -9223372036854775807, \"d\": 0.5, \"whole\": 2.0}", TRUE },
    { "{\"tiny\": 1e-300, \"big\": 1.7976931348623157e308, \"third\": 0.3333333333333333}", FALSE },
    { "{\"t\": true, \"f\": false, \"n\": null, \"empty\": \"\", \"a\": []}", TRUE },
    { "{\"text\": \"quote \\\" back \\\\ nl \\n tab \\t cr \\r bs \\b ff \\f ctl \\u0001 \\u001f\"}", TRUE },
    { "{\"unicode\": \"µm ✓ \\u00e9 \\ud83d\\ude00\", \"slash\": \"a/b\"}", TRUE },
    { "{\"nested\": {\"b\": [1, [2, {\"c\": [true, null, 3.25]}]], \"a\": {}}, \"z\": 1, \"y\": 2}", TRUE },
    { "{\"z\": -0.0, \"w\": 1000000000.0, \"v\": 1000000001.0, \"u\": -3.0, \"p\": 1.0, \"q\": 1e9}", TRUE },
    { "{\"edges\": \"\\nstarts and ends escaped\\t\", \"only\": \"\\\"\"}", TRUE },
    { "{\"tiles\": [{\"x\": 0.0, \"y\": -1.5e-7}, {\"x\": 1e21, \"y\": 123456789012}]}", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (documents); i++)
    {
      g_autoptr(JsonNode) node = json_from_string (documents[i].json, NULL);
      g_autofree char *expected = json_to_string (node, FALSE);
      g_autoptr(JsonNode) generated = json_from_string (expected, NULL);
      g_autoptr(GString) written = g_string_new (NULL);
      g_autoptr(JsonNode) reread = NULL;

      g_assert_nonnull (node);
      em_json_write_object (written, json_node_get_object (node));
      if (generated != NULL && strchr (expected, 0x1f) == NULL)
        {
          if (documents[i].exact)
            g_assert_cmpstr (written->str, ==, expected);
          else
            g_assert_cmpuint (written->len, <, strlen (expected));
        }
      reread = json_from_string (written->str, NULL);
      g_assert_nonnull (reread);
      g_assert_true (json_node_equal (reread, node));
    }
}

/* the pretty form is the generator's layout, except "{}" for an empty
 * object (json-glib writes "{  }") and doubles in their shortest form */
static void
test_json_writer_pretty (void)
{
  static const struct { const char *json; const char *pretty; } documents[] = {
    { "{}", "{}" },
    { "[]", "[]" },
    { "3", "3" },
    { "{\"d\": 0.3}", "{\n  \"d\" : 0.3\n}" },
    { "[{\"x\": null, \"y\": {}}]", "[\n  {\n    \"x\" : null,\n    \"y\" : {}\n  }\n]" },
  };
  static const char *const like_generator[] = {
    "{\"a\": 1, \"b\": [1, 2.5, \"s\", true], \"c\": [], \"e\": [{\"x\": null, \"y\": [[1]]}], \"f\": \"\\n\"}",
    "[[], [[]], {\"k\": {\"l\": {\"m\": -2}}}]",
  };

  for (guint i = 0; i < G_N_ELEMENTS (documents); i++)
    {
      g_autoptr(JsonNode) node = json_from_string (documents[i].json, NULL);
      g_autoptr(GString) written = g_string_new (NULL);

      em_json_write_node_pretty (written, node);
      g_assert_cmpstr (written->str, ==, documents[i].pretty);
    }
  for (guint i = 0; i < G_N_ELEMENTS (like_generator); i++)
    {
      g_autoptr(JsonNode) node = json_from_string (like_generator[i], NULL);
      g_autoptr(JsonGenerator) generator = json_generator_new ();
      g_autofree char *expected = NULL;
      g_autoptr(GString) written = g_string_new (NULL);

      json_generator_set_pretty (generator, TRUE);
      json_generator_set_root (generator, node);
      expected = json_generator_to_data (generator, NULL);
      em_json_write_node_pretty (written, node);
      g_assert_cmpstr (written->str, ==, expected);
    }
}

static char *
write_double (gdouble value)
{
  GString *out = g_string_new (NULL);

  em_json_write_double (out, value);
  return g_string_free (out, FALSE);
}

/* the fewest digits that read back as the same double, and always a double */
static void
test_json_writer_doubles (void)
{
  static const struct { gdouble value; const char *text; } cases[] = {
    { 0.3, "0.3" }, { 0.1, "0.1" }, { 0.2, "0.2" }, { 1.0 / 3.0, "0.3333333333333333" },
    { 2.0 / 3.0, "0.6666666666666666" }, { 0.1 + 0.2, "0.30000000000000004" },
    { 1e-300, "1e-300" }, { -1.5e-7, "-1.5e-07" }, { 1e21, "1e+21" },
    { 1.7976931348623157e308, "1.7976931348623157e+308" }, { 123456789012.5, "123456789012.5" },
    { 2.0, "2.0" }, { -3.0, "-3.0" }, { 1e15, "1e+15" },
    /* subnormals hold fewer digits: 15 read back, though fewer would too */
    { 5e-324, "4.94065645841247e-324" },
    /* JSON has no form for them */
    { INFINITY, "null" }, { -INFINITY, "null" }, { NAN, "null" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = write_double (cases[i].value);

      g_assert_cmpstr (text, ==, cases[i].text);
    }
  for (guint i = 0; i < 100000; i++)
    {
      /* any bit pattern that is a finite double */
      guint64 bits = ((guint64) g_test_rand_int () << 32) | (guint32) g_test_rand_int ();
      gdouble value;
      g_autofree char *text = NULL;

      memcpy (&value, &bits, sizeof value);
      if (!isfinite (value))
        continue;
      text = write_double (value);
      g_assert_true (g_ascii_strtod (text, NULL) == value);
      g_assert_nonnull (strpbrk (text, ".e"));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/task/new", test_new_task_fields);
  g_test_add_func ("/engine/task/transitions-notify", test_transitions_notify);
  g_test_add_func ("/engine/task/failed-and-cancelled", test_failed_and_cancelled);
  g_test_add_func ("/engine/task/rerun-replaces-end", test_rerun_replaces_end);
  g_test_add_func ("/engine/task/json", test_json_form);
  g_test_add_func ("/engine/task/json-text", test_json_text_form);
  g_test_add_func ("/engine/task/json-writer", test_json_writer_matches_generator);
  g_test_add_func ("/engine/task/json-writer-doubles", test_json_writer_doubles);
  g_test_add_func ("/engine/task/json-writer-pretty", test_json_writer_pretty);
  g_test_add_func ("/engine/task/snapshot", test_snapshot);
  g_test_add_func ("/engine/task/variant", test_variant_form);
  g_test_add_func ("/engine/task/variant-round-trip", test_variant_round_trip);
  g_test_add_func ("/engine/task/variant-unmappable", test_variant_refuses_unmappable);
  g_test_add_func ("/engine/task/variant-string-keyed", test_variant_string_keyed_dicts);
  g_test_add_func ("/engine/task/variant-key-forms", test_variant_key_forms);
  g_test_add_func ("/engine/task/variant-key-clipped", test_variant_key_clipped);
  g_test_add_func ("/engine/task/variant-string-keys-objects", test_variant_string_keys_stay_objects);
  g_test_add_func ("/engine/task/variant-empty-by-type", test_variant_empty_by_type);
  g_test_add_func ("/engine/task/variant-other-types", test_variant_other_types);
  g_test_add_func ("/engine/task/variant-depth", test_variant_depth);
  g_test_add_func ("/engine/task/variant-in-variant-depth", test_variant_in_variant_depth);
  g_test_add_func ("/engine/task/variant-huge-array", test_variant_huge_array);
  g_test_add_func ("/engine/task/status-strings", test_status_strings);
  g_test_add_func ("/engine/task/time-format", test_time_format);
  g_test_add_func ("/engine/task/time-parse-rfc3339", test_time_parse_rfc3339);
  g_test_add_func ("/engine/task/time-parse-fraction", test_time_parse_fraction);
  g_test_add_func ("/engine/task/json-writer-times", test_json_writer_times_and_integers);
  g_test_add_func ("/engine/task/spec-from-json", test_spec_from_json);
  g_test_add_func ("/engine/task/uuid", test_uuid);

  return g_test_run ();
}
