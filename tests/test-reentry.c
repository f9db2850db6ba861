#include "config.h"

#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "em-test-step-action.h"
#include "em-test-util.h"

/*
 * What a listener of the engine's signals may do inside its handler, through
 * the public API: cancel, delete, schedule, pause, shut down. Whatever it
 * does, every task's events must stay in a valid order, the seqs gapless, and
 * the record must hold each task's final state across a restart.
 */

typedef struct {
  char            *data_dir;
  EmEngineManager *manager;
  GPtrArray       *events;   /* EmEvent seen by the current manager, in order */
} Fixture;

static void
on_event (EmEngineManager *manager, EmEvent *event, Fixture *fx)
{
  g_ptr_array_add (fx->events, em_event_ref (event));
}

static void
open_manager (Fixture *fx, gboolean with_store)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new ("videotestsrc is-live=true", 160, 120);
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);
  g_autoptr(EmAction) step = em_test_step_action_new ();
  g_autoptr(GError) error = NULL;

  g_assert_null (fx->manager);
  em_builtin_actions_register (registry);
  em_action_registry_add (registry, step);
  g_ptr_array_set_size (fx->events, 0);
  fx->manager = em_engine_manager_new (registry, devices, fx->data_dir);
  g_signal_connect (fx->manager, "event", G_CALLBACK (on_event), fx);
  if (with_store)
    {
      g_assert_true (em_engine_manager_open_store (fx->manager, &error));
      g_assert_no_error (error);
    }
}

static void
close_manager (Fixture *fx)
{
  em_engine_manager_shutdown (fx->manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  g_assert_finalize_object (g_steal_pointer (&fx->manager));
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->data_dir = em_test_mkdtemp ();
  fx->events = g_ptr_array_new_with_free_func ((GDestroyNotify) em_event_unref);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->manager != NULL)
    close_manager (fx);
  g_ptr_array_unref (fx->events);
  em_test_rmdir (fx->data_dir);
  g_free (fx->data_dir);
}

static EmTask *
schedule (Fixture *fx, const char *action, const char *params_json, guint max_retries)
{
  g_autoptr(JsonNode) params = params_json != NULL ? json_from_string (params_json, NULL) : NULL;
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("reentry", action,
                                                 params != NULL ? json_node_get_object (params) : NULL);
  g_autoptr(GError) error = NULL;
  EmTask *task;

  spec->max_retries = max_retries;
  spec->retry_delay = 0.01;
  task = em_engine_manager_schedule_task (fx->manager, spec, &error);
  g_assert_no_error (error);
  g_assert_nonnull (task);
  return task;
}

static void
got_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static void
sync_store (Fixture *fx)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  em_engine_manager_sync_async (fx->manager, NULL, got_result, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, 10000);
  g_assert_true (em_engine_manager_sync_finish (fx->manager, result, &error));
  g_assert_no_error (error);
}

/* the event types one task went through, e.g. "scheduled started completed";
 * progress as "progress" */
static char *
events_of (Fixture *fx, const char *id)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);
      EmTask *task = em_event_get_task (event);

      if (task == NULL || g_strcmp0 (em_task_get_id (task), id) != 0)
        continue;
      if (out->len > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, em_event_get_type_name (event) + strlen ("task_"));
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* seqs grow by one, no task has an event after its final one, and none
 * starts before the tasks it depends on completed */
static void
assert_events_valid (Fixture *fx)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) ended = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);
      EmTask *task = em_event_get_task (event);
      EmEventType type = em_event_get_event_type (event);
      const char *id = task != NULL ? em_task_get_id (task) : NULL;

      if (i > 0)
        g_assert_cmpuint (em_event_get_seq (event), ==,
                          em_event_get_seq (g_ptr_array_index (fx->events, i - 1)) + 1);
      if (task == NULL)
        continue;
      if (g_hash_table_contains (ended, id))
        g_error ("%s of task %s after its final event", em_event_get_type_name (event), id);
      g_hash_table_add (seen, (gpointer) id);
      if (type == EM_EVENT_TASK_STARTED)
        {
          const char * const *deps = em_task_get_depends_on (task);

          for (guint d = 0; deps != NULL && deps[d] != NULL; d++)
            if (g_hash_table_contains (seen, deps[d]) &&
                GPOINTER_TO_INT (g_hash_table_lookup (ended, deps[d])) != EM_EVENT_TASK_COMPLETED)
              g_error ("task %s started before its dependency %s completed", id, deps[d]);
        }
      if (type == EM_EVENT_TASK_COMPLETED || type == EM_EVENT_TASK_FAILED ||
          type == EM_EVENT_TASK_CANCELLED)
        g_hash_table_insert (ended, (gpointer) id, GINT_TO_POINTER (type));
    }
  g_assert_cmpuint (em_engine_manager_get_last_event_seq (fx->manager), ==,
                    fx->events->len == 0 ? 0
                    : em_event_get_seq (g_ptr_array_index (fx->events, fx->events->len - 1)));
}

/* the status a restarted manager finds for @id */
static EmTaskStatus
status_after_restart (Fixture *fx, const char *id)
{
  EmTask *task;

  sync_store (fx);
  close_manager (fx);
  open_manager (fx, TRUE);
  task = em_engine_manager_get_task (fx->manager, id);
  g_assert_nonnull (task);
  return em_task_get_status (task);
}

/* --- a listener cancels the task whose last progress goes out as it ends --- */

static void
cancel_on_last_progress (EmEngineManager *manager, EmTask *task, gdouble fraction, gpointer data)
{
  g_autoptr(GError) error = NULL;

  if (fraction < 0.5)
    return;
  g_assert_true (em_engine_manager_cancel_task (manager, em_task_get_id (task), &error));
  g_assert_no_error (error);
}

/* the progress that ends an attempt goes out before its outcome: a listener
 * that cancels the task then has the last word, and nothing flips it after */
