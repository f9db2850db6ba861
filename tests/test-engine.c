#include "config.h"

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "actions/em-wait-action.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-action-private.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "em-test-util.h"

typedef struct {
  char            *data_dir;
  EmEngineManager *manager;
  EmStage         *stage;
  GPtrArray       *events;   /* EmEvent, in emission order */
  GPtrArray       *started;  /* task ids in start order */
  guint            max_running;
} Fixture;

static void
on_event (EmEngineManager *manager, EmEvent *event, Fixture *fx)
{
  guint running = em_engine_manager_count_tasks (manager, &(EmTaskStatus) { EM_TASK_STATUS_RUNNING });

  g_ptr_array_add (fx->events, em_event_ref (event));
  fx->max_running = MAX (fx->max_running, running);
  if (em_event_get_event_type (event) == EM_EVENT_TASK_STARTED)
    g_ptr_array_add (fx->started, g_strdup (em_task_get_id (em_event_get_task (event))));
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new ("videotestsrc is-live=true", 160, 120);
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = NULL;

  fx->stage = em_sim_stage_new ();
  devices = em_device_set_new (camera, fx->stage, focus);
  em_builtin_actions_register (registry);
  fx->data_dir = em_test_mkdtemp ();
  fx->manager = em_engine_manager_new (registry, devices, fx->data_dir);
  fx->events = g_ptr_array_new_with_free_func ((GDestroyNotify) em_event_unref);
  fx->started = g_ptr_array_new_with_free_func (g_free);
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
  g_ptr_array_unref (fx->started);
  em_test_rmdir (fx->data_dir);
  g_free (fx->data_dir);
}

static EmTask *
schedule (Fixture *fx, const char *action, const char *params_json)
{
  g_autoptr(JsonNode) params = params_json != NULL ? json_from_string (params_json, NULL) : NULL;
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("test", action,
                                                 params != NULL ? json_node_get_object (params) : NULL);
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_schedule_task (fx->manager, spec, &error);

  g_assert_no_error (error);
  g_assert_nonnull (task);
  return task;
}

/* the event types one task went through, e.g. "scheduled started completed" */
static char *
events_of (Fixture *fx, EmTask *task)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_task (event) != task || em_event_get_event_type (event) == EM_EVENT_TASK_PROGRESS)
        continue;
      if (out->len > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, em_event_get_type_name (event) + strlen ("task_"));
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
assert_seq_contiguous (Fixture *fx)
{
  for (guint i = 0; i < fx->events->len; i++)
    g_assert_cmpuint (em_event_get_seq (g_ptr_array_index (fx->events, i)), ==, i + 1);
  g_assert_cmpuint (em_engine_manager_get_last_event_seq (fx->manager), ==, fx->events->len);
}

static void
test_complete (Fixture *fx, gconstpointer data)
{
  EmTask *task = schedule (fx, "wait", "{\"duration\": 20}");
  g_autofree char *seen = NULL;

  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 5000);

  seen = events_of (fx, task);
  g_assert_cmpstr (seen, ==, "scheduled started completed");
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpfloat (json_object_get_double_member (em_task_get_result (task), "waited"), >=, 20.0);
  g_assert_nonnull (em_task_get_started_at (task));
  g_assert_nonnull (em_task_get_completed_at (task));
  assert_seq_contiguous (fx);
}

static void
test_fail (Fixture *fx, gconstpointer data)
{
  EmTask *task = schedule (fx, "move_stage", "{\"x\": 60000}");
  g_autofree char *seen = NULL;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 5000);
  seen = events_of (fx, task);
  g_assert_cmpstr (seen, ==, "scheduled started failed");
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
  /* the reason names the axis and the travel */
  g_assert_nonnull (strstr (em_task_get_error (task), "x"));
  g_assert_nonnull (strstr (em_task_get_error (task), "50000"));
  g_assert_null (em_task_get_result (task));
}

static void
test_cancel_pending (Fixture *fx, gconstpointer data)
{
  EmTask *first = schedule (fx, "wait", "{\"duration\": 200}");
  EmTask *second = schedule (fx, "wait", "{\"duration\": 10}");
  g_autoptr(GError) error = NULL;
  g_autofree char *seen = NULL;

  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (second), &error));
  g_assert_no_error (error);
  g_assert_cmpint (em_task_get_status (second), ==, EM_TASK_STATUS_CANCELLED);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (first), 5000);
  seen = events_of (fx, second);
  g_assert_cmpstr (seen, ==, "scheduled cancelled");
  g_assert_null (em_task_get_started_at (second));
  g_assert_cmpint (em_task_get_status (first), ==, EM_TASK_STATUS_COMPLETED);
  assert_seq_contiguous (fx);
}

