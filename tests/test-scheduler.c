#include "config.h"

#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "engine/em-time.h"
#include "em-test-hold-action.h"
#include "em-test-util.h"

typedef struct {
  char            *data_dir;
  EmEngineManager *manager;
  EmStage         *stage;
  GPtrArray       *events;   /* EmEvent */
} Fixture;

static void
on_event (EmEngineManager *manager, EmEvent *event, Fixture *fx)
{
  g_ptr_array_add (fx->events, em_event_ref (event));
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new ("videotestsrc is-live=true", 64, 48);
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = NULL;
  struct { const char *name; EmDeviceKind claims; gboolean safe; } holds[] = {
    { "hold_none", EM_DEVICE_KIND_NONE, TRUE },
    { "hold_camera", EM_DEVICE_KIND_CAMERA, TRUE },
    { "hold_stage", EM_DEVICE_KIND_STAGE, TRUE },
    { "hold_focus", EM_DEVICE_KIND_FOCUS, TRUE },
    { "hold_camera_stage", EM_DEVICE_KIND_CAMERA | EM_DEVICE_KIND_STAGE, TRUE },
    { "hold_all", EM_DEVICE_KIND_CAMERA | EM_DEVICE_KIND_STAGE | EM_DEVICE_KIND_FOCUS, TRUE },
    { "hold_unsafe", EM_DEVICE_KIND_NONE, FALSE },
  };

  em_test_hold_reset ();
  fx->stage = em_sim_stage_new ();
  devices = em_device_set_new (camera, fx->stage, focus);
  em_builtin_actions_register (registry);
  for (guint i = 0; i < G_N_ELEMENTS (holds); i++)
    {
      g_autoptr(EmAction) action = em_test_hold_action_new (holds[i].name, holds[i].claims, holds[i].safe);

      em_action_registry_add (registry, action);
    }
  fx->data_dir = em_test_mkdtemp ();
  fx->manager = em_engine_manager_new (registry, devices, fx->data_dir);
  fx->events = g_ptr_array_new_with_free_func ((GDestroyNotify) em_event_unref);
  g_signal_connect (fx->manager, "event", G_CALLBACK (on_event), fx);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  em_engine_manager_shutdown (fx->manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  g_clear_object (&fx->manager);
  g_clear_object (&fx->stage);
  g_ptr_array_unref (fx->events);
  em_test_rmdir (fx->data_dir);
  g_free (fx->data_dir);
}

static EmTaskSpec *
spec_from (const char *json)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  g_autoptr(GError) error = NULL;
  EmTaskSpec *spec;

  g_assert_nonnull (node);
  spec = em_task_spec_from_json (node, &error);
  g_assert_no_error (error);
  return spec;
}

static EmTask *
submit (Fixture *fx, const char *json)
{
  g_autoptr(EmTaskSpec) spec = spec_from (json);
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_schedule_task (fx->manager, spec, &error);

  g_assert_no_error (error);
  return task;
}

static GError *
refuse (Fixture *fx, const char *json)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  g_autoptr(EmTaskSpec) spec = NULL;
  GError *error = NULL;

  spec = em_task_spec_from_json (node, &error);
  if (spec != NULL)
    g_assert_null (em_engine_manager_schedule_task (fx->manager, spec, &error));
  g_assert_nonnull (error);
  return error;
}

/* index of the first event of @type for @task, or -1 */
static gint
event_index (Fixture *fx, EmTask *task, EmEventType type)
{
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_task (event) == task && em_event_get_event_type (event) == type)
        return i;
    }
  return -1;
}

static guint
count_events (Fixture *fx, EmTask *task, EmEventType type)
{
  guint n = 0;

  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_task (event) == task && em_event_get_event_type (event) == type)
        n++;
    }
  return n;
}

static void
test_priority (Fixture *fx, gconstpointer data)
{
  EmTask *low, *high, *mid, *mid2;

  em_engine_manager_set_max_concurrent (fx->manager, 1);
  em_engine_manager_pause (fx->manager);
  low = submit (fx, "{\"name\": \"low\", \"action\": \"hold_none\", \"priority\": -5}");
  mid = submit (fx, "{\"name\": \"mid\", \"action\": \"hold_none\"}");
  high = submit (fx, "{\"name\": \"high\", \"action\": \"hold_none\", \"priority\": 10}");
  mid2 = submit (fx, "{\"name\": \"mid2\", \"action\": \"hold_none\", \"priority\": 0}");
  g_assert_cmpint (em_task_get_priority (high), ==, 10);

  em_engine_manager_resume (fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (low), 5000);

  g_assert_cmpint (event_index (fx, high, EM_EVENT_TASK_STARTED), <, event_index (fx, mid, EM_EVENT_TASK_STARTED));
  /* equal priorities keep submission order */
  g_assert_cmpint (event_index (fx, mid, EM_EVENT_TASK_STARTED), <, event_index (fx, mid2, EM_EVENT_TASK_STARTED));
  g_assert_cmpint (event_index (fx, mid2, EM_EVENT_TASK_STARTED), <, event_index (fx, low, EM_EVENT_TASK_STARTED));
}

static void
test_dependencies (Fixture *fx, gconstpointer data)
{
  EmTask *a = submit (fx, "{\"name\": \"a\", \"action\": \"hold_none\", \"parameters\": {\"duration\": 100}}");
  g_autofree char *json = g_strdup_printf ("{\"name\": \"b\", \"action\": \"hold_none\", \"depends_on\": [\"%s\"]}",
                                           em_task_get_id (a));
  EmTask *b = submit (fx, json);

  g_assert_cmpstr (em_task_get_waiting_on (b)[0], ==, em_task_get_id (a));
  g_assert_cmpstr (em_task_get_depends_on (b)[0], ==, em_task_get_id (a));
  em_test_run_for (50);
  g_assert_cmpint (em_task_get_status (b), ==, EM_TASK_STATUS_PENDING);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (b), 5000);
  g_assert_cmpint (em_task_get_status (b), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_null (em_task_get_waiting_on (b)[0]);
  g_assert_cmpint (event_index (fx, a, EM_EVENT_TASK_COMPLETED), <, event_index (fx, b, EM_EVENT_TASK_STARTED));
}

static void
test_dependency_failure_cascades (Fixture *fx, gconstpointer data)
{
  EmTask *a = submit (fx, "{\"name\": \"a\", \"action\": \"hold_none\", \"parameters\": {\"fail\": true}}");
  g_autofree char *jb = g_strdup_printf ("{\"name\": \"b\", \"action\": \"hold_none\", \"depends_on\": [\"%s\"]}", em_task_get_id (a));
  EmTask *b = submit (fx, jb);
  g_autofree char *jc = g_strdup_printf ("{\"name\": \"c\", \"action\": \"hold_none\", \"depends_on\": [\"%s\"]}", em_task_get_id (b));
  EmTask *c = submit (fx, jc);
  g_autofree char *jd = NULL;
  EmTask *d;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (c), 5000);
  g_assert_cmpint (em_task_get_status (b), ==, EM_TASK_STATUS_FAILED);
  g_assert_nonnull (strstr (em_task_get_error (b), em_task_get_id (a)));
  g_assert_cmpint (em_task_get_status (c), ==, EM_TASK_STATUS_FAILED);
  g_assert_nonnull (strstr (em_task_get_error (c), em_task_get_id (b)));
  g_assert_cmpint (event_index (fx, b, EM_EVENT_TASK_STARTED), ==, -1);

  /* depending on a task that already failed fails at once */
  jd = g_strdup_printf ("{\"name\": \"d\", \"action\": \"hold_none\", \"depends_on\": [\"%s\"]}", em_task_get_id (a));
  d = submit (fx, jd);
  g_assert_cmpint (em_task_get_status (d), ==, EM_TASK_STATUS_FAILED);
}