static void
test_cancel_on_last_progress (Fixture *fx, gconstpointer data)
{
  const char *params = data;
  /* "retry": fails, with retries left */
  gboolean retry = g_str_has_prefix (params, "retry");
  g_autofree char *id = NULL;
  g_autofree char *seen = NULL;
  EmTask *task;

  open_manager (fx, TRUE);
  g_signal_connect (fx->manager, "task-progress", G_CALLBACK (cancel_on_last_progress), NULL);
  task = schedule (fx, "step", retry ? params + strlen ("retry") : params, retry ? 2 : 0);
  id = g_strdup (em_task_get_id (task));
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task) && !em_engine_manager_is_busy (fx->manager), 5000);
  em_test_run_for (50);

  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
  seen = events_of (fx, id);
  g_assert_cmpstr (seen, ==, "scheduled started progress progress cancelled");
  assert_events_valid (fx);
  g_assert_cmpint (em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_CANCELLED }), ==, 1);
  g_assert_cmpint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 1);
  g_assert_cmpint (status_after_restart (fx, id), ==, EM_TASK_STATUS_CANCELLED);
}

/* cancelling sends the last progress first: a listener that cancels on it
 * cancels once, and the cancellation it interrupted does not do it again */
static void
test_cancel_with_progress_pending (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *seen = NULL;
  EmTask *task;

  open_manager (fx, TRUE);
  g_signal_connect (fx->manager, "task-progress", G_CALLBACK (cancel_on_last_progress), NULL);
  task = schedule (fx, "step", "{\"duration\": 200}", 0);
  id = g_strdup (em_task_get_id (task));
  /* started: 0.25 went out, 0.5 waits behind the rate limit */
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 5000);
  g_assert_true (em_engine_manager_cancel_task (fx->manager, id, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);

  seen = events_of (fx, id);
  g_assert_cmpstr (seen, ==, "scheduled started progress progress cancelled");
  assert_events_valid (fx);
  g_assert_cmpint (status_after_restart (fx, id), ==, EM_TASK_STATUS_CANCELLED);
}

/* --- a listener of the task's properties ends it mid-transition --- */

static void
cancel_on_status (EmTask *task, GParamSpec *pspec, gpointer data)
{
  g_autoptr(GError) error = NULL;
  EmTaskStatus when = GPOINTER_TO_INT (data);
  EmEngineManager *manager = g_object_get_data (G_OBJECT (task), "manager");

  if (em_task_get_status (task) != when)
    return;
  g_signal_handlers_disconnect_by_func (task, cancel_on_status, data);
  g_assert_true (em_engine_manager_cancel_task (manager, em_task_get_id (task), &error));
  g_assert_no_error (error);
}

/* notify::status comes before the event of the change is sent, but after
 * it is recorded: a listener that cancels the task there ends it, its
 * cancellation coming after the change it interrupted, and the action of
 * a start so cancelled never runs */
static void
test_cancel_on_status (Fixture *fx, gconstpointer data)
{
  gboolean retry = g_strcmp0 (data, "retry") == 0;
  g_autofree char *id = NULL;
  g_autofree char *seen = NULL;
  EmTask *task;

  open_manager (fx, TRUE);
  task = schedule (fx, "step", retry ? "{\"fail\": true}" : "{\"duration\": 200}", retry ? 2 : 0);
  id = g_strdup (em_task_get_id (task));
  g_object_set_data (G_OBJECT (task), "manager", fx->manager);
  /* running: the start; pending again: the retry */
  g_signal_connect (task, "notify::status", G_CALLBACK (cancel_on_status),
                    GINT_TO_POINTER (retry ? EM_TASK_STATUS_PENDING : EM_TASK_STATUS_RUNNING));
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task) && !em_engine_manager_is_busy (fx->manager), 5000);
  em_test_run_for (50);

  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
  seen = events_of (fx, id);
  /* the change's event is recorded with it, before its listeners hear of it */
  g_assert_cmpstr (seen, ==, retry ? "scheduled started progress progress retrying cancelled"
                                   : "scheduled started cancelled");
  assert_events_valid (fx);
  g_assert_cmpint (status_after_restart (fx, id), ==, EM_TASK_STATUS_CANCELLED);
}

static void
cancel_on_progress (EmTask *task, GParamSpec *pspec, EmEngineManager *manager)
{
  g_autoptr(GError) error = NULL;

  g_signal_handlers_disconnect_by_func (task, cancel_on_progress, manager);
  g_assert_true (em_engine_manager_cancel_task (manager, em_task_get_id (task), &error));
  g_assert_no_error (error);
}

/* a listener of notify::progress that cancels the task: the progress it
 * heard of is not sent after the cancellation */
static void
test_cancel_on_progress_notify (Fixture *fx, gconstpointer data)
{
  g_autofree char *id = NULL;
  g_autofree char *seen = NULL;
  EmTask *task;

  open_manager (fx, TRUE);
  task = schedule (fx, "step", "{\"duration\": 50}", 0);
  id = g_strdup (em_task_get_id (task));
  g_signal_connect (task, "notify::progress", G_CALLBACK (cancel_on_progress), fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task) && !em_engine_manager_is_busy (fx->manager), 5000);
  em_test_run_for (150);

  seen = events_of (fx, id);
  g_assert_cmpstr (seen, ==, "scheduled started cancelled");
  assert_events_valid (fx);
  g_assert_cmpint (status_after_restart (fx, id), ==, EM_TASK_STATUS_CANCELLED);
}

/* --- a listener of the queue's state changes it back --- */

static void
undo_pause (EmEngineManager *manager, GParamSpec *pspec, gpointer data)
{
  gboolean paused = em_engine_manager_get_paused (manager);

  g_signal_handlers_disconnect_by_func (manager, undo_pause, data);
  if (paused)
    em_engine_manager_resume (manager);
  else
    em_engine_manager_pause (manager);
}

/* the queue's events follow its changes in order, so the last one says the
 * state a restart comes back to */