static void
test_cancel_running_move (Fixture *fx, gconstpointer data)
{
  /* 2000 µm at 2000 µm/s: one second of travel */
  EmTask *task = schedule (fx, "move_stage", "{\"x\": 2000, \"speed\": 2000}");
  EmStagePosition at_cancel, later;
  g_autoptr(GError) error = NULL;
  g_autofree char *seen = NULL;

  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 5000);
  em_test_run_for (200);

  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (task), &error));
  g_assert_no_error (error);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);

  em_stage_get_position (fx->stage, &at_cancel);
  g_assert_cmpfloat (at_cancel.x, >, 0.0);
  g_assert_cmpfloat (at_cancel.x, <, 2000.0);

  /* past the time the move would have ended: nothing moved on, nothing flipped */
  em_test_run_for (1200);
  em_stage_get_position (fx->stage, &later);
  g_assert_cmpfloat (later.x, ==, at_cancel.x);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
  seen = events_of (fx, task);
  g_assert_cmpstr (seen, ==, "scheduled started cancelled");
}

static void
test_cancel_running_capture (Fixture *fx, gconstpointer data)
{
  EmTask *task = schedule (fx, "capture_image", "{\"exposure\": 800}");
  g_autofree char *images = g_build_filename (fx->data_dir, "images", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *seen = NULL;
  g_autoptr(GDir) dir = NULL;

  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 5000);
  em_test_run_for (100);

  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (task), &error));
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  em_test_run_for (1000);

  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
  g_assert_null (em_task_get_result (task));
  seen = events_of (fx, task);
  g_assert_cmpstr (seen, ==, "scheduled started cancelled");

  /* the capture was abandoned: no image was written */
  dir = g_dir_open (images, 0, NULL);
  g_assert_true (dir == NULL || g_dir_read_name (dir) == NULL);
}

static void
test_capture_completes (Fixture *fx, gconstpointer data)
{
  EmTask *task = schedule (fx, "capture_image", NULL);
  const char *path;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 10000);
  g_assert_cmpstr (em_task_get_error (task), ==, NULL);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
  path = json_object_get_string_member (em_task_get_result (task), "path");
  g_assert_true (g_str_has_prefix (path, fx->data_dir));
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
}

static void
test_fifo_order (Fixture *fx, gconstpointer data)
{
  EmTask *tasks[6];

  em_engine_manager_set_max_concurrent (fx->manager, 1);
  for (guint i = 0; i < G_N_ELEMENTS (tasks); i++)
    tasks[i] = schedule (fx, "wait", "{\"duration\": 5}");
  EM_TEST_WAIT_UNTIL (em_task_is_finished (tasks[G_N_ELEMENTS (tasks) - 1]), 5000);

  g_assert_cmpuint (fx->started->len, ==, G_N_ELEMENTS (tasks));
  for (guint i = 0; i < G_N_ELEMENTS (tasks); i++)
    {
      g_assert_cmpstr (g_ptr_array_index (fx->started, i), ==, em_task_get_id (tasks[i]));
      g_assert_cmpint (em_task_get_status (tasks[i]), ==, EM_TASK_STATUS_COMPLETED);
    }
  g_assert_cmpuint (fx->max_running, ==, 1);
}

static void
test_cancel_errors (Fixture *fx, gconstpointer data)
{
  EmTask *task = schedule (fx, "wait", NULL);
  g_autoptr(GError) not_found = NULL;
  g_autoptr(GError) conflict = NULL;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 5000);

  g_assert_false (em_engine_manager_cancel_task (fx->manager, "no-such-task", &not_found));
  g_assert_error (not_found, EM_ERROR, EM_ERROR_NOT_FOUND);

  g_assert_false (em_engine_manager_cancel_task (fx->manager, em_task_get_id (task), &conflict));
  g_assert_error (conflict, EM_ERROR, EM_ERROR_CONFLICT);
  g_assert_nonnull (strstr (conflict->message, "completed"));
}