static void
test_dependency_cancel_cascades (Fixture *fx, gconstpointer data)
{
  EmTask *a = submit (fx, "{\"name\": \"a\", \"action\": \"hold_none\", \"parameters\": {\"duration\": 5000}}");
  g_autofree char *jb = g_strdup_printf ("{\"name\": \"b\", \"action\": \"hold_none\", \"depends_on\": [\"%s\"]}", em_task_get_id (a));
  EmTask *b = submit (fx, jb);

  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (a), NULL));
  g_assert_cmpint (em_task_get_status (b), ==, EM_TASK_STATUS_FAILED);
  g_assert_nonnull (strstr (em_task_get_error (b), "cancelled"));
}

/* a task that ends waits on nothing, whichever of its dependencies had not
 * ended: cancelled while one runs, failed by one while another runs, or
 * failed at submission by one listed after a pending one. Old: each kept
 * naming the running or pending task, after it completed too */
static void
test_ended_waits_on_nothing (Fixture *fx, gconstpointer data)
{
  EmTask *running = submit (fx, "{\"name\": \"running\", \"action\": \"hold_none\", "
                                "\"parameters\": {\"duration\": 300}}");
  EmTask *failing = submit (fx, "{\"name\": \"failing\", \"action\": \"hold_none\", "
                                "\"parameters\": {\"fail\": true, \"duration\": 50}}");
  const char *running_id = em_task_get_id (running);
  const char *failing_id = em_task_get_id (failing);
  g_autofree char *jc = g_strdup_printf ("{\"name\": \"c\", \"action\": \"hold_none\", "
                                         "\"depends_on\": [\"%s\"]}", running_id);
  g_autofree char *jd = g_strdup_printf ("{\"name\": \"d\", \"action\": \"hold_none\", "
                                         "\"depends_on\": [\"%s\", \"%s\"]}", failing_id, running_id);
  EmTask *cancelled = submit (fx, jc);
  EmTask *failed = submit (fx, jd);
  g_autofree char *je = NULL;
  EmTask *refused;

  g_assert_cmpuint (g_strv_length ((GStrv) em_task_get_waiting_on (failed)), ==, 2);
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (cancelled), NULL));
  g_assert_null (em_task_get_waiting_on (cancelled)[0]);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (failed), 5000);
  g_assert_false (em_task_is_finished (running));
  g_assert_cmpint (em_task_get_status (failed), ==, EM_TASK_STATUS_FAILED);
  g_assert_null (em_task_get_waiting_on (failed)[0]);

  je = g_strdup_printf ("{\"name\": \"e\", \"action\": \"hold_none\", "
                        "\"depends_on\": [\"%s\", \"%s\"]}", running_id, failing_id);
  refused = submit (fx, je);
  g_assert_cmpint (em_task_get_status (refused), ==, EM_TASK_STATUS_FAILED);
  g_assert_null (em_task_get_waiting_on (refused)[0]);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (running), 5000);
  g_assert_null (em_task_get_waiting_on (cancelled)[0]);
  g_assert_null (em_task_get_waiting_on (failed)[0]);
  g_assert_null (em_task_get_waiting_on (refused)[0]);
}

static GDateTime *
event_time (Fixture *fx, EmTask *task, EmEventType type)
{
  gint index = event_index (fx, task, type);

  g_assert_cmpint (index, >=, 0);
  return em_event_get_timestamp (g_ptr_array_index (fx->events, index));
}

/* an event bears the time the task records for its change, to the
 * microsecond: a client that builds its tasks from the events reads the
 * same times as one that asks for them. Old: each was read from the clock
 * again, a few µs later */
static void
test_event_times (Fixture *fx, gconstpointer data)
{
  EmTask *ran = submit (fx, "{\"name\": \"ran\", \"action\": \"hold_none\", "
                            "\"parameters\": {\"duration\": 20}}");
  EmTask *failed = submit (fx, "{\"name\": \"failed\", \"action\": \"hold_none\", "
                               "\"parameters\": {\"fail\": true}}");
  EmTask *cancelled = submit (fx, "{\"name\": \"cancelled\", \"action\": \"hold_none\", \"delay\": 60}");

  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (cancelled), NULL));
  EM_TEST_WAIT_UNTIL (em_task_is_finished (ran) && em_task_is_finished (failed), 5000);

  g_assert_true (g_date_time_equal (event_time (fx, ran, EM_EVENT_TASK_SCHEDULED),
                                    em_task_get_created_at (ran)));
  g_assert_true (g_date_time_equal (event_time (fx, ran, EM_EVENT_TASK_STARTED),
                                    em_task_get_started_at (ran)));
  g_assert_true (g_date_time_equal (event_time (fx, ran, EM_EVENT_TASK_COMPLETED),
                                    em_task_get_completed_at (ran)));
  g_assert_true (g_date_time_equal (event_time (fx, failed, EM_EVENT_TASK_FAILED),
                                    em_task_get_completed_at (failed)));
  g_assert_true (g_date_time_equal (event_time (fx, cancelled, EM_EVENT_TASK_CANCELLED),
                                    em_task_get_completed_at (cancelled)));
  /* and they stay in the order of the changes */
  g_assert_cmpint (g_date_time_compare (em_task_get_created_at (ran), em_task_get_started_at (ran)), <=, 0);
  g_assert_cmpint (g_date_time_compare (em_task_get_started_at (ran), em_task_get_completed_at (ran)), <, 0);
}

static void
test_unknown_dependency_refused (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = refuse (fx, "{\"name\": \"b\", \"action\": \"hold_none\", \"depends_on\": [\"nope\"]}");
  g_autoptr(GError) batch_ref = refuse (fx, "{\"name\": \"b\", \"action\": \"hold_none\", \"depends_on\": [\"#0\"]}");
  g_autoptr(GError) not_array = refuse (fx, "{\"name\": \"b\", \"action\": \"hold_none\", \"depends_on\": \"x\"}");

  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "depends_on"));
  g_assert_nonnull (strstr (batch_ref->message, "depends_on"));
  g_assert_nonnull (strstr (not_array->message, "depends_on"));
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
}

static void
test_retries (Fixture *fx, gconstpointer data)
{
  EmTask *task = submit (fx, "{\"name\": \"r\", \"action\": \"hold_none\", \"parameters\": {\"fail\": true},"
                             " \"max_retries\": 2, \"retry_delay\": 0.2}");
  GPtrArray *retry_times = g_ptr_array_new_with_free_func ((GDestroyNotify) g_date_time_unref);
  g_autoptr(GPtrArray) owned = retry_times;
  guint attempt = 0;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 5000);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
  g_assert_cmpuint (em_task_get_attempts (task), ==, 3);
  g_assert_cmpuint (count_events (fx, task, EM_EVENT_TASK_STARTED), ==, 3);
  g_assert_cmpuint (count_events (fx, task, EM_EVENT_TASK_RETRYING), ==, 2);

  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);
      g_autoptr(JsonNode) node = NULL;
      JsonObject *object;

      if (em_event_get_event_type (event) != EM_EVENT_TASK_RETRYING)
        continue;
      node = em_event_to_json (event);
      object = json_node_get_object (node);
      g_assert_cmpint (json_object_get_int_member (object, "attempt"), ==, ++attempt);
      g_assert_cmpstr (json_object_get_string_member (object, "error"), ==, "asked to fail");
      g_ptr_array_add (retry_times, em_time_parse (json_object_get_string_member (object, "retry_at")));
      g_ptr_array_add (retry_times, g_date_time_ref (em_event_get_timestamp (event)));
    }
  /* exponential backoff: the second wait is twice the first. Each is measured
   * from the event's timestamp, taken a little after the retry time was set:
   * under valgrind, code run for the first time can take 5 ms in between, so
   * the delays are long enough for a 20 ms margin */
  {
    GTimeSpan first = g_date_time_difference (g_ptr_array_index (retry_times, 0), g_ptr_array_index (retry_times, 1));
    GTimeSpan second = g_date_time_difference (g_ptr_array_index (retry_times, 2), g_ptr_array_index (retry_times, 3));

    g_assert_cmpint (first, >=, 180000);
    g_assert_cmpint (first, <=, 210000);
    g_assert_cmpint (second, >=, 380000);
    g_assert_cmpint (second, <=, 410000);
  }
}