static void
test_pause_undone_in_notify (Fixture *fx, gconstpointer data)
{
  gboolean pause = g_strcmp0 (data, "pause") == 0;
  GPtrArray *events;

  open_manager (fx, TRUE);
  if (!pause)
    em_engine_manager_pause (fx->manager);
  g_ptr_array_set_size (fx->events, 0);
  g_signal_connect (fx->manager, "notify::paused", G_CALLBACK (undo_pause), NULL);
  if (pause)
    em_engine_manager_pause (fx->manager);
  else
    em_engine_manager_resume (fx->manager);

  events = fx->events;
  g_assert_cmpuint (events->len, ==, 2);
  g_assert_cmpint (em_event_get_event_type (g_ptr_array_index (events, 0)), ==,
                   pause ? EM_EVENT_QUEUE_PAUSED : EM_EVENT_QUEUE_RESUMED);
  g_assert_cmpint (em_event_get_event_type (g_ptr_array_index (events, 1)), ==,
                   pause ? EM_EVENT_QUEUE_RESUMED : EM_EVENT_QUEUE_PAUSED);
  assert_events_valid (fx);
  g_assert_cmpint (em_engine_manager_get_paused (fx->manager), ==, !pause);

  sync_store (fx);
  close_manager (fx);
  open_manager (fx, TRUE);
  g_assert_cmpint (em_engine_manager_get_paused (fx->manager), ==, !pause);
}

/* --- a listener cancels tasks as the scheduler tells them what they wait for --- */

static void
cancel_if_waiting (EmTask *task, GParamSpec *pspec, EmEngineManager *manager)
{
  g_autoptr(GError) error = NULL;
  const char * const *waiting_for = em_task_get_waiting_for (task);

  if (waiting_for == NULL || waiting_for[0] == NULL || em_task_is_finished (task))
    return;
  g_assert_true (em_engine_manager_cancel_task (manager, em_task_get_id (task), &error));
  g_assert_no_error (error);
}

/* tasks that would have to wait for the stage are cancelled by a listener
 * of their waiting_for, while the scheduler walks its queue to set it */
static void
test_cancel_on_waiting_for (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  EmTask *first, *mover;

  open_manager (fx, TRUE);
  em_engine_manager_set_max_concurrent (fx->manager, 1);
  first = schedule (fx, "step", "{\"duration\": 100}", 0);
  EM_TEST_WAIT_UNTIL (em_task_get_status (first) == EM_TASK_STATUS_RUNNING, 5000);
  /* ready while the stage is free; the first of them takes it once the
   * step ends, and the others then wait for it */
  mover = schedule (fx, "move_stage", "{\"x\": 10}", 0);
  for (guint i = 0; i < 3; i++)
    {
      EmTask *task = schedule (fx, "move_stage", "{\"x\": 20}", 0);

      g_signal_connect (task, "notify::waiting-for", G_CALLBACK (cancel_if_waiting), fx->manager);
      g_ptr_array_add (ids, g_strdup (em_task_get_id (task)));
    }
  EM_TEST_WAIT_UNTIL (em_task_is_finished (mover) && !em_engine_manager_is_busy (fx->manager), 5000);

  g_assert_cmpint (em_task_get_status (mover), ==, EM_TASK_STATUS_COMPLETED);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autofree char *seen = events_of (fx, g_ptr_array_index (ids, i));
      EmTask *task = em_engine_manager_get_task (fx->manager, g_ptr_array_index (ids, i));

      g_assert_cmpstr (seen, ==, "scheduled cancelled");
      g_assert_cmpstrv (em_task_get_waiting_for (task), ((const char * const []) { NULL }));
    }
  assert_events_valid (fx);
  g_assert_cmpint (em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_PENDING }), ==, 0);
  for (guint i = 0; i < ids->len; i++)
    g_assert_cmpint (status_after_restart (fx, g_ptr_array_index (ids, i)), ==, EM_TASK_STATUS_CANCELLED);
}

/* --- a listener deletes history as a task finishes --- */

typedef struct {
  guint asked;
  guint answered;
  guint deleted;
} Deletions;

static void
deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  Deletions *deletions = user_data;
  guint count = 0;

  g_assert_true (em_engine_manager_delete_tasks_finish (EM_ENGINE_MANAGER (source), result,
                                                        &count, &error));
  g_assert_no_error (error);
  deletions->answered++;
  deletions->deleted += count;
}

static void
delete_finished (EmEngineManager *manager, EmTask *task, Deletions *deletions)
{
  g_auto(EmTaskQuery) query;

  em_task_query_init (&query);
  query.statuses = EM_TASK_QUERY_FINISHED;
  deletions->asked++;
  em_engine_manager_delete_tasks_async (manager, &query, NULL, deleted_cb, deletions);
}

/* without a store, deleting drops tasks from memory: asked by a listener of
 * a task's end, while the engine still finishes that task (its batch, its
 * dependents), it must not pull the task from under it */
static void
test_delete_on_end (Fixture *fx, gconstpointer data)
{
  const char *signal = data;
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first_id = NULL;
  g_autofree char *seen = NULL;
  Deletions deletions = { 0, };
  EmTask *second;

  open_manager (fx, FALSE);
  g_signal_connect (fx->manager, signal, G_CALLBACK (delete_finished), &deletions);
  /* the second waits for the first, in one batch */
  g_ptr_array_add (specs, em_task_spec_new ("first", "step", NULL));
  g_ptr_array_add (specs, em_task_spec_new ("second", "step", NULL));
  ((EmTaskSpec *) g_ptr_array_index (specs, 1))->depends_on = g_strdupv ((char *[]) { "#0", NULL });
  if (g_str_equal (signal, "task-failed"))
    json_object_set_boolean_member (((EmTaskSpec *) g_ptr_array_index (specs, 0))->parameters = json_object_new (),
                                    "fail", TRUE);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);
  first_id = g_strdup (em_task_get_id (g_ptr_array_index (tasks, 0)));
  second = g_object_ref (g_ptr_array_index (tasks, 1));

  EM_TEST_WAIT_UNTIL (em_task_is_finished (second) && deletions.answered == 2 &&
                      !em_engine_manager_is_busy (fx->manager), 5000);
  seen = events_of (fx, em_task_get_id (second));
  if (g_str_equal (signal, "task-failed"))
    g_assert_cmpstr (seen, ==, "scheduled failed");
  else
    g_assert_cmpstr (seen, ==, "scheduled started progress progress completed");
  assert_events_valid (fx);
  g_assert_cmpuint (deletions.asked, ==, 2);
  g_assert_cmpuint (deletions.deleted, ==, 2);
  g_assert_null (em_engine_manager_get_task (fx->manager, first_id));
  g_assert_null (em_engine_manager_get_task (fx->manager, em_task_get_id (second)));
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
  g_object_unref (second);
}

/* --- a listener of notify::status reads the listings --- */