static void
test_refused_at_submission (Fixture *fx, gconstpointer data)
{
  g_autofree char *long_name = g_strnfill (257, 'n');
  struct {
    const char *name;
    const char *action;
    const char *params;
    const char *field;
  } cases[] = {
    { NULL, "wait", NULL, "name" },
    { "", "wait", NULL, "name" },
    { long_name, "wait", NULL, "name" },
    { "a", NULL, NULL, "action" },
    { "a", "explode", NULL, "action" },
    { "a", "wait", "{\"duration\": \"long\"}", "parameters.duration" },
    { "a", "wait", "{\"duration\": -1}", "parameters.duration" },
    { "a", "wait", "{\"speed\": 1}", "parameters.speed" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonNode) params = cases[i].params ? json_from_string (cases[i].params, NULL) : NULL;
      g_autoptr(EmTaskSpec) spec = em_task_spec_new (cases[i].name, cases[i].action,
                                                     params ? json_node_get_object (params) : NULL);
      g_autoptr(GError) error = NULL;

      g_assert_null (em_engine_manager_schedule_task (fx->manager, spec, &error));
      g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, cases[i].field));
    }

  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

static void
test_list_by_status (Fixture *fx, gconstpointer data)
{
  const guint n = 2000;
  EmTaskStatus pending = EM_TASK_STATUS_PENDING;
  EmTaskStatus cancelled = EM_TASK_STATUS_CANCELLED;
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  guint total = 0;

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 100000}"));
  /* cancel every third one */
  for (guint i = 0; i < n; i += 3)
    g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (g_ptr_array_index (tasks, i)), NULL));

  all = em_engine_manager_list_tasks (fx->manager, NULL, 0, 0, &total);
  g_assert_cmpuint (total, ==, n);
  g_assert_cmpuint (all->len, ==, n);
  g_assert_true (g_ptr_array_index (all, 0) == g_ptr_array_index (tasks, 0));
  g_assert_true (g_ptr_array_index (all, n - 1) == g_ptr_array_index (tasks, n - 1));

  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &cancelled), ==, (n + 2) / 3);

  /* a page of cancelled tasks, oldest first, straight from the index */
  page = em_engine_manager_list_tasks (fx->manager, &cancelled, 10, 5, &total);
  g_assert_cmpuint (total, ==, (n + 2) / 3);
  g_assert_cmpuint (page->len, ==, 5);
  for (guint i = 0; i < page->len; i++)
    g_assert_true (g_ptr_array_index (page, i) == g_ptr_array_index (tasks, (10 + i) * 3));
  g_clear_pointer (&page, g_ptr_array_unref);

  /* the first ones are running (as many as may run at once), the rest pending */
  EM_TEST_WAIT_UNTIL (em_engine_manager_is_busy (fx->manager), 5000);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_RUNNING }),
                    ==, EM_ENGINE_DEFAULT_MAX_CONCURRENT);
  page = em_engine_manager_list_tasks (fx->manager, &pending, 0, 0, &total);
  g_assert_cmpuint (total, ==, n - (n + 2) / 3 - EM_ENGINE_DEFAULT_MAX_CONCURRENT);
  for (guint i = 0; i < page->len; i++)
    g_assert_cmpint (em_task_get_status (g_ptr_array_index (page, i)), ==, EM_TASK_STATUS_PENDING);
  g_clear_pointer (&page, g_ptr_array_unref);

  page = em_engine_manager_list_tasks (fx->manager, &pending, total + 5, 10, NULL);
  g_assert_cmpuint (page->len, ==, 0);
}

static void
cancel_on_schedule (EmEngineManager *manager, EmTask *task, gpointer user_data)
{
  em_engine_manager_cancel_task (manager, em_task_get_id (task), NULL);
}

static void
test_reentrant_event_order (Fixture *fx, gconstpointer data)
{
  EmTask *task;
  g_autofree char *seen = NULL;

  g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (cancel_on_schedule), NULL);
  task = schedule (fx, "wait", NULL);

  seen = events_of (fx, task);
  g_assert_cmpstr (seen, ==, "scheduled cancelled");
  assert_seq_contiguous (fx);
}

static void
test_progress_throttled (Fixture *fx, gconstpointer data)
{
  EmTask *task = schedule (fx, "wait", "{\"duration\": 600}");
  guint progress_events = 0;
  gdouble last = -1.0;
  gint last_progress_index = -1, completed_index = -1;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 5000);
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_event_type (event) == EM_EVENT_TASK_PROGRESS)
        {
          g_autoptr(JsonNode) node = em_event_to_json (event);
          gdouble value = json_object_get_double_member (json_node_get_object (node), "progress");

          g_assert_cmpfloat (value, >, last);
          last = value;
          progress_events++;
          last_progress_index = i;
        }
      else if (em_event_get_event_type (event) == EM_EVENT_TASK_COMPLETED)
        completed_index = i;
    }
  /* ticks come every 50 ms, events at most every 100 ms */
  g_assert_cmpuint (progress_events, >=, 3);
  g_assert_cmpuint (progress_events, <=, 8);
  g_assert_cmpint (last_progress_index, <, completed_index);
}