static void
test_cancel_during_backoff (Fixture *fx, gconstpointer data)
{
  EmTask *task = submit (fx, "{\"name\": \"r\", \"action\": \"hold_none\", \"parameters\": {\"fail\": true},"
                             " \"max_retries\": 5, \"retry_delay\": 30}");

  EM_TEST_WAIT_UNTIL (count_events (fx, task, EM_EVENT_TASK_RETRYING) == 1, 5000);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  g_assert_nonnull (em_task_get_run_at (task));
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (task), NULL));
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
  /* the retry it waited for never comes */
  g_assert_null (em_task_get_run_at (task));
  em_test_run_for (100);
  g_assert_cmpuint (count_events (fx, task, EM_EVENT_TASK_STARTED), ==, 1);
}

/* the run_at of every start of @task, "null" for none */
static void
record_run_at (EmEngineManager *manager, EmTask *task, GPtrArray *run_ats)
{
  GDateTime *run_at = em_task_get_run_at (task);

  g_ptr_array_add (run_ats, run_at != NULL ? em_time_format (run_at) : g_strdup ("null"));
}

static char *
retry_at_of (Fixture *fx, EmTask *task)
{
  EmEvent *event = g_ptr_array_index (fx->events, event_index (fx, task, EM_EVENT_TASK_RETRYING));
  g_autoptr(JsonNode) node = em_event_to_json (event);

  return g_strdup (json_object_get_string_member (json_node_get_object (node), "retry_at"));
}

/* `run_at` is the time asked at submission; a retry's time shows only while
 * the retry waits, and is gone once the retry runs */
static void
test_retry_run_at (Fixture *fx, gconstpointer data)
{
  g_autoptr(GDateTime) now = em_time_now ();
  g_autoptr(GDateTime) past = g_date_time_add_seconds (now, -60);
  g_autofree char *past_text = em_time_format (past);
  g_autofree char *json = g_strdup_printf ("{\"name\": \"d\", \"action\": \"hold_none\","
                                           " \"parameters\": {\"fail\": true}, \"max_retries\": 1,"
                                           " \"retry_delay\": 0.2, \"run_at\": \"%s\"}", past_text);
  g_autoptr(GPtrArray) run_ats = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *retry_at = NULL;
  g_autofree char *shown = NULL;
  EmTask *plain, *delayed;

  em_engine_manager_set_max_concurrent (fx->manager, 1);
  g_signal_connect (fx->manager, "task-started", G_CALLBACK (record_run_at), run_ats);
  plain = submit (fx, "{\"name\": \"p\", \"action\": \"hold_none\", \"parameters\": {\"fail\": true},"
                      " \"max_retries\": 1, \"retry_delay\": 0.2}");
  EM_TEST_WAIT_UNTIL (count_events (fx, plain, EM_EVENT_TASK_RETRYING) == 1, 5000);
  /* waiting: the retry's time */
  g_assert_cmpint (em_task_get_status (plain), ==, EM_TASK_STATUS_PENDING);
  retry_at = retry_at_of (fx, plain);
  shown = em_time_format (em_task_get_run_at (plain));
  g_assert_cmpstr (shown, ==, retry_at);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (plain), 5000);
  g_assert_cmpuint (em_task_get_attempts (plain), ==, 2);
  g_assert_null (em_task_get_run_at (plain));

  delayed = submit (fx, json);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (delayed), 5000);
  g_assert_cmpuint (em_task_get_attempts (delayed), ==, 2);
  g_clear_pointer (&shown, g_free);
  shown = em_time_format (em_task_get_run_at (delayed));
  g_assert_cmpstr (shown, ==, past_text);

  /* and so while each retry runs */
  g_assert_cmpuint (run_ats->len, ==, 4);
  g_assert_cmpstr (g_ptr_array_index (run_ats, 0), ==, "null");
  g_assert_cmpstr (g_ptr_array_index (run_ats, 1), ==, "null");
  g_assert_cmpstr (g_ptr_array_index (run_ats, 2), ==, past_text);
  g_assert_cmpstr (g_ptr_array_index (run_ats, 3), ==, past_text);
}

static void
test_retry_unsafe_refused (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = refuse (fx, "{\"name\": \"u\", \"action\": \"hold_unsafe\", \"max_retries\": 1}");
  g_autoptr(GError) relative = refuse (fx, "{\"name\": \"m\", \"action\": \"move_stage\", \"max_retries\": 1,"
                                           " \"parameters\": {\"x\": 5, \"relative\": true}}");
  g_autoptr(GError) focus_relative = refuse (fx, "{\"name\": \"f\", \"action\": \"adjust_focus\", \"max_retries\": 1,"
                                                 " \"parameters\": {\"position\": 5, \"relative\": true}}");
  EmTask *absolute = submit (fx, "{\"name\": \"m\", \"action\": \"move_stage\", \"max_retries\": 1,"
                                 " \"parameters\": {\"x\": 5}}");
  EmTask *focus_absolute = submit (fx, "{\"name\": \"f\", \"action\": \"adjust_focus\", \"max_retries\": 1,"
                                       " \"parameters\": {\"position\": 5}}");

  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "max_retries"));
  g_assert_nonnull (strstr (relative->message, "max_retries"));
  g_assert_nonnull (absolute);
  g_assert_error (focus_relative, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (focus_relative->message, "max_retries"));
  g_assert_nonnull (focus_absolute);
}

static void
test_delay (Fixture *fx, gconstpointer data)
{
  /* taken before submitting: under valgrind submitting alone takes a while */
  gint64 submitted = g_get_monotonic_time ();
  EmTask *task = submit (fx, "{\"name\": \"later\", \"action\": \"hold_none\", \"delay\": 0.3}");
  gint64 started;

  g_assert_nonnull (em_task_get_run_at (task));
  em_test_run_for (150);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) != EM_TASK_STATUS_PENDING, 5000);
  started = g_get_monotonic_time ();
  g_assert_cmpint (started - submitted, >=, 290000);
  g_assert_cmpint (started - submitted, <, 3000000);
}

/* the timer of delayed tasks counts the loop's monotonic time, which stands
 * still while the machine sleeps and does not follow a change of the clock:
 * a task due in an hour is checked again well before, so that neither can
 * hold it back for long past its run_at */
static void
test_delay_rechecks_clock (Fixture *fx, gconstpointer data)
{
  EmTask *task = submit (fx, "{\"name\": \"in an hour\", \"action\": \"hold_none\", \"delay\": 3600}");
  GSource *timer = g_main_context_find_source_by_funcs_user_data (NULL, &g_timeout_funcs, fx->manager);

  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  g_assert_nonnull (timer);
  g_assert_cmpint (g_source_get_ready_time (timer) - g_get_monotonic_time (), <=, 60 * G_USEC_PER_SEC);
}

static void
test_run_at (Fixture *fx, gconstpointer data)
{
  g_autoptr(GDateTime) now = em_time_now ();
  g_autoptr(GDateTime) soon = g_date_time_add_seconds (now, 0.3);
  g_autoptr(GDateTime) past = g_date_time_add_seconds (now, -60);
  g_autofree char *soon_text = em_time_format (soon);
  g_autofree char *past_text = em_time_format (past);
  g_autofree char *j1 = g_strdup_printf ("{\"name\": \"a\", \"action\": \"hold_none\", \"run_at\": \"%s\"}", soon_text);
  g_autofree char *j2 = g_strdup_printf ("{\"name\": \"b\", \"action\": \"hold_none\", \"run_at\": \"%s\"}", past_text);
  EmTask *later = submit (fx, j1);
  EmTask *overdue = submit (fx, j2);
  g_autoptr(GError) both = refuse (fx, "{\"name\": \"c\", \"action\": \"hold_none\", \"delay\": 1,"
                                       " \"run_at\": \"2030-01-01T00:00:00Z\"}");
  g_autoptr(GError) no_zone = refuse (fx, "{\"name\": \"c\", \"action\": \"hold_none\","
                                          " \"run_at\": \"2030-01-01T00:00:00\"}");

  EM_TEST_WAIT_UNTIL (em_task_is_finished (overdue), 2000);
  g_assert_cmpint (em_task_get_status (later), ==, EM_TASK_STATUS_PENDING);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (later), 5000);
  g_assert_true (g_date_time_compare (em_task_get_started_at (later), soon) >= 0);
  g_assert_nonnull (strstr (both->message, "delay"));
  g_assert_nonnull (strstr (no_zone->message, "run_at"));
}