/* appends the status, and "!" unless the task is listed under it alone */
static void
check_listed (EmTask *task, GParamSpec *pspec, GString *seen)
{
  EmEngineManager *manager = g_object_get_data (G_OBJECT (task), "manager");
  EmTaskStatus status = em_task_get_status (task);
  gboolean right = TRUE;

  for (EmTaskStatus s = 0; s < EM_TASK_STATUS_N_STATUSES; s++)
    {
      g_autoptr(GPtrArray) listed = em_engine_manager_list_tasks (manager, &s, 0, 0, NULL);

      if (g_ptr_array_find (listed, task, NULL) != (s == status))
        right = FALSE;
    }
  g_string_append_printf (seen, "%s%s%s", seen->len > 0 ? " " : "",
                          em_task_status_to_string (status), right ? "" : "!");
}

static EmTask *
schedule_checked (Fixture *fx, const char *params, guint max_retries, GString *seen)
{
  EmTask *task = schedule (fx, "step", params, max_retries);

  g_object_set_data (G_OBJECT (task), "manager", fx->manager);
  g_signal_connect (task, "notify::status", G_CALLBACK (check_listed), seen);
  return task;
}

/* a listener that hears of a new status finds the task listed under it */
static void
test_listed_on_status (Fixture *fx, gconstpointer data)
{
  g_autoptr(GString) done = g_string_new (NULL);
  g_autoptr(GString) retried = g_string_new (NULL);
  g_autoptr(GString) cancelled = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  EmTask *first, *second, *third;

  open_manager (fx, TRUE);
  first = schedule_checked (fx, NULL, 0, done);
  second = schedule_checked (fx, "{\"fail\": true}", 1, retried);
  third = schedule_checked (fx, NULL, 0, cancelled);
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (third), &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (first) && em_task_is_finished (second) &&
                      !em_engine_manager_is_busy (fx->manager), 5000);

  g_assert_cmpstr (done->str, ==, "running completed");
  g_assert_cmpstr (retried->str, ==, "running pending running failed");
  g_assert_cmpstr (cancelled->str, ==, "cancelled");
}

/* --- a listener cancels what a batch waits on while the batch is made --- */

static void
cancel_outside (EmEngineManager *manager, EmTask *task, const char *outside)
{
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (em_task_get_name (task), "first") != 0)
    return;
  g_assert_true (em_engine_manager_cancel_task (manager, outside, &error));
  g_assert_no_error (error);
}

static guint
event_index (Fixture *fx, EmTask *task, EmEventType type)
{
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_task (event) == task && em_event_get_event_type (event) == type)
        return i;
    }
  g_assert_not_reached ();
}

/* the first task of an exclusive batch waits on a task outside it, which a
 * listener of its task_scheduled cancels: the first fails, and the batch
 * may start, but its later items still wait on their own dependencies */
static void
test_batch_freed_while_made (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) duration = json_from_string ("{\"duration\": 100}", NULL);
  g_autofree char *outside = NULL;
  EmTaskSpec *spec;
  EmTask *second, *third;

  open_manager (fx, TRUE);
  em_engine_manager_pause (fx->manager);
  outside = g_strdup (em_task_get_id (schedule (fx, "step", NULL, 0)));
  g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (cancel_outside), outside);
  spec = em_task_spec_new ("first", "step", NULL);
  spec->depends_on = g_strdupv ((char *[]) { outside, NULL });
  g_ptr_array_add (specs, spec);
  g_ptr_array_add (specs, em_task_spec_new ("second", "step", json_node_get_object (duration)));
  spec = em_task_spec_new ("third", "step", NULL);
  spec->depends_on = g_strdupv ((char *[]) { "#1", NULL });
  g_ptr_array_add (specs, spec);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);
  second = g_ptr_array_index (tasks, 1);
  third = g_ptr_array_index (tasks, 2);
  g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, 0)), ==, EM_TASK_STATUS_FAILED);

  em_engine_manager_resume (fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (third) && !em_engine_manager_is_busy (fx->manager), 5000);
  g_assert_cmpint (em_task_get_status (second), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpint (em_task_get_status (third), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpuint (event_index (fx, third, EM_EVENT_TASK_STARTED), >,
                    event_index (fx, second, EM_EVENT_TASK_COMPLETED));
  assert_events_valid (fx);
}

/* --- a listener cancels and waits for the cancellation to be recorded --- */

typedef struct {
  char    *victim;
  guint64  committed;   /* the durable seq when the acknowledgement came */
  gboolean answered;
} Acknowledged;

static void
cancel_synced (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmEngineManager *manager = EM_ENGINE_MANAGER (source);
  g_autoptr(GError) error = NULL;
  Acknowledged *ack = user_data;

  g_assert_true (em_engine_manager_sync_finish (manager, result, &error));
  g_assert_no_error (error);
  ack->committed = em_engine_manager_get_committed_event_seq (manager);
  ack->answered = TRUE;
}

static void
cancel_and_sync (EmEngineManager *manager, EmTask *task, Acknowledged *ack)
{
  g_autoptr(GError) error = NULL;

  g_signal_handlers_disconnect_by_func (manager, cancel_and_sync, ack);
  g_assert_true (em_engine_manager_cancel_task (manager, ack->victim, &error));
  g_assert_no_error (error);
  em_engine_manager_sync_async (manager, NULL, cancel_synced, ack);
}

/* an acknowledgement asked for by a listener covers what it did before
 * asking, though its events wait behind the one being sent */
static void
test_sync_in_handler (Fixture *fx, gconstpointer data)
{
  Acknowledged ack = { NULL, 0, FALSE };
  g_autofree char *seen = NULL;
  guint64 cancelled_seq = 0;

  open_manager (fx, TRUE);
  em_engine_manager_pause (fx->manager);
  ack.victim = g_strdup (em_task_get_id (schedule (fx, "step", NULL, 0)));
  sync_store (fx);
  g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (cancel_and_sync), &ack);
  schedule (fx, "step", NULL, 0);
  EM_TEST_WAIT_UNTIL (ack.answered, 5000);

  seen = events_of (fx, ack.victim);
  g_assert_cmpstr (seen, ==, "scheduled cancelled");
  for (guint i = 0; i < fx->events->len; i++)
    if (em_event_get_event_type (g_ptr_array_index (fx->events, i)) == EM_EVENT_TASK_CANCELLED)
      cancelled_seq = em_event_get_seq (g_ptr_array_index (fx->events, i));
  g_assert_cmpuint (ack.committed, >=, cancelled_seq);
  g_free (ack.victim);
}