/* a progress event reads the task as it is when it goes out: still running, and
 * at the value the action reported last, never the 1 a completed task reads */
static void
progress_status_cb (EmEngineManager *manager, EmEvent *event, GString *seen)
{
  EmTask *task = em_event_get_task (event);
  g_autoptr(JsonNode) node = NULL;

  if (em_event_get_event_type (event) != EM_EVENT_TASK_PROGRESS)
    return;
  node = em_event_to_json (event);
  g_string_append_printf (seen, "%s%s@%g", seen->len > 0 ? " " : "",
                          em_task_status_to_string (em_task_get_status (task)),
                          json_object_get_double_member (json_node_get_object (node), "progress"));
}

static void
test_last_progress_before_status (Fixture *fx, gconstpointer data)
{
  g_autoptr(GString) seen = g_string_new (NULL);
  EmTask *moved, *cancelled;
  gint last_progress_index = -1, cancelled_index = -1;

  g_signal_connect (fx->manager, "event", G_CALLBACK (progress_status_cb), seen);

  /* the stage reports every 20 ms, events go out every 100 ms: the final 1.0 is
   * still held back when the move ends */
  moved = schedule (fx, "move_stage", "{\"x\": 300}");
  EM_TEST_WAIT_UNTIL (em_task_is_finished (moved), 5000);
  g_assert_cmpint (em_task_get_status (moved), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_nonnull (strstr (seen->str, "running@1"));
  g_assert_null (strstr (seen->str, "completed"));

  /* cancelled while a value is held back: it goes out first, as it was */
  cancelled = schedule (fx, "wait", "{\"duration\": 100000}");
  EM_TEST_WAIT_UNTIL (em_task_get_progress (cancelled) > 0.0, 5000);
  em_engine_manager_cancel_task (fx->manager, em_task_get_id (cancelled), NULL);
  g_assert_null (strstr (seen->str, "cancelled"));
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_task (event) != cancelled)
        continue;
      if (em_event_get_event_type (event) == EM_EVENT_TASK_PROGRESS)
        last_progress_index = i;
      else if (em_event_get_event_type (event) == EM_EVENT_TASK_CANCELLED)
        cancelled_index = i;
    }
  g_assert_cmpint (last_progress_index, >=, 0);
  g_assert_cmpint (last_progress_index, <, cancelled_index);
  assert_seq_contiguous (fx);
  g_signal_handlers_disconnect_by_data (fx->manager, seen);
}

static void
test_event_json (Fixture *fx, gconstpointer data)
{
  EmTask *task = schedule (fx, "wait", NULL);
  g_autoptr(JsonNode) node = NULL;
  JsonObject *object;

  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 5000);
  node = em_event_to_json (g_ptr_array_index (fx->events, 0));
  object = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (object, "type"), ==, "task_scheduled");
  g_assert_cmpstr (json_object_get_string_member (object, "task_id"), ==, em_task_get_id (task));
  g_assert_cmpstr (json_object_get_string_member (object, "name"), ==, "test");
  g_assert_cmpstr (json_object_get_string_member (object, "action"), ==, "wait");
  g_assert_true (json_object_has_member (object, "timestamp"));
  g_assert_cmpint (json_object_get_int_member (object, "seq"), ==, 1);
  g_clear_pointer (&node, json_node_unref);

  node = em_event_to_json (g_ptr_array_index (fx->events, fx->events->len - 1));
  object = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (object, "type"), ==, "task_completed");
  g_assert_nonnull (json_object_get_object_member (object, "result"));
}