/* a run_at long past, before 1970 or at its very start, runs at once and still
 * says what was asked */
static void
test_run_at_before_epoch (Fixture *fx, gconstpointer data)
{
  const char *times[] = { "1969-12-31T23:59:59.5Z", "1970-01-01T00:00:00Z" };
  const char *expected[] = { "1969-12-31T23:59:59.500000Z", "1970-01-01T00:00:00.000000Z" };

  for (guint i = 0; i < G_N_ELEMENTS (times); i++)
    {
      g_autofree char *json = g_strdup_printf ("{\"name\": \"old\", \"action\": \"hold_none\", "
                                               "\"run_at\": \"%s\"}", times[i]);
      EmTask *task = submit (fx, json);
      g_autofree char *run_at = em_time_format (em_task_get_run_at (task));

      g_assert_cmpstr (run_at, ==, expected[i]);
      EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 2000);
      g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
    }
}

static GPtrArray *
specs_from (const char *const *items)
{
  GPtrArray *specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);

  for (guint i = 0; items[i] != NULL; i++)
    g_ptr_array_add (specs, spec_from (items[i]));
  return specs;
}

static void
test_batch_all_or_nothing (Fixture *fx, gconstpointer data)
{
  const char *bad[] = {
    "{\"name\": \"a\", \"action\": \"hold_none\"}",
    "{\"name\": \"b\", \"action\": \"hold_none\", \"depends_on\": [\"#0\"]}",
    "{\"name\": \"c\", \"action\": \"hold_none\", \"parameters\": {\"duration\": -1}}",
    NULL
  };
  const char *forward[] = {
    "{\"name\": \"a\", \"action\": \"hold_none\", \"depends_on\": [\"#1\"]}",
    "{\"name\": \"b\", \"action\": \"hold_none\"}",
    NULL
  };
  const char *good[] = {
    "{\"name\": \"move\", \"action\": \"hold_stage\"}",
    "{\"name\": \"focus\", \"action\": \"hold_focus\", \"depends_on\": [\"#0\"]}",
    "{\"name\": \"capture\", \"action\": \"hold_camera\", \"depends_on\": [\"#1\"]}",
    NULL
  };
  g_autoptr(GPtrArray) bad_specs = specs_from (bad);
  g_autoptr(GPtrArray) forward_specs = specs_from (forward);
  g_autoptr(GPtrArray) good_specs = specs_from (good);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) forward_error = NULL;
  g_autoptr(GPtrArray) tasks = NULL;

  g_assert_null (em_engine_manager_schedule_batch (fx->manager, bad_specs, FALSE, &error));
  g_assert_nonnull (strstr (error->message, "[2]"));
  g_assert_nonnull (strstr (error->message, "parameters.duration"));
  g_assert_null (em_engine_manager_schedule_batch (fx->manager, forward_specs, FALSE, &forward_error));
  g_assert_nonnull (strstr (forward_error->message, "#1"));
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
  g_assert_cmpuint (fx->events->len, ==, 0);

  tasks = em_engine_manager_schedule_batch (fx->manager, good_specs, FALSE, &error);
  g_assert_nonnull (tasks);
  g_assert_cmpuint (tasks->len, ==, 3);
  g_assert_cmpstr (em_task_get_depends_on (g_ptr_array_index (tasks, 2))[0], ==,
                   em_task_get_id (g_ptr_array_index (tasks, 1)));
  g_assert_cmpstr (em_task_get_batch (g_ptr_array_index (tasks, 0)), ==,
                   em_task_get_batch (g_ptr_array_index (tasks, 2)));
  EM_TEST_WAIT_UNTIL (em_task_is_finished (g_ptr_array_index (tasks, 2)), 5000);
  for (guint i = 0; i < tasks->len; i++)
    g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, i)), ==, EM_TASK_STATUS_COMPLETED);
}

static void
test_exclusive_batch (Fixture *fx, gconstpointer data)
{
  const char *items[] = {
    "{\"name\": \"move\", \"action\": \"hold_stage\", \"parameters\": {\"duration\": 60}}",
    "{\"name\": \"settle\", \"action\": \"hold_none\", \"parameters\": {\"duration\": 60}, \"depends_on\": [\"#0\"]}",
    "{\"name\": \"capture\", \"action\": \"hold_camera\", \"parameters\": {\"duration\": 60}, \"depends_on\": [\"#1\"]}",
    NULL
  };
  g_autoptr(GPtrArray) specs = specs_from (items);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  EmTask *intruder, *last;

  tasks = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);
  last = g_ptr_array_index (tasks, 2);

  /* another client's move, more urgent, arrives while the batch runs */
  EM_TEST_WAIT_UNTIL (em_task_get_status (g_ptr_array_index (tasks, 0)) == EM_TASK_STATUS_RUNNING, 2000);
  intruder = submit (fx, "{\"name\": \"other\", \"action\": \"hold_stage\", \"priority\": 100}");
  em_test_run_for (90);
  g_assert_cmpint (em_task_get_status (intruder), ==, EM_TASK_STATUS_PENDING);
  g_assert_cmpstr (em_task_get_waiting_for (intruder)[0], ==, "stage");

  EM_TEST_WAIT_UNTIL (em_task_is_finished (intruder), 5000);
  g_assert_cmpint (event_index (fx, last, EM_EVENT_TASK_COMPLETED), <,
                   event_index (fx, intruder, EM_EVENT_TASK_STARTED));
  g_assert_cmpuint (em_test_hold_get_overlaps (), ==, 0);
}

/* an exclusive batch that waits on another client's task does not take its
 * devices before that task has run: holding them, it would keep that task,
 * and so itself, waiting for ever */
static void
test_exclusive_batch_outside_dependency (Fixture *fx, gconstpointer data)
{
  g_autofree char *second = NULL;
  const char *items[] = {
    "{\"name\": \"move\", \"action\": \"hold_stage\", \"parameters\": {\"duration\": 20}}",
    NULL,
    NULL
  };
  g_autoptr(GPtrArray) specs = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  EmTask *other;

  /* the other client's move may start only in a while */
  other = submit (fx, "{\"name\": \"other\", \"action\": \"hold_stage\", \"delay\": 0.1}");
  second = g_strdup_printf ("{\"name\": \"capture\", \"action\": \"hold_camera\", "
                            "\"depends_on\": [\"#0\", \"%s\"]}", em_task_get_id (other));
  items[1] = second;
  specs = specs_from (items);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (g_ptr_array_index (tasks, 1)), 5000);
  g_assert_cmpint (em_task_get_status (other), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, 0)), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, 1)), ==, EM_TASK_STATUS_COMPLETED);
  /* and nothing slipped into the batch: it started once the other had run */
  g_assert_cmpint (event_index (fx, other, EM_EVENT_TASK_COMPLETED), <,
                   event_index (fx, g_ptr_array_index (tasks, 0), EM_EVENT_TASK_STARTED));
  g_assert_cmpuint (em_test_hold_get_overlaps (), ==, 0);
}

/* the outside task is cancelled: the task waiting on it fails, and the rest of
 * the batch goes ahead */
static void
test_exclusive_batch_outside_cancelled (Fixture *fx, gconstpointer data)
{
  g_autofree char *second = NULL;
  const char *items[] = {
    "{\"name\": \"move\", \"action\": \"hold_stage\"}",
    NULL,
    NULL
  };
  g_autoptr(GPtrArray) specs = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  EmTask *other;

  other = submit (fx, "{\"name\": \"other\", \"action\": \"hold_stage\", \"delay\": 60}");
  second = g_strdup_printf ("{\"name\": \"capture\", \"action\": \"hold_camera\", "
                            "\"depends_on\": [\"%s\"]}", em_task_get_id (other));
  items[1] = second;
  specs = specs_from (items);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);

  em_test_run_for (50);
  g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, 0)), ==, EM_TASK_STATUS_PENDING);

  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (other), &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (g_ptr_array_index (tasks, 0)), 5000);
  g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, 0)), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, 1)), ==, EM_TASK_STATUS_FAILED);
}