static void
sync_on_end (EmTask *task, GParamSpec *pspec, Acknowledged *ack)
{
  EmEngineManager *manager = g_object_get_data (G_OBJECT (task), "manager");

  if (!em_task_is_finished (task))
    return;
  g_signal_handlers_disconnect_by_func (task, sync_on_end, ack);
  em_engine_manager_sync_async (manager, NULL, cancel_synced, ack);
}

/* a listener of notify::status that asks for an acknowledgement as the task
 * ends gets it once the end is recorded, its event included */
static void
test_sync_on_end (Fixture *fx, gconstpointer data)
{
  Acknowledged ack = { NULL, 0, FALSE };
  g_autoptr(GError) error = NULL;
  EmTask *task;

  open_manager (fx, TRUE);
  em_engine_manager_pause (fx->manager);
  task = schedule (fx, "step", NULL, 0);
  sync_store (fx);
  g_object_set_data (G_OBJECT (task), "manager", fx->manager);
  g_signal_connect (task, "notify::status", G_CALLBACK (sync_on_end), &ack);
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (task), &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (ack.answered, 5000);

  g_assert_cmpint (em_event_get_event_type (g_ptr_array_index (fx->events, fx->events->len - 1)), ==,
                   EM_EVENT_TASK_CANCELLED);
  g_assert_cmpuint (ack.committed, >=, em_engine_manager_get_last_event_seq (fx->manager));
  assert_events_valid (fx);
}

/* the same as the task starts, or turns pending again for a retry: the
 * acknowledgement covers the event of that change */
typedef struct {
  EmTaskStatus  status;   /* what the task turns */
  const char   *params;
  guint         retries;
  EmEventType   event;    /* what the acknowledgement must cover */
} SyncCase;

static const SyncCase sync_on_start_case = {
  EM_TASK_STATUS_RUNNING, "{\"duration\": 300}", 0, EM_EVENT_TASK_STARTED
};
static const SyncCase sync_on_retry_case = {
  EM_TASK_STATUS_PENDING, "{\"fail\": true}", 1, EM_EVENT_TASK_RETRYING
};

static void
sync_on_status (EmTask *task, GParamSpec *pspec, Acknowledged *ack)
{
  EmEngineManager *manager = g_object_get_data (G_OBJECT (task), "manager");
  const SyncCase *c = g_object_get_data (G_OBJECT (task), "sync-case");

  if (em_task_get_status (task) != c->status)
    return;
  g_signal_handlers_disconnect_by_func (task, sync_on_status, ack);
  em_engine_manager_sync_async (manager, NULL, cancel_synced, ack);
}

static void
test_sync_on_change (Fixture *fx, gconstpointer data)
{
  const SyncCase *c = data;
  Acknowledged ack = { NULL, 0, FALSE };
  guint64 seq = 0;
  EmTask *task;

  open_manager (fx, TRUE);
  task = schedule (fx, "step", c->params, c->retries);
  g_object_set_data (G_OBJECT (task), "manager", fx->manager);
  g_object_set_data (G_OBJECT (task), "sync-case", (gpointer) c);
  g_signal_connect (task, "notify::status", G_CALLBACK (sync_on_status), &ack);
  EM_TEST_WAIT_UNTIL (ack.answered, 5000);

  for (guint i = 0; i < fx->events->len; i++)
    if (em_event_get_event_type (g_ptr_array_index (fx->events, i)) == c->event)
      seq = em_event_get_seq (g_ptr_array_index (fx->events, i));
  g_assert_cmpuint (seq, >, 0);
  g_assert_cmpuint (ack.committed, >=, seq);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task) && !em_engine_manager_is_busy (fx->manager), 5000);
  assert_events_valid (fx);
}

/* --- a listener stops the service as a task starts --- */

static void
shutdown_on_start (EmEngineManager *manager, EmTask *task, gpointer data)
{
  em_engine_manager_shutdown (manager);
}

/* the task that was starting is stopped with the rest: its action does not
 * run on into the stop, and the next start settles it as interrupted */
static void
test_shutdown_on_start (Fixture *fx, gconstpointer data)
{
  g_autofree char *id = NULL;
  EmTask *task;

  open_manager (fx, TRUE);
  g_signal_connect (fx->manager, "task-started", G_CALLBACK (shutdown_on_start), NULL);
  /* two seconds of travel */
  task = schedule (fx, "move_stage", "{\"x\": 2000, \"speed\": 1000}", 0);
  id = g_strdup (em_task_get_id (task));
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 5000);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 500);
  assert_events_valid (fx);

  g_assert_finalize_object (g_steal_pointer (&fx->manager));
  open_manager (fx, TRUE);
  task = em_engine_manager_get_task (fx->manager, id);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
  g_assert_cmpstr (em_task_get_error (task), ==, "interrupted: the service stopped while it was running");
}

static void
shutdown_on_end (EmTask *task, GParamSpec *pspec, EmEngineManager *manager)
{
  if (!em_task_is_finished (task))
    return;
  g_signal_handlers_disconnect_by_func (task, shutdown_on_end, manager);
  em_engine_manager_shutdown (manager);
}

/* without a store the stop cancels what is pending or running; a task that
 * notify::status announced as finished, still being finished further up
 * the stack, ends as it was going to, once */
static void
test_shutdown_on_end (Fixture *fx, gconstpointer data)
{
  g_autofree char *seen = NULL;
  g_autofree char *seen_other = NULL;
  EmTask *task, *other;

  open_manager (fx, FALSE);
  task = schedule (fx, "step", NULL, 0);
  other = schedule (fx, "step", "{\"duration\": 200}", 0);
  g_signal_connect (task, "notify::status", G_CALLBACK (shutdown_on_end), fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task) && em_task_is_finished (other) &&
                      !em_engine_manager_is_busy (fx->manager), 5000);

  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpint (em_task_get_status (other), ==, EM_TASK_STATUS_CANCELLED);
  seen = events_of (fx, em_task_get_id (task));
  g_assert_cmpstr (seen, ==, "scheduled started progress progress completed");
  seen_other = events_of (fx, em_task_get_id (other));
  g_assert_cmpstr (seen_other, ==, "scheduled started progress progress cancelled");
  assert_events_valid (fx);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_COMPLETED }), ==, 1);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_RUNNING }), ==, 0);
}