static void
test_shutdown (Fixture *fx, gconstpointer data)
{
  EmTask *running = schedule (fx, "wait", "{\"duration\": 100000}");
  EmTask *pending = schedule (fx, "wait", NULL);
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("late", "wait", NULL);
  g_autoptr(GError) error = NULL;

  EM_TEST_WAIT_UNTIL (em_task_get_status (running) == EM_TASK_STATUS_RUNNING, 5000);
  em_engine_manager_shutdown (fx->manager);
  g_assert_cmpint (em_task_get_status (running), ==, EM_TASK_STATUS_CANCELLED);
  g_assert_cmpint (em_task_get_status (pending), ==, EM_TASK_STATUS_CANCELLED);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);

  g_assert_null (em_engine_manager_schedule_task (fx->manager, spec, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
}

/* without a store a stop cancels every pending task: one that waits on a
 * pending task ends cancelled as one that waits on a running task does, not
 * failed by its dependency's cancellation */
static void
test_shutdown_dependents (Fixture *fx, gconstpointer data)
{
  EmTask *running = schedule (fx, "wait", "{\"duration\": 100000}");
  g_autoptr(EmTaskSpec) later_spec = em_task_spec_new ("later", "wait", NULL);
  g_autoptr(EmTaskSpec) after_running_spec = em_task_spec_new ("after-running", "wait", NULL);
  g_autoptr(EmTaskSpec) after_later_spec = em_task_spec_new ("after-later", "wait", NULL);
  const char *on_running[] = { em_task_get_id (running), NULL };
  g_autoptr(GError) error = NULL;
  EmTask *later, *after_running, *after_later;

  EM_TEST_WAIT_UNTIL (em_task_get_status (running) == EM_TASK_STATUS_RUNNING, 5000);
  later_spec->delay = 3600;
  later = em_engine_manager_schedule_task (fx->manager, later_spec, &error);
  g_assert_no_error (error);
  after_running_spec->depends_on = g_strdupv ((char **) on_running);
  after_running = em_engine_manager_schedule_task (fx->manager, after_running_spec, &error);
  g_assert_no_error (error);
  {
    const char *on_later[] = { em_task_get_id (later), NULL };

    after_later_spec->depends_on = g_strdupv ((char **) on_later);
  }
  after_later = em_engine_manager_schedule_task (fx->manager, after_later_spec, &error);
  g_assert_no_error (error);

  em_engine_manager_shutdown (fx->manager);
  g_assert_cmpstr (em_task_status_to_string (em_task_get_status (later)), ==, "cancelled");
  g_assert_cmpstr (em_task_status_to_string (em_task_get_status (after_running)), ==, "cancelled");
  g_assert_cmpstr (em_task_status_to_string (em_task_get_status (after_later)), ==, "cancelled");
  g_assert_null (em_task_get_error (after_later));
  g_assert_cmpstr (em_task_status_to_string (em_task_get_status (running)), ==, "cancelled");
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
}

static void
progress_append_cb (gdouble  fraction,
                    gpointer user_data)
{
  g_array_append_val ((GArray *) user_data, fraction);
}

static void
async_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* a long wait reports its progress by the percent, not by the 50 ms tick:
 * each report becomes an event the log keeps. 6 s is 120 ticks */
static void
test_wait_progress_steps (void)
{
  g_autoptr(EmAction) action = em_wait_action_new ();
  g_autoptr(GArray) progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(JsonNode) parameters = json_from_string ("{\"duration\": 6000}", NULL);
  g_autoptr(EmActionContext) context = em_action_context_new (NULL, "wait", NULL,
                                                              progress_append_cb, progress);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(JsonObject) waited = NULL;
  g_autoptr(GError) error = NULL;

  em_action_run_async (action, context, json_node_get_object (parameters), NULL,
                       async_result_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, 20000);
  waited = em_action_run_finish (action, result, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (json_object_get_double_member (waited, "waited"), >=, 6000.0);
  g_test_message ("%u reports", progress->len);
  g_assert_cmpuint (progress->len, >=, 50);
  g_assert_cmpuint (progress->len, <=, 100);
  for (guint i = 1; i < progress->len; i++)
    g_assert_cmpfloat (g_array_index (progress, gdouble, i) - g_array_index (progress, gdouble, i - 1),
                       >=, 0.01);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_test_add_func ("/engine/wait/progress-steps", test_wait_progress_steps);

#define ADD(path, func) \
  g_test_add ("/engine/manager/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("complete", test_complete);
  ADD ("fail", test_fail);
  ADD ("cancel-pending", test_cancel_pending);
  ADD ("cancel-running-move", test_cancel_running_move);
  ADD ("cancel-running-capture", test_cancel_running_capture);
  ADD ("capture-completes", test_capture_completes);
  ADD ("fifo-order", test_fifo_order);
  ADD ("cancel-errors", test_cancel_errors);
  ADD ("refused-at-submission", test_refused_at_submission);
  ADD ("list-by-status", test_list_by_status);
  ADD ("reentrant-event-order", test_reentrant_event_order);
  ADD ("progress-throttled", test_progress_throttled);
  ADD ("last-progress-before-status", test_last_progress_before_status);
  ADD ("event-json", test_event_json);
  ADD ("shutdown", test_shutdown);
  ADD ("shutdown-dependents", test_shutdown_dependents);
#undef ADD

  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