/* a batch's waiting task says when its device is free again, as any other does,
 * also while nothing can start */
static void
test_exclusive_batch_waiting_for (Fixture *fx, gconstpointer data)
{
  const char *items[] = {
    "{\"name\": \"first\", \"action\": \"hold_camera\", \"parameters\": {\"duration\": 200}}",
    "{\"name\": \"second\", \"action\": \"hold_camera\"}",
    NULL
  };
  g_autoptr(GPtrArray) specs = specs_from (items);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  EmTask *first, *second, *lone, *behind;

  tasks = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);
  first = g_ptr_array_index (tasks, 0);
  second = g_ptr_array_index (tasks, 1);
  lone = submit (fx, "{\"name\": \"lone\", \"action\": \"hold_focus\", \"parameters\": {\"duration\": 200}}");
  behind = submit (fx, "{\"name\": \"behind\", \"action\": \"hold_focus\"}");
  EM_TEST_WAIT_UNTIL (em_task_get_status (first) == EM_TASK_STATUS_RUNNING &&
                      em_task_get_status (lone) == EM_TASK_STATUS_RUNNING, 2000);
  g_assert_cmpstr (em_task_get_waiting_for (second)[0], ==, "camera");
  g_assert_cmpstr (em_task_get_waiting_for (behind)[0], ==, "focus");

  em_engine_manager_pause (fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (first) && em_task_is_finished (lone), 5000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (em_task_get_status (second), ==, EM_TASK_STATUS_PENDING);
  g_assert_null (em_task_get_waiting_for (behind)[0]);
  g_assert_null (em_task_get_waiting_for (second)[0]);

  em_engine_manager_resume (fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (second) && em_task_is_finished (behind), 5000);
  g_assert_cmpint (em_task_get_status (second), ==, EM_TASK_STATUS_COMPLETED);
}

typedef struct {
  EmEngineManager *manager;
  GPtrArray       *batch;   /* EmTask of the exclusive batch */
} EndBatch;

/* told it waits for the focus the batch holds, a listener ends the batch */
static void
end_batch_if_waiting (EmTask *task, GParamSpec *pspec, EndBatch *end)
{
  const char * const *waiting_for = em_task_get_waiting_for (task);

  if (waiting_for[0] == NULL || end->batch == NULL)
    return;
  for (guint i = end->batch->len; i > 0; i--)
    g_assert_true (em_engine_manager_cancel_task (end->manager,
                                                  em_task_get_id (g_ptr_array_index (end->batch, i - 1)),
                                                  NULL));
  end->batch = NULL;
}

static void
record_waiting_for (EmTask *task, GParamSpec *pspec, GString *told)
{
  g_autofree char *joined = g_strjoinv (",", (char **) em_task_get_waiting_for (task));

  g_string_append_printf (told, "[%s]", joined);
}

/* a listener of one task's waiting_for frees a device: the tasks told after
 * it in the same pass are told what they wait for now, not before it */
static void
test_waiting_for_after_release (Fixture *fx, gconstpointer data)
{
  const char *items[] = {
    "{\"name\": \"move\", \"action\": \"hold_stage\", \"parameters\": {\"duration\": 5000}}",
    "{\"name\": \"focus\", \"action\": \"hold_focus\", \"depends_on\": [\"#0\"]}",
    NULL
  };
  g_autoptr(GPtrArray) specs = specs_from (items);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GString) told = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  EndBatch end = { fx->manager, NULL };
  EmTask *first, *second;

  tasks = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_status (g_ptr_array_index (tasks, 0)) == EM_TASK_STATUS_RUNNING, 2000);
  em_engine_manager_pause (fx->manager);

  /* both new in the same pass; the first's listener frees the batch's focus */
  first = submit (fx, "{\"name\": \"first\", \"action\": \"hold_focus\"}");
  second = submit (fx, "{\"name\": \"second\", \"action\": \"hold_focus\"}");
  end.batch = tasks;
  g_signal_connect (first, "notify::waiting-for", G_CALLBACK (end_batch_if_waiting), &end);
  g_signal_connect (second, "notify::waiting-for", G_CALLBACK (record_waiting_for), told);
  EM_TEST_WAIT_UNTIL (end.batch == NULL, 2000);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  g_assert_cmpstr (told->str, ==, "");
  g_assert_null (em_task_get_waiting_for (first)[0]);
  g_assert_null (em_task_get_waiting_for (second)[0]);
  g_signal_handlers_disconnect_by_data (first, &end);
  g_signal_handlers_disconnect_by_data (second, told);
}

static void
test_device_concurrency (Fixture *fx, gconstpointer data)
{
  EmTask *stage1 = submit (fx, "{\"name\": \"s1\", \"action\": \"hold_stage\", \"parameters\": {\"duration\": 150}}");
  EmTask *focus = submit (fx, "{\"name\": \"f\", \"action\": \"hold_focus\", \"parameters\": {\"duration\": 150}}");
  EmTask *stage2 = submit (fx, "{\"name\": \"s2\", \"action\": \"hold_stage\", \"parameters\": {\"duration\": 10}}");

  /* disjoint claims run together; the same device waits and says so */
  EM_TEST_WAIT_UNTIL (em_task_get_status (focus) == EM_TASK_STATUS_RUNNING, 2000);
  g_assert_cmpint (em_task_get_status (stage1), ==, EM_TASK_STATUS_RUNNING);
  g_assert_cmpint (em_task_get_status (stage2), ==, EM_TASK_STATUS_PENDING);
  g_assert_cmpstr (em_task_get_waiting_for (stage2)[0], ==, "stage");
  g_assert_null (em_task_get_waiting_for (stage2)[1]);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (stage2), 5000);
  g_assert_null (em_task_get_waiting_for (stage2)[0]);
  g_assert_cmpint (event_index (fx, stage1, EM_EVENT_TASK_COMPLETED), <, event_index (fx, stage2, EM_EVENT_TASK_STARTED));
  g_assert_cmpuint (em_test_hold_get_overlaps (), ==, 0);
}

static void
test_no_starvation (Fixture *fx, gconstpointer data)
{
  EmTask *big;
  GPtrArray *small = g_ptr_array_new ();
  g_autoptr(GPtrArray) owned = small;

  submit (fx, "{\"name\": \"c\", \"action\": \"hold_camera\", \"parameters\": {\"duration\": 80}}");
  /* wants camera and stage; small stage-only tasks keep arriving behind it */
  big = submit (fx, "{\"name\": \"big\", \"action\": \"hold_camera_stage\", \"priority\": 5}");
  for (guint i = 0; i < 20; i++)
    g_ptr_array_add (small, submit (fx, "{\"name\": \"s\", \"action\": \"hold_stage\", \"parameters\": {\"duration\": 20}}"));

  EM_TEST_WAIT_UNTIL (em_task_is_finished (big), 5000);
  /* none of the lower-priority stage tasks took the stage before the big one */
  for (guint i = 0; i < small->len; i++)
    {
      gint started = event_index (fx, g_ptr_array_index (small, i), EM_EVENT_TASK_STARTED);

      g_assert_true (started == -1 || started > event_index (fx, big, EM_EVENT_TASK_STARTED));
    }
}

/* a ready task whose devices are free, held back only by a better one that
 * waits for a device they share, says which of its devices it waits for */
static void
test_waiting_for_held_back (Fixture *fx, gconstpointer data)
{
  EmTask *camera = submit (fx, "{\"name\": \"c\", \"action\": \"hold_camera\", \"parameters\": {\"duration\": 300}}");
  EmTask *big, *small, *focus;

  EM_TEST_WAIT_UNTIL (em_task_get_status (camera) == EM_TASK_STATUS_RUNNING, 2000);
  big = submit (fx, "{\"name\": \"big\", \"action\": \"hold_camera_stage\", \"priority\": 5}");
  small = submit (fx, "{\"name\": \"s\", \"action\": \"hold_stage\"}");
  focus = submit (fx, "{\"name\": \"f\", \"action\": \"hold_focus\", \"parameters\": {\"duration\": 300}}");
  EM_TEST_WAIT_UNTIL (em_task_get_status (focus) == EM_TASK_STATUS_RUNNING, 2000);

  g_assert_cmpint (em_task_get_status (small), ==, EM_TASK_STATUS_PENDING);
  g_assert_cmpstr (em_task_get_waiting_for (big)[0], ==, "camera");
  g_assert_null (em_task_get_waiting_for (big)[1]);
  g_assert_cmpstr (em_task_get_waiting_for (small)[0], ==, "stage");
  g_assert_null (em_task_get_waiting_for (small)[1]);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (small), 5000);
  g_assert_cmpint (event_index (fx, big, EM_EVENT_TASK_STARTED), <, event_index (fx, small, EM_EVENT_TASK_STARTED));
}