/* --- a listener stops the service while a batch is being made --- */

static void
shutdown_once (EmEngineManager *manager, EmTask *task, gpointer data)
{
  g_signal_handlers_disconnect_by_func (manager, shutdown_once, data);
  em_engine_manager_shutdown (manager);
}

static GPtrArray *
schedule_batch_shutting_down (Fixture *fx)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GError) error = NULL;
  GPtrArray *tasks;
  EmTaskSpec *spec;

  g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (shutdown_once), NULL);
  g_ptr_array_add (specs, em_task_spec_new ("first", "step", NULL));
  g_ptr_array_add (specs, em_task_spec_new ("second", "step", NULL));
  spec = em_task_spec_new ("third", "step", NULL);
  spec->depends_on = g_strdupv ((char *[]) { "#1", NULL });
  g_ptr_array_add (specs, spec);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, FALSE, &error);
  g_assert_no_error (error);
  g_ptr_array_set_free_func (tasks, g_object_unref);
  for (guint i = 0; i < tasks->len; i++)
    g_object_ref (g_ptr_array_index (tasks, i));
  return tasks;
}

/* without a store the stop cancels what is pending: the items made after it
 * too, which nothing would ever run or settle */
static void
test_shutdown_in_batch (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = NULL;

  open_manager (fx, FALSE);
  tasks = schedule_batch_shutting_down (fx);
  for (guint i = 0; i < tasks->len; i++)
    {
      EmTask *task = g_ptr_array_index (tasks, i);
      g_autofree char *seen = events_of (fx, em_task_get_id (task));

      g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
      g_assert_cmpstr (seen, ==, "scheduled cancelled");
    }
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_PENDING }), ==, 0);
  assert_events_valid (fx);
}

/* with a store, pending tasks wait for the next start: the items made
 * after the stop too */
static void
test_shutdown_in_stored_batch (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = NULL;
  g_auto(GStrv) ids = g_new0 (char *, 4);

  open_manager (fx, TRUE);
  tasks = schedule_batch_shutting_down (fx);
  for (guint i = 0; i < tasks->len; i++)
    {
      ids[i] = g_strdup (em_task_get_id (g_ptr_array_index (tasks, i)));
      g_assert_cmpint (em_task_get_status (g_ptr_array_index (tasks, i)), ==, EM_TASK_STATUS_PENDING);
    }
  assert_events_valid (fx);
  g_clear_pointer (&tasks, g_ptr_array_unref);
  g_assert_finalize_object (g_steal_pointer (&fx->manager));

  open_manager (fx, TRUE);
  for (guint i = 0; i < 3; i++)
    g_assert_nonnull (em_engine_manager_get_task (fx->manager, ids[i]));
  EM_TEST_WAIT_UNTIL (em_task_is_finished (em_engine_manager_get_task (fx->manager, ids[2])), 5000);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, ids[i])), ==,
                     EM_TASK_STATUS_COMPLETED);
}

/* a batch item depends on a finished task that a deletion is still letting
 * go of; a listener of an earlier item's task-scheduled stops the service,
 * which lets go of it at once: the later item still knows how it ended */
static void
test_shutdown_in_batch_forgetting (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *last = NULL;
  g_auto(EmTaskQuery) query;
  Deletions deletions = { 0, };
  EmTaskSpec *spec;

  open_manager (fx, FALSE);
  g_object_set (fx->manager, "keep-finished", 5000, NULL);
  em_engine_manager_pause (fx->manager);
  /* more than a deletion lets go of in one turn */
  for (guint i = 0; i < 1100; i++)
    {
      EmTask *task = schedule (fx, "step", NULL, 0);

      g_clear_pointer (&last, g_free);
      last = g_strdup (em_task_get_id (task));
      if (first == NULL)
        first = g_strdup (last);
      g_assert_true (em_engine_manager_cancel_task (fx->manager, last, NULL));
    }
  em_task_query_init (&query);
  query.statuses = EM_TASK_QUERY_FINISHED;
  em_engine_manager_delete_tasks_async (fx->manager, &query, NULL, deleted_cb, &deletions);
  /* the first slice goes in the deletion's turn, the rest in later ones */
  while (em_engine_manager_get_task (fx->manager, first) != NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, last));
  /* the engine's entry holds the last reference to it */
  g_ptr_array_set_size (fx->events, 0);

  g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (shutdown_once), NULL);
  g_ptr_array_add (specs, em_task_spec_new ("first", "step", NULL));
  spec = em_task_spec_new ("second", "step", NULL);
  spec->depends_on = g_strdupv ((char *[]) { last, NULL });
  g_ptr_array_add (specs, spec);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, FALSE, &error);
  g_assert_no_error (error);
  g_assert_null (em_engine_manager_get_task (fx->manager, last));
  for (guint i = 0; i < tasks->len; i++)
    g_assert_true (em_task_is_finished (g_ptr_array_index (tasks, i)));
  assert_events_valid (fx);
  EM_TEST_WAIT_UNTIL (deletions.answered == 1, 5000);
}

/* --- listeners doing a bit of everything, at random --- */

typedef struct {
  Fixture   *fx;
  GPtrArray *ids;      /* every task scheduled */
  guint      budget;   /* tasks still to schedule */
  guint      depth;
  gboolean   stopped;
} Chaos;

static void
chaos_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  /* the answers do not matter, only what asking did meanwhile */
  g_autoptr(GError) error = NULL;
  EmEngineManager *manager = EM_ENGINE_MANAGER (source);

  if (g_async_result_is_tagged (result, em_engine_manager_sync_async))
    em_engine_manager_sync_finish (manager, result, &error);
  else if (g_async_result_is_tagged (result, em_engine_manager_query_tasks_async))
    {
      g_autoptr(GPtrArray) tasks = em_engine_manager_query_tasks_finish (manager, result, NULL,
                                                                         NULL, &error);
    }
  else
    em_engine_manager_delete_tasks_finish (manager, result, NULL, &error);
}

static const char *
chaos_step_params (void)
{
  static const char *params[] = {
    "{\"duration\": 0}", "{\"duration\": 30}", "{\"fail\": true}", "{\"fail\": true, \"duration\": 20}",
  };

  return params[g_test_rand_int_range (0, G_N_ELEMENTS (params))];
}

static EmTaskSpec *
chaos_spec (const char *action, const char *params_json)
{
  g_autoptr(JsonNode) params = json_from_string (params_json, NULL);

  return em_task_spec_new ("chaos", action, json_node_get_object (params));
}

/* a batch of up to three device or step tasks, exclusive or not */
static void
chaos_schedule_batch (Chaos *c)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  guint n = g_test_rand_int_range (1, 4);

  for (guint i = 0; i < n; i++)
    {
      guint kind = g_test_rand_int_range (0, 3);
      EmTaskSpec *spec = kind == 0 ? chaos_spec ("move_stage", "{\"x\": 5}")
                       : kind == 1 ? chaos_spec ("adjust_focus", "{\"position\": 5}")
                       : chaos_spec ("step", chaos_step_params ());

      /* on an earlier item, or on a task outside the batch */
      if (i > 0 && g_test_rand_bit ())
        spec->depends_on = g_strdupv ((char *[]) { i == 2 && g_test_rand_bit () ? "#1" : "#0", NULL });
      else if (c->ids->len > 0 && g_test_rand_bit ())
        spec->depends_on = g_strdupv ((char *[]) {
          g_ptr_array_index (c->ids, g_test_rand_int_range (0, c->ids->len)), NULL });
      g_ptr_array_add (specs, spec);
    }
  tasks = em_engine_manager_schedule_batch (c->fx->manager, specs, g_test_rand_bit (), NULL);
  for (guint i = 0; tasks != NULL && i < tasks->len; i++)
    g_ptr_array_add (c->ids, g_strdup (em_task_get_id (g_ptr_array_index (tasks, i))));
  c->budget -= MIN (c->budget, n);
}

/* a step, maybe retried, maybe depending on @after or on any earlier task */
static void
chaos_schedule (Chaos *c, EmTask *after)
{
  g_autoptr(EmTaskSpec) spec = chaos_spec ("step", chaos_step_params ());
  const char *dep = after != NULL ? em_task_get_id (after)
                  : c->ids->len > 0 && g_test_rand_bit ()
                  ? g_ptr_array_index (c->ids, g_test_rand_int_range (0, c->ids->len)) : NULL;
  EmTask *task;

  if (c->budget == 0)
    return;
  if (after == NULL && g_test_rand_int_range (0, 3) == 0)
    {
      chaos_schedule_batch (c);
      return;
    }
  if (dep != NULL)
    spec->depends_on = g_strdupv ((char *[]) { (char *) dep, NULL });
  spec->max_retries = g_test_rand_int_range (0, 2);
  spec->retry_delay = 0.01;
  task = em_engine_manager_schedule_task (c->fx->manager, spec, NULL);
  if (task != NULL)
    g_ptr_array_add (c->ids, g_strdup (em_task_get_id (task)));
  c->budget--;
}

static void
chaos_act (Chaos *c, EmTask *task)
{
  EmEngineManager *manager = c->fx->manager;
  g_auto(EmTaskQuery) query;

  em_task_query_init (&query);
  if (c->stopped || c->depth > 3)
    return;
  c->depth++;
  switch (g_test_rand_int_range (0, 14))
    {
    case 0:
      if (task != NULL)
        em_engine_manager_cancel_task (manager, em_task_get_id (task), NULL);
      break;
    case 1:
      if (c->ids->len > 0)
        em_engine_manager_cancel_task (manager, g_ptr_array_index (c->ids, g_test_rand_int_range (0, c->ids->len)),
                                       NULL);
      break;
    case 2:
      chaos_schedule (c, task);
      break;
    case 3:
      chaos_schedule (c, NULL);
      break;
    case 4:
      em_engine_manager_pause (manager);
      break;
    case 5:
      em_engine_manager_resume (manager);
      break;
    case 6:
      em_engine_manager_set_max_concurrent (manager, g_test_rand_int_range (0, 3));
      break;
    case 7:
      em_engine_manager_sync_async (manager, NULL, chaos_done, NULL);
      break;
    case 8:
      query.statuses = EM_TASK_QUERY_STATUS (g_test_rand_int_range (EM_TASK_STATUS_COMPLETED,
                                                                    EM_TASK_STATUS_N_STATUSES));
      em_engine_manager_delete_tasks_async (manager, &query, NULL, chaos_done, NULL);
      break;
    case 9:
      em_engine_manager_query_tasks_async (manager, &query, NULL, chaos_done, NULL);
      break;
    case 10:
      g_object_set (manager, "keep-finished", g_test_rand_int_range (0, 4), NULL);
      break;
    case 11:
      g_object_set (manager, "finished-cache-size", g_test_rand_int_range (1, 4), NULL);
      break;
    case 12:
      em_engine_manager_set_max_pending (manager, g_test_rand_int_range (0, 20));
      break;
    case 13:
      /* a few tasks' JSON, or none */
      g_object_set (manager, "keep-finished-bytes", (guint64) g_test_rand_int_range (0, 2000), NULL);
      break;
    default:
      break;
    }
  c->depth--;
}

static void
chaos_event (EmEngineManager *manager, EmEvent *event, Chaos *c)
{
  chaos_act (c, em_event_get_task (event));
}

static void
chaos_notify (EmTask *task, GParamSpec *pspec, Chaos *c)
{
  if (g_test_rand_int_range (0, 4) == 0)
    chaos_act (c, task);
}

static void
chaos_scheduled (EmEngineManager *manager, EmTask *task, Chaos *c)
{
  g_signal_connect (task, "notify", G_CALLBACK (chaos_notify), c);
}

static gboolean
all_settled (EmEngineManager *manager)
{
  return em_engine_manager_count_tasks (manager, &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) == 0 &&
         em_engine_manager_count_tasks (manager, &(EmTaskStatus) { EM_TASK_STATUS_RUNNING }) == 0 &&
         !em_engine_manager_is_busy (manager);
}