/* a ready task that held its devices against a lower one, cancelled, lets
 * that one start at once: before, it waited for the end of the task the
 * cancelled one had waited for */
static void
test_cancel_unblocks_held_back (Fixture *fx, gconstpointer data)
{
  EmTask *camera = submit (fx, "{\"name\": \"c\", \"action\": \"hold_camera\", \"parameters\": {\"duration\": 4000}}");
  EmTask *big, *small;
  g_autoptr(GError) error = NULL;
  gint64 cancelled_at;

  EM_TEST_WAIT_UNTIL (em_task_get_status (camera) == EM_TASK_STATUS_RUNNING, 2000);
  big = submit (fx, "{\"name\": \"big\", \"action\": \"hold_camera_stage\", \"priority\": 5}");
  small = submit (fx, "{\"name\": \"s\", \"action\": \"hold_stage\"}");
  EM_TEST_WAIT_UNTIL (em_task_get_waiting_for (small)[0] != NULL, 2000);
  g_assert_cmpstr (em_task_get_waiting_for (small)[0], ==, "stage");

  cancelled_at = g_get_monotonic_time ();
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (big), &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_status (small) != EM_TASK_STATUS_PENDING, 3000);
  g_assert_cmpint (em_task_get_status (camera), ==, EM_TASK_STATUS_RUNNING);
  g_assert_cmpint (g_get_monotonic_time () - cancelled_at, <, 3 * G_TIME_SPAN_SECOND);
}

static void
test_max_concurrent (Fixture *fx, gconstpointer data)
{
  EmTaskStatus running = EM_TASK_STATUS_RUNNING;

  em_engine_manager_set_max_concurrent (fx->manager, 2);
  for (guint i = 0; i < 5; i++)
    submit (fx, "{\"name\": \"n\", \"action\": \"hold_none\", \"parameters\": {\"duration\": 100}}");
  em_test_run_for (50);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &running), ==, 2);
}

static void
test_pause_resume (Fixture *fx, gconstpointer data)
{
  EmTask *first = submit (fx, "{\"name\": \"a\", \"action\": \"hold_stage\", \"parameters\": {\"duration\": 100}}");
  EmTask *second;
  EmTask *delayed;
  guint paused = 0, resumed = 0;

  EM_TEST_WAIT_UNTIL (em_task_get_status (first) == EM_TASK_STATUS_RUNNING, 2000);
  em_engine_manager_pause (fx->manager);
  g_assert_true (em_engine_manager_get_paused (fx->manager));
  second = submit (fx, "{\"name\": \"b\", \"action\": \"hold_none\"}");
  delayed = submit (fx, "{\"name\": \"c\", \"action\": \"hold_none\", \"delay\": 0.05}");

  /* the running one finishes; nothing new starts, not even when a delay ends */
  EM_TEST_WAIT_UNTIL (em_task_is_finished (first), 2000);
  em_test_run_for (150);
  g_assert_cmpint (em_task_get_status (second), ==, EM_TASK_STATUS_PENDING);
  g_assert_cmpint (em_task_get_status (delayed), ==, EM_TASK_STATUS_PENDING);

  em_engine_manager_resume (fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (second) && em_task_is_finished (delayed), 2000);

  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      paused += em_event_get_event_type (event) == EM_EVENT_QUEUE_PAUSED;
      resumed += em_event_get_event_type (event) == EM_EVENT_QUEUE_RESUMED;
      if (em_event_get_event_type (event) == EM_EVENT_QUEUE_PAUSED)
        {
          g_autoptr(JsonNode) node = em_event_to_json (event);

          g_assert_cmpstr (json_object_get_string_member (json_node_get_object (node), "type"), ==, "queue_paused");
          g_assert_false (json_object_has_member (json_node_get_object (node), "task_id"));
        }
    }
  g_assert_cmpuint (paused, ==, 1);
  g_assert_cmpuint (resumed, ==, 1);
}

static void
test_timeout_during_move (Fixture *fx, gconstpointer data)
{
  /* 5000 µm at 1000 µm/s would take 5 s */
  EmTask *task = submit (fx, "{\"name\": \"m\", \"action\": \"move_stage\", \"timeout\": 0.2,"
                             " \"parameters\": {\"x\": 5000, \"speed\": 1000}}");
  EmStagePosition where, later;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 3000);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
  g_assert_cmpstr (em_task_get_error (task), ==, "timed out after 0.2 s");
  em_stage_get_position (fx->stage, &where);
  g_assert_cmpfloat (where.x, >, 0);
  g_assert_cmpfloat (where.x, <, 1000);
  em_test_run_for (200);
  em_stage_get_position (fx->stage, &later);
  g_assert_cmpfloat (later.x, ==, where.x);
}

/* a timeout longer than 2^32 ms (about 50 days; up to a year is allowed) does
 * not wrap round to a short one */
static void
test_long_timeout (Fixture *fx, gconstpointer data)
{
  /* 2^32 ms and 50 ms more */
  EmTask *task = submit (fx, "{\"name\": \"long\", \"action\": \"hold_none\", "
                             "\"timeout\": 4294967.346, \"parameters\": {\"duration\": 300}}");

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 3000);
  g_assert_cmpstr (em_task_get_error (task), ==, NULL);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
}

/* a timed-out attempt is retried like a failed one, each with its own timeout */
static void
test_timeout_retried (Fixture *fx, gconstpointer data)
{
  EmTask *task = submit (fx, "{\"name\": \"t\", \"action\": \"hold_none\", \"timeout\": 0.05, "
                             "\"max_retries\": 2, \"retry_delay\": 0.01, "
                             "\"parameters\": {\"duration\": 5000}}");

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 3000);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
  g_assert_cmpstr (em_task_get_error (task), ==, "timed out after 0.05 s");
  g_assert_cmpuint (em_task_get_attempts (task), ==, 3);
  g_assert_cmpuint (count_events (fx, task, EM_EVENT_TASK_RETRYING), ==, 2);
  g_assert_cmpuint (count_events (fx, task, EM_EVENT_TASK_STARTED), ==, 3);
}

/* the action returned in time, but the loop was busy until past the timeout
 * (a long request, a slow disk): both are due in the same turn, the timeout
 * first since it was set first. The answer that came in time counts. */
static void
test_timeout_answer_in_time (Fixture *fx, gconstpointer data)
{
  EmTask *task = submit (fx, "{\"name\": \"t\", \"action\": \"hold_none\", \"timeout\": 0.5, "
                             "\"parameters\": {\"duration\": 200}}");

  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 3000);
  g_usleep (800 * 1000);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 3000);
  g_assert_cmpstr (em_task_get_error (task), ==, NULL);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
}

/* the error gives the timeout as it was asked, not rounded to six digits */
static void
test_timeout_message (Fixture *fx, gconstpointer data)
{
  EmTask *task = submit (fx, "{\"name\": \"t\", \"action\": \"hold_none\", "
                             "\"timeout\": 0.0500001, \"parameters\": {\"duration\": 5000}}");

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 3000);
  g_assert_cmpstr (em_task_get_error (task), ==, "timed out after 0.0500001 s");
}

static void
test_priority_with_dependencies (Fixture *fx, gconstpointer data)
{
  EmTask *a, *b, *c;
  g_autofree char *jb = NULL;

  em_engine_manager_set_max_concurrent (fx->manager, 1);
  em_engine_manager_pause (fx->manager);
  a = submit (fx, "{\"name\": \"a\", \"action\": \"hold_none\", \"priority\": -10}");
  /* urgent, but must wait for a, and then goes before the middling c */
  jb = g_strdup_printf ("{\"name\": \"b\", \"action\": \"hold_none\", \"priority\": 10, \"depends_on\": [\"%s\"]}",
                        em_task_get_id (a));
  b = submit (fx, jb);
  c = submit (fx, "{\"name\": \"c\", \"action\": \"hold_none\", \"parameters\": {\"duration\": 30}}");
  em_engine_manager_resume (fx->manager);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (a) && em_task_is_finished (b) && em_task_is_finished (c), 5000);
  g_assert_cmpint (event_index (fx, c, EM_EVENT_TASK_STARTED), <, event_index (fx, a, EM_EVENT_TASK_STARTED));
  g_assert_cmpint (event_index (fx, a, EM_EVENT_TASK_COMPLETED), <, event_index (fx, b, EM_EVENT_TASK_STARTED));
}

/* --- randomized --- */

typedef struct {
  Fixture   *fx;
  GPtrArray *tasks;
  guint      violations;
  GString   *report;
} Model;

static gboolean
deps_completed (Model *model, EmTask *task)
{
  const char * const *deps = em_task_get_depends_on (task);

  for (guint i = 0; deps[i] != NULL; i++)
    {
      EmTask *dep = em_engine_manager_get_task (model->fx->manager, deps[i]);

      if (em_task_get_status (dep) != EM_TASK_STATUS_COMPLETED)
        return FALSE;
    }
  return TRUE;
}

static EmDeviceKind
claims_of (Model *model, EmTask *task)
{
  EmAction *action = em_action_registry_lookup (em_engine_manager_get_registry (model->fx->manager),
                                                em_task_get_action (task));

  return em_action_get_claims (action);
}

/* ready as the model can tell: pending, dependencies done, not delayed and not in
 * a retry backoff (their readiness is the timer's) */
static gboolean
model_ready (Model *model, EmTask *task)
{
  return em_task_get_status (task) == EM_TASK_STATUS_PENDING &&
         em_task_get_run_at (task) == NULL && em_task_get_attempts (task) == 0 &&
         deps_completed (model, task);
}

/* may be ready for the engine: its delay or backoff may have run out already */
static gboolean
maybe_ready (Model *model, EmTask *task, GDateTime *now)
{
  return em_task_get_status (task) == EM_TASK_STATUS_PENDING && deps_completed (model, task) &&
         (em_task_get_run_at (task) == NULL || g_date_time_compare (em_task_get_run_at (task), now) <= 0);
}

static gboolean
ahead_of (EmTask *a, EmTask *b)
{
  if (em_task_get_priority (a) != em_task_get_priority (b))
    return em_task_get_priority (a) > em_task_get_priority (b);
  return em_task_get_serial (a) < em_task_get_serial (b);
}

static void
check_start (EmEngineManager *manager, EmTask *started, Model *model)
{
  g_autoptr(GPtrArray) ready = g_ptr_array_new ();
  g_autoptr(GPtrArray) blockers = g_ptr_array_new ();
  g_autoptr(GDateTime) now = em_time_now ();
  EmDeviceKind busy = 0;

  if (!deps_completed (model, started))
    {
      model->violations++;
      g_string_append_printf (model->report, "%s started before its dependencies\n", em_task_get_id (started));
    }

  for (guint d = 0; d < 3; d++)
    {
      if (em_test_hold_device_in_use (1 << d))
        busy |= 1 << d;
    }
  for (guint i = 0; i < model->tasks->len; i++)
    {
      EmTask *other = g_ptr_array_index (model->tasks, i);

      if (other == started)
        continue;
      if (model_ready (model, other))
        g_ptr_array_add (ready, other);
      if (maybe_ready (model, other, now))
        g_ptr_array_add (blockers, other);
    }

  /* a ready task ahead of the one that started may only be waiting because its
   * devices are busy, or because a task ahead of it waits for one of them (that
   * is what keeps the big ones from starving) */
  for (guint i = 0; i < ready->len; i++)
    {
      EmTask *other = g_ptr_array_index (ready, i);
      EmDeviceKind claims = claims_of (model, other);
      gboolean held_back = (claims & busy) != 0;

      if (!ahead_of (other, started) || em_task_get_priority (other) == em_task_get_priority (started))
        continue;
      for (guint j = 0; j < blockers->len && !held_back; j++)
        {
          EmTask *before = g_ptr_array_index (blockers, j);

          held_back = before != other && ahead_of (before, other) &&
                      (claims_of (model, before) & claims) != 0;
        }
      if (held_back)
        continue;
      model->violations++;
      g_string_append_printf (model->report, "%s (priority %d) started while %s (priority %d) was ready\n",
                              em_task_get_id (started), em_task_get_priority (started),
                              em_task_get_id (other), em_task_get_priority (other));
    }
}

static void
test_randomized (Fixture *fx, gconstpointer data)
{
  const char *actions[] = { "hold_none", "hold_camera", "hold_stage", "hold_focus",
                            "hold_camera_stage", "hold_all" };
  const guint n_tasks = 1500;
  guint32 seed = g_test_rand_int ();
  g_autoptr(GRand) rand = NULL;
  Model model = { fx, g_ptr_array_new (), 0, g_string_new (NULL) };
  g_autoptr(GPtrArray) tasks = model.tasks;
  gboolean all_done;

  if (g_getenv ("EM_TEST_SEED") != NULL)
    seed = (guint32) g_ascii_strtoull (g_getenv ("EM_TEST_SEED"), NULL, 10);
  g_test_message ("seed %u (rerun with EM_TEST_SEED=%u)", seed, seed);
  rand = g_rand_new_with_seed (seed);

  em_engine_manager_set_max_concurrent (fx->manager, 3);
  /* the checks look every dependency up in the manager, which without a
   * store would otherwise forget all but the latest finished tasks */
  g_object_set (fx->manager, "keep-finished", G_MAXUINT, NULL);
  g_signal_connect (fx->manager, "task-started", G_CALLBACK (check_start), &model);

  for (guint i = 0; i < n_tasks; i++)
    {
      g_autoptr(GString) json = g_string_new (NULL);
      guint n_deps = g_rand_int_range (rand, 0, 100) < 20 && tasks->len > 0 ? g_rand_int_range (rand, 1, 3) : 0;

      g_string_append_printf (json, "{\"name\": \"t%u\", \"action\": \"%s\", \"priority\": %d,"
                                    " \"parameters\": {\"duration\": %d, \"fail\": %s}",
                              i, actions[g_rand_int_range (rand, 0, G_N_ELEMENTS (actions))],
                              g_rand_int_range (rand, -3, 4), g_rand_int_range (rand, 0, 4),
                              g_rand_int_range (rand, 0, 100) < 5 ? "true" : "false");
      if (g_rand_int_range (rand, 0, 100) < 5)
        g_string_append_printf (json, ", \"delay\": %g", g_rand_double_range (rand, 0, 0.05));
      if (g_rand_int_range (rand, 0, 100) < 5)
        g_string_append (json, ", \"max_retries\": 1, \"retry_delay\": 0.01");
      if (n_deps > 0)
        {
          g_string_append (json, ", \"depends_on\": [");
          for (guint d = 0; d < n_deps; d++)
            {
              /* mostly recent tasks, so chains form while earlier ones still run */
              guint lo = tasks->len > 30 ? tasks->len - 30 : 0;
              EmTask *dep = g_ptr_array_index (tasks, g_rand_int_range (rand, lo, tasks->len));

              g_string_append_printf (json, "%s\"%s\"", d > 0 ? ", " : "", em_task_get_id (dep));
            }
          g_string_append (json, "]");
        }
      g_string_append (json, "}");
      g_ptr_array_add (tasks, submit (fx, json->str));

      if (g_rand_int_range (rand, 0, 100) < 5)
        {
          EmTask *victim = g_ptr_array_index (tasks, g_rand_int_range (rand, 0, tasks->len));

          em_engine_manager_cancel_task (fx->manager, em_task_get_id (victim), NULL);
        }
      /* let the scheduler work while tasks keep coming */
      if (i % 50 == 0)
        g_main_context_iteration (NULL, FALSE);
    }

  for (gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;;)
    {
      all_done = TRUE;
      for (guint i = 0; i < tasks->len && all_done; i++)
        all_done = em_task_is_finished (g_ptr_array_index (tasks, i));
      if (all_done || g_get_monotonic_time () > deadline)
        break;
      em_test_run_for (20);
    }

  if (!all_done || model.violations > 0 || em_test_hold_get_overlaps () > 0)
    g_test_message ("seed %u:\n%s", seed, model.report->str);
  g_assert_true (all_done);
  g_assert_cmpuint (em_test_hold_get_overlaps (), ==, 0);
  g_assert_cmpuint (model.violations, ==, 0);

  /* dependencies: a completed task's dependencies all completed before it started */
  for (guint i = 0; i < tasks->len; i++)
    {
      EmTask *task = g_ptr_array_index (tasks, i);
      const char * const *deps = em_task_get_depends_on (task);

      if (em_task_get_status (task) != EM_TASK_STATUS_COMPLETED)
        continue;
      for (guint d = 0; deps[d] != NULL; d++)
        {
          EmTask *dep = em_engine_manager_get_task (fx->manager, deps[d]);

          g_assert_cmpint (em_task_get_status (dep), ==, EM_TASK_STATUS_COMPLETED);
          g_assert_true (g_date_time_compare (em_task_get_completed_at (dep), em_task_get_started_at (task)) <= 0);
        }
    }
  g_signal_handlers_disconnect_by_func (fx->manager, check_start, &model);
  g_string_free (model.report, TRUE);
}