/* listeners of every event and every task property cancel, schedule
 * (also on the task they hear of), pause, resume, delete, query and change
 * the limits at random (the seed is g_test's: --seed to replay a run);
 * every task must still end with one final event, in order, and the record
 * must say that end */
static void
test_random (Fixture *fx, gconstpointer data)
{
  Chaos c = { fx, g_ptr_array_new_with_free_func (g_free), 60, 0, FALSE };
  /* task id → its status at the end */
  g_autoptr(GHashTable) ends = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gboolean store = g_test_rand_bit ();
  GHashTableIter iter;
  gpointer id, status;

  open_manager (fx, store);
  g_signal_connect (fx->manager, "event", G_CALLBACK (chaos_event), &c);
  g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (chaos_scheduled), &c);
  for (guint i = 0; i < 5; i++)
    chaos_schedule (&c, NULL);
  for (guint round = 0; round < 100 && !all_settled (fx->manager); round++)
    em_test_run_for (10);

  /* calm: whatever is left runs to its end */
  c.stopped = TRUE;
  em_engine_manager_resume (fx->manager);
  em_engine_manager_set_max_concurrent (fx->manager, 0);
  EM_TEST_WAIT_UNTIL (all_settled (fx->manager), 10000);
  /* the last answers, which hold the manager */
  em_test_run_for (50);
  assert_events_valid (fx);

  /* each task's last event is its end */
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);
      EmTask *task = em_event_get_task (event);

      if (task == NULL)
        continue;
      g_hash_table_insert (ends, g_strdup (em_task_get_id (task)),
                           GINT_TO_POINTER (em_event_get_event_type (event)));
    }
  g_hash_table_iter_init (&iter, ends);
  while (g_hash_table_iter_next (&iter, &id, &status))
    {
      EmEventType type = GPOINTER_TO_INT (status);
      EmTaskStatus end = type == EM_EVENT_TASK_COMPLETED ? EM_TASK_STATUS_COMPLETED
                       : type == EM_EVENT_TASK_FAILED ? EM_TASK_STATUS_FAILED
                       : type == EM_EVENT_TASK_CANCELLED ? EM_TASK_STATUS_CANCELLED
                       : EM_TASK_STATUS_PENDING;

      if (end == EM_TASK_STATUS_PENDING)
        g_error ("task %s ended without a final event", (char *) id);
      g_hash_table_iter_replace (&iter, GINT_TO_POINTER (end));
    }
  /* the task objects say the same end, and every task scheduled had events:
   * checked from the events alone, a task never announced would go unseen */
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmTask *task = em_event_get_task (g_ptr_array_index (fx->events, i));

      if (task != NULL)
        g_assert_cmpstr (em_task_status_to_string (em_task_get_status (task)), ==,
                         em_task_status_to_string (GPOINTER_TO_INT (
                           g_hash_table_lookup (ends, em_task_get_id (task)))));
    }
  g_assert_cmpuint (c.ids->len, >, 0);
  for (guint i = 0; i < c.ids->len; i++)
    if (!g_hash_table_contains (ends, g_ptr_array_index (c.ids, i)))
      g_error ("task %s scheduled without events", (char *) g_ptr_array_index (c.ids, i));
  g_ptr_array_unref (c.ids);
  if (!store)
    return;

  /* the record after a restart: the same end, or deleted */
  sync_store (fx);
  close_manager (fx);
  open_manager (fx, TRUE);
  g_hash_table_iter_init (&iter, ends);
  while (g_hash_table_iter_next (&iter, &id, &status))
    {
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = NULL;

      em_engine_manager_lookup_task_async (fx->manager, id, NULL, got_result, &result);
      EM_TEST_WAIT_UNTIL (result != NULL, 5000);
      node = em_engine_manager_lookup_task_finish (fx->manager, result, &error);
      if (g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND))
        continue;
      g_assert_no_error (error);
      g_assert_cmpstr (json_object_get_string_member (json_node_get_object (node), "status"), ==,
                       em_task_status_to_string (GPOINTER_TO_INT (status)));
    }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, data) \
  g_test_add ("/engine/reentry/" path, Fixture, data, fixture_setup, func, fixture_teardown)

  ADD ("progress/cancel-then-complete", test_cancel_on_last_progress, "{\"duration\": 0}");
  ADD ("progress/cancel-then-fail", test_cancel_on_last_progress, "{\"fail\": true}");
  ADD ("progress/cancel-then-retry", test_cancel_on_last_progress, "retry{\"fail\": true}");
  ADD ("progress/cancel-in-cancel", test_cancel_with_progress_pending, NULL);
  ADD ("notify/cancel-on-start", test_cancel_on_status, "start");
  ADD ("notify/cancel-on-retry", test_cancel_on_status, "retry");
  ADD ("notify/cancel-on-progress", test_cancel_on_progress_notify, NULL);
  ADD ("notify/pause-undone", test_pause_undone_in_notify, "pause");
  ADD ("notify/resume-undone", test_pause_undone_in_notify, "resume");
  ADD ("notify/cancel-on-waiting-for", test_cancel_on_waiting_for, NULL);
  ADD ("notify/listed", test_listed_on_status, NULL);
  ADD ("delete/on-completed", test_delete_on_end, "task-completed");
  ADD ("delete/on-failed", test_delete_on_end, "task-failed");
  ADD ("batch/freed-while-made", test_batch_freed_while_made, NULL);
  ADD ("sync/in-handler", test_sync_in_handler, NULL);
  ADD ("sync/on-end", test_sync_on_end, NULL);
  ADD ("sync/on-retry", test_sync_on_change, &sync_on_retry_case);
  ADD ("sync/on-start", test_sync_on_change, &sync_on_start_case);
  ADD ("shutdown/on-start", test_shutdown_on_start, NULL);
  ADD ("shutdown/on-end", test_shutdown_on_end, NULL);
  ADD ("shutdown/in-batch", test_shutdown_in_batch, NULL);
  ADD ("shutdown/in-stored-batch", test_shutdown_in_stored_batch, NULL);
  ADD ("shutdown/in-batch-forgetting", test_shutdown_in_batch_forgetting, NULL);
  ADD ("random", test_random, NULL);

  return g_test_run ();
}