/* exclusive batches among other tasks, their items depending on each other and
 * on outside tasks, some cancelled: everything ends, and no device is ever
 * used twice at once */
static void
test_randomized_batches (Fixture *fx, gconstpointer data)
{
  const char *actions[] = { "hold_none", "hold_camera", "hold_stage", "hold_focus",
                            "hold_camera_stage", "hold_all" };
  guint32 seed = g_test_rand_int ();
  g_autoptr(GRand) rand = NULL;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  gboolean all_done = FALSE;

  if (g_getenv ("EM_TEST_SEED") != NULL)
    seed = (guint32) g_ascii_strtoull (g_getenv ("EM_TEST_SEED"), NULL, 10);
  g_test_message ("seed %u (rerun with EM_TEST_SEED=%u)", seed, seed);
  rand = g_rand_new_with_seed (seed);
  em_engine_manager_set_max_concurrent (fx->manager, 3);

  for (guint round = 0; round < 300; round++)
    {
      guint n = g_rand_int_range (rand, 1, 4);
      gboolean batch = g_rand_int_range (rand, 0, 100) < 40;
      g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
      g_autoptr(GError) error = NULL;

      for (guint i = 0; i < (batch ? n : 1); i++)
        {
          g_autoptr(GString) json = g_string_new (NULL);
          gboolean outside = tasks->len > 0 && g_rand_int_range (rand, 0, 100) < 30;
          gboolean inside = batch && i > 0 && g_rand_int_range (rand, 0, 100) < 50;

          g_string_append_printf (json, "{\"name\": \"t\", \"action\": \"%s\", \"priority\": %d,"
                                        " \"parameters\": {\"duration\": %d, \"fail\": %s}",
                                  actions[g_rand_int_range (rand, 0, G_N_ELEMENTS (actions))],
                                  g_rand_int_range (rand, -2, 3), g_rand_int_range (rand, 0, 4),
                                  g_rand_int_range (rand, 0, 100) < 5 ? "true" : "false");
          if (g_rand_int_range (rand, 0, 100) < 10)
            g_string_append_printf (json, ", \"delay\": %g", g_rand_double_range (rand, 0, 0.03));
          if (outside || inside)
            {
              guint lo = tasks->len > 20 ? tasks->len - 20 : 0;

              g_string_append (json, ", \"depends_on\": [");
              if (outside)
                g_string_append_printf (json, "\"%s\"",
                                        em_task_get_id (g_ptr_array_index (tasks, g_rand_int_range (rand, lo, tasks->len))));
              if (inside)
                g_string_append_printf (json, "%s\"#%u\"", outside ? ", " : "", g_rand_int_range (rand, 0, i));
              g_string_append (json, "]");
            }
          g_string_append (json, "}");
          g_ptr_array_add (specs, spec_from (json->str));
        }

      if (batch)
        {
          g_autoptr(GPtrArray) made = em_engine_manager_schedule_batch (fx->manager, specs,
                                                                        g_rand_boolean (rand), &error);

          g_assert_no_error (error);
          g_ptr_array_extend (tasks, made, NULL, NULL);
        }
      else
        {
          EmTask *task = em_engine_manager_schedule_task (fx->manager, g_ptr_array_index (specs, 0), &error);

          g_assert_no_error (error);
          g_ptr_array_add (tasks, task);
        }
      if (g_rand_int_range (rand, 0, 100) < 5)
        em_engine_manager_cancel_task (fx->manager,
                                       em_task_get_id (g_ptr_array_index (tasks, g_rand_int_range (rand, 0, tasks->len))),
                                       NULL);
      if (round % 10 == 0)
        g_main_context_iteration (NULL, FALSE);
    }

  for (gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;;)
    {
      all_done = TRUE;
      for (guint i = 0; i < tasks->len && all_done; i++)
        all_done = em_task_is_finished (g_ptr_array_index (tasks, i));
      if (all_done || g_get_monotonic_time () > deadline)
        break;
      em_test_run_for (20);
    }
  if (!all_done)
    g_test_message ("seed %u: some tasks never ended", seed);
  g_assert_true (all_done);
  g_assert_cmpuint (em_test_hold_get_overlaps (), ==, 0);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add ("/engine/scheduler/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("priority", test_priority);
  ADD ("dependencies", test_dependencies);
  ADD ("dependency-failure-cascades", test_dependency_failure_cascades);
  ADD ("dependency-cancel-cascades", test_dependency_cancel_cascades);
  ADD ("ended-waits-on-nothing", test_ended_waits_on_nothing);
  ADD ("event-times", test_event_times);
  ADD ("unknown-dependency-refused", test_unknown_dependency_refused);
  ADD ("retries", test_retries);
  ADD ("cancel-during-backoff", test_cancel_during_backoff);
  ADD ("retry-run-at", test_retry_run_at);
  ADD ("retry-unsafe-refused", test_retry_unsafe_refused);
  ADD ("delay", test_delay);
  ADD ("delay-rechecks-clock", test_delay_rechecks_clock);
  ADD ("run-at", test_run_at);
  ADD ("run-at-before-epoch", test_run_at_before_epoch);
  ADD ("batch-all-or-nothing", test_batch_all_or_nothing);
  ADD ("exclusive-batch", test_exclusive_batch);
  ADD ("exclusive-batch-waiting-for", test_exclusive_batch_waiting_for);
  ADD ("waiting-for-after-release", test_waiting_for_after_release);
  ADD ("exclusive-batch-outside-dependency", test_exclusive_batch_outside_dependency);
  ADD ("exclusive-batch-outside-cancelled", test_exclusive_batch_outside_cancelled);
  ADD ("device-concurrency", test_device_concurrency);
  ADD ("no-starvation", test_no_starvation);
  ADD ("waiting-for-held-back", test_waiting_for_held_back);
  ADD ("cancel-unblocks-held-back", test_cancel_unblocks_held_back);
  ADD ("max-concurrent", test_max_concurrent);
  ADD ("pause-resume", test_pause_resume);
  ADD ("timeout-during-move", test_timeout_during_move);
  ADD ("long-timeout", test_long_timeout);
  ADD ("timeout-message", test_timeout_message);
  ADD ("timeout-retried", test_timeout_retried);
  ADD ("timeout-answer-in-time", test_timeout_answer_in_time);
  ADD ("priority-with-dependencies", test_priority_with_dependencies);
  ADD ("randomized", test_randomized);
  ADD ("randomized-batches", test_randomized_batches);
#undef ADD

  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
