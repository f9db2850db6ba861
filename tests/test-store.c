#include "config.h"

#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sqlite3.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-deleted-serials.h"
#include "engine/em-durable-feed.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "engine/em-store-journal.h"
#include "engine/em-store-private.h"
#include "engine/em-task-private.h"
#include "engine/em-finished-cache.h"
#include "em-test-stubborn-action.h"
#include "em-test-util.h"

/* outside the stage's travel: fails at run time */
#define FAILING "move_stage"
#define FAILING_PARAMS "{\"x\": 60000}"
#define INTERRUPTED "interrupted: the service stopped while it was running"

typedef struct {
  char            *data_dir;
  char            *db_path;
  EmEngineManager *manager;
  GPtrArray       *events;   /* EmEvent seen by the current manager */
  GPtrArray       *frames;   /* every frame seen by any manager, seq order */
} Fixture;

static void
on_event (EmEngineManager *manager, EmEvent *event, Fixture *fx)
{
  g_ptr_array_add (fx->events, em_event_ref (event));
  g_ptr_array_add (fx->frames, em_event_to_json_string (event));
}

static EmEngineManager *
new_manager (Fixture *fx)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new ("videotestsrc is-live=true", 160, 120);
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);
  EmEngineManager *manager;

  em_builtin_actions_register (registry);
  {
    g_autoptr(EmAction) stubborn = em_test_stubborn_action_new ();

    em_action_registry_add (registry, stubborn);
  }
  manager = em_engine_manager_new (registry, devices, fx->data_dir);
  g_signal_connect (manager, "event", G_CALLBACK (on_event), fx);
  return manager;
}

/* a manager on the fixture's directory with its store open */
static void
open_manager (Fixture *fx, guint keep_finished)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (fx->manager);
  g_ptr_array_set_size (fx->events, 0);
  fx->manager = new_manager (fx);
  g_object_set (fx->manager, "keep-finished", keep_finished, NULL);
  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
}

/* a clean stop: pending tasks stay pending, running ones are interrupted */
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
  fx->db_path = g_build_filename (fx->data_dir, "tasks.db", NULL);
  fx->events = g_ptr_array_new_with_free_func ((GDestroyNotify) em_event_unref);
  fx->frames = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->manager != NULL)
    close_manager (fx);
  g_ptr_array_unref (fx->events);
  g_ptr_array_unref (fx->frames);
  g_chmod (fx->data_dir, 0700);
  em_test_rmdir (fx->data_dir);
  g_free (fx->data_dir);
  g_free (fx->db_path);
}

static EmTaskSpec *
spec_new (const char *action, const char *params_json)
{
  g_autoptr(JsonNode) params = params_json != NULL ? json_from_string (params_json, NULL) : NULL;

  return em_task_spec_new ("stored", action, params != NULL ? json_node_get_object (params) : NULL);
}

static EmTask *
schedule_spec (Fixture *fx, EmTaskSpec *spec)
{
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_schedule_task (fx->manager, spec, &error);

  g_assert_no_error (error);
  g_assert_nonnull (task);
  return task;
}

static EmTask *
schedule (Fixture *fx, const char *action, const char *params_json)
{
  g_autoptr(EmTaskSpec) spec = spec_new (action, params_json);

  return schedule_spec (fx, spec);
}

static char *
task_json (EmTask *task)
{
  g_autoptr(JsonNode) node = em_task_to_json (task);

  return json_to_string (node, FALSE);
}

static char *
node_string (JsonNode *node)
{
  return json_to_string (node, FALSE);
}

/* --- synchronous wrappers around the async API, for the tests only --- */

static void
got_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* valgrind runs the store's thread about 50 times slower: a deletion or a
 * listing of thousands of rows takes more than 10 s there */
#ifdef HAVE_VALGRIND_H
#define WAIT_RESULT_MS (RUNNING_ON_VALGRIND ? 60000 : 10000)
#else
#define WAIT_RESULT_MS 10000
#endif
#define WAIT_RESULT(result) EM_TEST_WAIT_UNTIL ((result) != NULL, WAIT_RESULT_MS)

static void
sync_store (Fixture *fx)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  em_engine_manager_sync_async (fx->manager, NULL, got_result, &result);
  WAIT_RESULT (result);
  g_assert_true (em_engine_manager_sync_finish (fx->manager, result, &error));
  g_assert_no_error (error);
}

static GPtrArray *
query (Fixture *fx, const EmTaskQuery *q, guint *out_total)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *tasks;

  em_engine_manager_query_tasks_async (fx->manager, q, NULL, got_result, &result);
  WAIT_RESULT (result);
  tasks = em_engine_manager_query_tasks_finish (fx->manager, result, out_total, NULL, &error);
  g_assert_no_error (error);
  return tasks;
}

static GPtrArray *
query_all (Fixture *fx)
{
  g_auto(EmTaskQuery) q;
  guint total = 0;
  GPtrArray *tasks;

  em_task_query_init (&q);
  tasks = query (fx, &q, &total);
  g_assert_cmpuint (total, ==, tasks->len);
  return tasks;
}

static JsonNode *
lookup (Fixture *fx, const char *id, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  em_engine_manager_lookup_task_async (fx->manager, id, NULL, got_result, &result);
  WAIT_RESULT (result);
  return em_engine_manager_lookup_task_finish (fx->manager, result, error);
}

static JsonObject *
lookup_object (Fixture *fx, const char *id, JsonNode **out_node)
{
  g_autoptr(GError) error = NULL;

  *out_node = lookup (fx, id, &error);
  g_assert_no_error (error);
  return json_node_get_object (*out_node);
}

static GPtrArray *
read_events (Fixture *fx, guint64 after, guint limit, guint64 *out_oldest)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *frames;

  em_engine_manager_read_events_async (fx->manager, after, limit, 0, NULL, got_result, &result);
  WAIT_RESULT (result);
  frames = em_engine_manager_read_events_finish (fx->manager, result, out_oldest, NULL, &error);
  g_assert_no_error (error);
  return frames;
}

/* from the store only, where the read stops at @max_bytes */
static GPtrArray *
read_events_bytes (Fixture *fx, guint64 after, guint limit, gsize max_bytes, gboolean *out_cut)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *frames;

  em_engine_manager_read_events_async (fx->manager, after, limit, max_bytes, NULL, got_result,
                                       &result);
  WAIT_RESULT (result);
  frames = em_engine_manager_read_events_finish (fx->manager, result, NULL, out_cut, &error);
  g_assert_no_error (error);
  return frames;
}

static gboolean
delete_tasks (Fixture *fx, const EmTaskQuery *q, guint *out_count, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  em_engine_manager_delete_tasks_async (fx->manager, q, NULL, got_result, &result);
  WAIT_RESULT (result);
  return em_engine_manager_delete_tasks_finish (fx->manager, result, out_count, error);
}

static guint
prune (Fixture *fx)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  guint count = G_MAXUINT;

  em_engine_manager_prune_async (fx->manager, NULL, got_result, &result);
  WAIT_RESULT (result);
  g_assert_true (em_engine_manager_prune_finish (fx->manager, result, &count, &error));
  g_assert_no_error (error);
  return count;
}

static char *
frame_string (GBytes *frame)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (frame, &size);

  return g_strndup (data, size);
}

static gboolean
all_finished (GPtrArray *tasks)
{
  for (guint i = 0; i < tasks->len; i++)
    if (!em_task_is_finished (g_ptr_array_index (tasks, i)))
      return FALSE;
  return TRUE;
}

static const char *
status_of (JsonObject *task)
{
  return json_object_get_string_member (task, "status");
}

/* --- tests --- */

static void
test_clean_restart (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GPtrArray) before = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  guint64 last_seq, max_serial = 0;
  EmTask *next;

  open_manager (fx, 1000);
  for (guint i = 0; i < 6; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 5}"));
  g_ptr_array_add (tasks, schedule (fx, FAILING, FAILING_PARAMS));
  g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 60000}"));
  g_assert_true (em_engine_manager_cancel_task (fx->manager,
                                                em_task_get_id (g_ptr_array_index (tasks, 7)), &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);

  for (guint i = 0; i < tasks->len; i++)
    {
      g_ptr_array_add (before, task_json (g_ptr_array_index (tasks, i)));
      max_serial = MAX (max_serial, em_task_get_serial (g_ptr_array_index (tasks, i)));
    }
  last_seq = em_engine_manager_get_last_event_seq (fx->manager);
  g_assert_cmpuint (last_seq, ==, fx->events->len);
  g_ptr_array_set_size (tasks, 0);
  close_manager (fx);

  /* all of history from the store itself: nothing kept in memory */
  open_manager (fx, 0);
  em_test_run_for (50);
  after = query_all (fx);
  g_assert_cmpuint (after->len, ==, before->len);
  for (guint i = 0; i < after->len; i++)
    {
      g_autofree char *text = node_string (g_ptr_array_index (after, i));

      g_assert_cmpstr (text, ==, g_ptr_array_index (before, i));
    }
  g_assert_cmpuint (em_engine_manager_get_last_event_seq (fx->manager), ==, last_seq);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
  close_manager (fx);

  /* and the recent ones back in memory, identical; numbering continues */
  open_manager (fx, 1000);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, before->len);
  for (guint i = 0; i < before->len; i++)
    {
      g_autoptr(JsonNode) node = json_from_string (g_ptr_array_index (before, i), NULL);
      const char *id = json_object_get_string_member (json_node_get_object (node), "id");
      EmTask *task = em_engine_manager_get_task (fx->manager, id);
      g_autofree char *text = NULL;

      g_assert_nonnull (task);
      text = task_json (task);
      g_assert_cmpstr (text, ==, g_ptr_array_index (before, i));
    }
  next = schedule (fx, "wait", "{\"duration\": 1}");
  g_assert_cmpuint (em_task_get_serial (next), ==, max_serial + 1);
  g_assert_cmpuint (em_event_get_seq (g_ptr_array_index (fx->events, 0)), ==, last_seq + 1);
}


typedef struct {
  char     *victim;
  gboolean  done;
} LimitInHandler;

static void
cancel_and_lower_limit (EmEngineManager *manager, EmTask *task, LimitInHandler *in)
{
  g_autoptr(GError) error = NULL;

  if (in->done)
    return;
  in->done = TRUE;
  g_assert_true (em_engine_manager_cancel_task (manager, in->victim, &error));
  g_assert_no_error (error);
  g_object_set (manager, "keep-finished", 0, NULL);
}

/* a listener lowering keep-finished while a task's last event is still
 * queued: the task's last row must still reach the database, or the
 * cancelled task comes back pending after a restart */
static void
test_keep_finished_lowered_in_handler (Fixture *fx, gconstpointer data)
{
  LimitInHandler in = { NULL, FALSE };
  g_autofree char *trigger = NULL;
  EmTask *task;

  open_manager (fx, 1000);
  em_engine_manager_pause (fx->manager);
  in.victim = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  sync_store (fx);
  g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (cancel_and_lower_limit), &in);
  trigger = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  g_assert_true (in.done);
  sync_store (fx);
  close_manager (fx);

  open_manager (fx, 1000);
  task = em_engine_manager_get_task (fx->manager, in.victim);
  g_assert_nonnull (task);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_CANCELLED);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, trigger));
  g_free (in.victim);
}

static gboolean
count_task_rows (guint64 write_no, GPtrArray *tasks, GPtrArray *events, gpointer user_data,
                 GError **error)
{
  *(guint *) user_data += tasks->len;
  return TRUE;
}

static gboolean
most_task_rows (guint64 write_no, GPtrArray *tasks, GPtrArray *events, gpointer user_data,
                GError **error)
{
  *(guint *) user_data = MAX (*(guint *) user_data, tasks->len);
  return TRUE;
}

static guint
replay_journal_with (Fixture *fx, EmStoreJournalFunc func)
{
  g_autofree char *path = g_build_filename (fx->data_dir, "tasks.journal", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(EmStoreJournal) journal = em_store_journal_open (path, &error);
  guint rows = 0;

  g_assert_no_error (error);
  g_assert_true (em_store_journal_replay (journal, func, &rows, &error));
  g_assert_no_error (error);
  return rows;
}

/* the task rows in the journal: what was handed to the store since it was
 * last emptied */
static guint
journal_task_rows (Fixture *fx)
{
  return replay_journal_with (fx, count_task_rows);
}

/* a restart rewrites no pending task whose record is already right: with a
 * full queue that was every one of them (100 000 rows) in one write, far past
 * the journal's bound and the writer's rows per commit */
static void
test_restart_rewrites_nothing (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) dependent = spec_new ("wait", "{\"duration\": 1}");
  g_autoptr(EmTaskSpec) later = spec_new ("wait", "{\"duration\": 1}");
  g_autofree char *first_id = NULL, *dependent_id = NULL;
  const char *deps[2] = { NULL, NULL };

  open_manager (fx, 1000);
  em_engine_manager_pause (fx->manager);
  first_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 1}")));
  deps[0] = first_id;
  dependent->depends_on = g_strdupv ((char **) deps);
  dependent_id = g_strdup (em_task_get_id (schedule_spec (fx, dependent)));
  later->delay = 3600;
  schedule_spec (fx, later);
  sync_store (fx);
  close_manager (fx);
  g_assert_cmpuint (journal_task_rows (fx), ==, 0);

  open_manager (fx, 1000);
  sync_store (fx);
  g_assert_cmpuint (journal_task_rows (fx), ==, 0);
  /* still linked as before */
  g_assert_cmpstr (em_task_get_waiting_on (em_engine_manager_get_task (fx->manager,
                                                                       dependent_id))[0], ==,
                   first_id);
}

/* rows that change without an event (a dependency ended: the waiting_on of
 * every dependent) go to the store in hand-overs of a bounded size, as events
 * do: one task with 100 000 dependents made one write of all of them */
#define MANY_DEPENDENTS 4500

static void
test_dependents_handed_over_in_parts (Fixture *fx, gconstpointer data)
{
  g_autofree char *first_id = NULL;
  const char *deps[2] = { NULL, NULL };
  EmTask *first;

  open_manager (fx, 1000);
  em_engine_manager_pause (fx->manager);
  first = schedule (fx, "wait", "{\"duration\": 0}");
  first_id = g_strdup (em_task_get_id (first));
  deps[0] = first_id;
  for (guint i = 0; i < MANY_DEPENDENTS; i++)
    {
      g_autoptr(EmTaskSpec) dependent = spec_new ("wait", "{\"duration\": 0}");

      dependent->depends_on = g_strdupv ((char **) deps);
      /* so that they stay pending: only their waiting_on changes */
      dependent->delay = 3600;
      schedule_spec (fx, dependent);
    }
  sync_store (fx);
  /* a clean stop empties the journal */
  close_manager (fx);

  open_manager (fx, 1000);
  first = em_engine_manager_get_task (fx->manager, first_id);
  em_engine_manager_resume (fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (first), 5000);
  sync_store (fx);
  g_assert_cmpuint (journal_task_rows (fx), >=, MANY_DEPENDENTS);
  g_assert_cmpuint (replay_journal_with (fx, most_task_rows), <=, 4096);
}

static void
test_recover_pending (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) high = spec_new ("wait", "{\"duration\": 30}");
  g_autoptr(EmTaskSpec) later = spec_new ("wait", "{\"duration\": 1}");
  g_autoptr(EmTaskSpec) dependent = spec_new ("wait", "{\"duration\": 1}");
  g_autoptr(GPtrArray) batch_specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *low_id = NULL, *high_id = NULL, *dep_id = NULL, *later_id = NULL;
  g_autofree char *later_run_at = NULL, *batch_id = NULL;
  g_autofree char *b0 = NULL, *b1 = NULL;
  g_autoptr(JsonNode) node = NULL;
  const char *started_first;
  EmTask *low, *task;
  const char *deps[2] = { NULL, NULL };

  open_manager (fx, 1000);
  em_engine_manager_pause (fx->manager);
  low = schedule (fx, "wait", "{\"duration\": 30}");
  low_id = g_strdup (em_task_get_id (low));
  high->priority = 5;
  high_id = g_strdup (em_task_get_id (schedule_spec (fx, high)));
  deps[0] = low_id;
  dependent->depends_on = g_strdupv ((char **) deps);
  task = schedule_spec (fx, dependent);
  dep_id = g_strdup (em_task_get_id (task));
  g_assert_cmpstr (em_task_get_waiting_on (task)[0], ==, low_id);
  later->delay = 3600;
  task = schedule_spec (fx, later);
  later_id = g_strdup (em_task_get_id (task));
  later_run_at = g_date_time_format_iso8601 (em_task_get_run_at (task));
  g_ptr_array_add (batch_specs, spec_new ("wait", "{\"duration\": 1}"));
  g_ptr_array_add (batch_specs, spec_new ("wait", "{\"duration\": 1}"));
  ((EmTaskSpec *) g_ptr_array_index (batch_specs, 1))->depends_on = g_strsplit ("#0", ",", -1);
  batch = em_engine_manager_schedule_batch (fx->manager, batch_specs, TRUE, &error);
  g_assert_no_error (error);
  b0 = g_strdup (em_task_get_id (g_ptr_array_index (batch, 0)));
  b1 = g_strdup (em_task_get_id (g_ptr_array_index (batch, 1)));
  batch_id = g_strdup (em_task_get_batch (g_ptr_array_index (batch, 0)));
  g_clear_pointer (&batch, g_ptr_array_unref);
  close_manager (fx);

  /* the pause is part of the record: nothing starts until it is resumed */
  fx->manager = new_manager (fx);
  em_engine_manager_set_max_concurrent (fx->manager, 1);
  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
  g_assert_true (em_engine_manager_get_paused (fx->manager));
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager,
                                                   &(EmTaskStatus) { EM_TASK_STATUS_PENDING }), ==, 6);
  task = em_engine_manager_get_task (fx->manager, dep_id);
  g_assert_cmpstr (em_task_get_waiting_on (task)[0], ==, low_id);
  g_assert_cmpint (em_task_get_priority (em_engine_manager_get_task (fx->manager, high_id)), ==, 5);
  em_test_run_for (50);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager,
                                                   &(EmTaskStatus) { EM_TASK_STATUS_PENDING }), ==, 6);
  em_engine_manager_resume (fx->manager);

  EM_TEST_WAIT_UNTIL (em_task_is_finished (em_engine_manager_get_task (fx->manager, dep_id)) &&
                      em_task_is_finished (em_engine_manager_get_task (fx->manager, b1)), 5000);

  /* the higher priority went first, the dependency before its dependent */
  started_first = NULL;
  for (guint i = 0; i < fx->events->len && started_first == NULL; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_event_type (event) == EM_EVENT_TASK_STARTED)
        started_first = em_task_get_id (em_event_get_task (event));
    }
  g_assert_cmpstr (started_first, ==, high_id);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, dep_id)), ==,
                   EM_TASK_STATUS_COMPLETED);
  g_assert_true (g_date_time_compare (em_task_get_started_at (em_engine_manager_get_task (fx->manager, dep_id)),
                                      em_task_get_completed_at (em_engine_manager_get_task (fx->manager, low_id))) >= 0);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, b0)), ==,
                   EM_TASK_STATUS_COMPLETED);
  g_assert_cmpstr (em_task_get_batch (em_engine_manager_get_task (fx->manager, b1)), ==, batch_id);

  /* the delayed one still waits for its time */
  task = em_engine_manager_get_task (fx->manager, later_id);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  {
    g_autofree char *run_at = g_date_time_format_iso8601 (em_task_get_run_at (task));

    g_assert_cmpstr (run_at, ==, later_run_at);
  }
  node = lookup (fx, later_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (status_of (json_node_get_object (node)), ==, "pending");
}

static void
test_recover_running (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) once = spec_new ("wait", "{\"duration\": 20000}");
  g_autoptr(EmTaskSpec) retried = spec_new ("wait", "{\"duration\": 50}");
  g_autoptr(EmTaskSpec) dependent = spec_new ("wait", "{\"duration\": 1}");
  g_autofree char *once_id = NULL, *retried_id = NULL, *dep_id = NULL;
  g_autoptr(GError) error = NULL;
  EmTask *a, *b, *task;
  const char *deps[2] = { NULL, NULL };
  gboolean saw_retrying = FALSE;

  open_manager (fx, 1000);
  a = schedule_spec (fx, once);
  retried->max_retries = 2;
  /* long enough to still run at the stop, short for the second attempt */
  json_object_set_double_member (retried->parameters, "duration", 20000);
  b = schedule_spec (fx, retried);
  once_id = g_strdup (em_task_get_id (a));
  retried_id = g_strdup (em_task_get_id (b));
  deps[0] = once_id;
  dependent->depends_on = g_strdupv ((char **) deps);
  dep_id = g_strdup (em_task_get_id (schedule_spec (fx, dependent)));
  EM_TEST_WAIT_UNTIL (em_task_get_status (a) == EM_TASK_STATUS_RUNNING &&
                      em_task_get_status (b) == EM_TASK_STATUS_RUNNING, 5000);
  close_manager (fx);

  open_manager (fx, 1000);
  task = em_engine_manager_get_task (fx->manager, once_id);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
  g_assert_cmpstr (em_task_get_error (task), ==, INTERRUPTED);
  g_assert_cmpuint (em_task_get_attempts (task), ==, 1);
  /* its dependent cannot run any more */
  task = em_engine_manager_get_task (fx->manager, dep_id);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);

  task = em_engine_manager_get_task (fx->manager, retried_id);
  g_assert_false (em_task_is_finished (task));
  g_assert_cmpuint (em_task_get_attempts (task), >=, 1);
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_event_type (event) == EM_EVENT_TASK_RETRYING &&
          em_event_get_task (event) == task)
        {
          g_assert_cmpstr (em_event_get_error (event), ==, INTERRUPTED);
          g_assert_cmpuint (em_event_get_attempt (event), ==, 1);
          saw_retrying = TRUE;
        }
    }
  g_assert_true (saw_retrying);
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 5000);
  g_assert_cmpuint (em_task_get_attempts (task), ==, 2);

  /* the settled state is itself on disk */
  close_manager (fx);
  open_manager (fx, 0);
  {
    g_autoptr(JsonNode) node = NULL;
    JsonObject *object = lookup_object (fx, once_id, &node);

    g_assert_cmpstr (status_of (object), ==, "failed");
    g_assert_cmpstr (json_object_get_string_member (object, "error"), ==, INTERRUPTED);
  }
  (void) error;
}

/* the stop fails the running attempt: the retry waits its delay, as after any
 * failed attempt, and the event says until when */
static void
test_recover_running_backoff (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 20000}");
  g_autoptr(GDateTime) before = NULL;
  g_autoptr(GDateTime) after = NULL;
  g_autoptr(GDateTime) earliest = NULL;
  g_autoptr(GDateTime) latest = NULL;
  g_autofree char *id = NULL;
  g_autofree char *run_at = NULL;
  g_autofree char *retry_at = NULL;
  EmTask *task;

  open_manager (fx, 1000);
  spec->max_retries = 2;
  spec->retry_delay = 30;
  task = schedule_spec (fx, spec);
  id = g_strdup (em_task_get_id (task));
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 5000);
  close_manager (fx);

  before = g_date_time_new_now_utc ();
  open_manager (fx, 1000);
  after = g_date_time_new_now_utc ();
  task = em_engine_manager_get_task (fx->manager, id);
  for (guint i = 0; i < fx->events->len; i++)
    {
      EmEvent *event = g_ptr_array_index (fx->events, i);

      if (em_event_get_event_type (event) == EM_EVENT_TASK_RETRYING)
        {
          g_autoptr(JsonNode) node = em_event_to_json (event);

          g_assert_null (retry_at);
          retry_at = g_strdup (json_object_get_string_member (json_node_get_object (node), "retry_at"));
        }
    }
  g_assert_nonnull (retry_at);
  g_assert_nonnull (em_task_get_run_at (task));
  run_at = g_date_time_format_iso8601 (em_task_get_run_at (task));
  {
    g_autoptr(GDateTime) parsed = g_date_time_new_from_iso8601 (retry_at, NULL);
    g_autofree char *normalized = g_date_time_format_iso8601 (parsed);

    g_assert_cmpstr (normalized, ==, run_at);
  }
  /* retry_delay × 2^(attempt − 1) from the start, for attempt 1 */
  earliest = g_date_time_add_seconds (before, 30);
  latest = g_date_time_add_seconds (after, 30);
  g_assert_cmpint (g_date_time_compare (em_task_get_run_at (task), earliest), >=, 0);
  g_assert_cmpint (g_date_time_compare (em_task_get_run_at (task), latest), <=, 0);

  em_test_run_for (100);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  g_assert_cmpuint (em_task_get_attempts (task), ==, 1);

  /* the wait itself is on disk */
  close_manager (fx);
  open_manager (fx, 1000);
  task = em_engine_manager_get_task (fx->manager, id);
  {
    g_autofree char *stored = g_date_time_format_iso8601 (em_task_get_run_at (task));

    g_assert_cmpstr (stored, ==, run_at);
  }
  em_test_run_for (100);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
}

/* the stage is held from the batch's move on, as before the stop */
static void
assert_waits_for_stage (Fixture *fx, const char *id)
{
  EmTask *task = em_engine_manager_get_task (fx->manager, id);
  const char * const *waiting_for;

  EM_TEST_WAIT_UNTIL (em_task_get_status (task) != EM_TASK_STATUS_PENDING ||
                      (em_task_get_waiting_for (task) != NULL &&
                       em_task_get_waiting_for (task)[0] != NULL), 5000);
  g_assert_cmpstr (em_task_status_to_string (em_task_get_status (task)), ==, "pending");
  waiting_for = em_task_get_waiting_for (task);
  g_assert_cmpstr (waiting_for[0], ==, "stage");
  g_assert_null (waiting_for[1]);
}

static void
test_recover_exclusive_batch (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *move_id = NULL, *capture_id = NULL, *other_id = NULL;
  EmTaskSpec *capture;

  /* a move, then a capture an hour later: the batch holds stage and camera
   * in between */
  open_manager (fx, 1000);
  em_engine_manager_pause (fx->manager);
  g_ptr_array_add (specs, spec_new ("move_stage", "{\"x\": 10}"));
  capture = spec_new ("capture_image", "{\"exposure\": 1}");
  capture->depends_on = g_strsplit ("#0", ",", -1);
  capture->delay = 3600;
  g_ptr_array_add (specs, capture);
  batch = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);
  move_id = g_strdup (em_task_get_id (g_ptr_array_index (batch, 0)));
  capture_id = g_strdup (em_task_get_id (g_ptr_array_index (batch, 1)));
  g_clear_pointer (&batch, g_ptr_array_unref);
  /* their rows are written before the batch starts, and rewritten when it does */
  sync_store (fx);
  em_engine_manager_resume (fx->manager);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (em_engine_manager_get_task (fx->manager, move_id)), 5000);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, move_id)), ==,
                   EM_TASK_STATUS_COMPLETED);

  /* another client's move waits for the batch's end */
  other_id = g_strdup (em_task_get_id (schedule (fx, "move_stage", "{\"x\": 20}")));
  assert_waits_for_stage (fx, other_id);
  close_manager (fx);

  open_manager (fx, 1000);
  assert_waits_for_stage (fx, other_id);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, capture_id)), ==,
                   EM_TASK_STATUS_PENDING);

  /* the batch's end frees the stage */
  g_assert_true (em_engine_manager_cancel_task (fx->manager, capture_id, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (em_engine_manager_get_task (fx->manager, other_id)), 5000);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, other_id)), ==,
                   EM_TASK_STATUS_COMPLETED);
}

/* an exclusive batch that waits on another client's task still waits for it
 * after a restart, rather than taking the devices that task needs */
static void
test_recover_batch_outside_dependency (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) batch = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EmTaskSpec) other = spec_new ("move_stage", "{\"x\": 20}");
  g_autofree char *other_id = NULL, *move_id = NULL, *capture_id = NULL;
  EmTaskSpec *capture;
  const char *deps[2] = { NULL, NULL };
  EmTask *move;

  open_manager (fx, 1000);
  other->delay = 1;
  other_id = g_strdup (em_task_get_id (schedule_spec (fx, other)));
  g_ptr_array_add (specs, spec_new ("move_stage", "{\"x\": 10}"));
  capture = spec_new ("capture_image", "{\"exposure\": 1}");
  deps[0] = other_id;
  capture->depends_on = g_strdupv ((char **) deps);
  g_ptr_array_add (specs, capture);
  batch = em_engine_manager_schedule_batch (fx->manager, specs, TRUE, &error);
  g_assert_no_error (error);
  move_id = g_strdup (em_task_get_id (g_ptr_array_index (batch, 0)));
  capture_id = g_strdup (em_task_get_id (g_ptr_array_index (batch, 1)));
  g_clear_pointer (&batch, g_ptr_array_unref);
  em_test_run_for (50);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, move_id)), ==,
                   EM_TASK_STATUS_PENDING);
  close_manager (fx);

  open_manager (fx, 1000);
  move = em_engine_manager_get_task (fx->manager, move_id);
  /* the batch's two tasks use different devices and may end in either order */
  EM_TEST_WAIT_UNTIL (em_task_is_finished (em_engine_manager_get_task (fx->manager, capture_id)) &&
                      em_task_is_finished (move), 5000);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, other_id)), ==,
                   EM_TASK_STATUS_COMPLETED);
  g_assert_cmpint (em_task_get_status (move), ==, EM_TASK_STATUS_COMPLETED);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, capture_id)), ==,
                   EM_TASK_STATUS_COMPLETED);
  /* the batch started once the other task had run */
  g_assert_cmpint (g_date_time_compare (
                     em_task_get_completed_at (em_engine_manager_get_task (fx->manager, other_id)),
                     em_task_get_started_at (move)), <=, 0);
}

static void
exec_sql (sqlite3 *db, const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
}

/* a running task recorded without attempts (a hand-edited or very old file)
 * has still run once: the stop ends it as interrupted, as any other, rather
 * than retrying it after the longest delay */
static void
test_recover_running_no_attempts (Fixture *fx, gconstpointer data)
{
  g_autofree char *id = NULL;
  g_autofree char *sql = NULL;
  EmTask *task;
  sqlite3 *db;

  open_manager (fx, 1000);
  task = schedule (fx, "wait", "{\"duration\": 20000}");
  id = g_strdup (em_task_get_id (task));
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_RUNNING, 5000);
  close_manager (fx);

  g_assert_cmpint (sqlite3_open (fx->db_path, &db), ==, SQLITE_OK);
  sql = g_strdup_printf ("UPDATE tasks SET json = json_set (json, '$.attempts', 0) "
                         "WHERE id = '%s' AND status = 'running'", id);
  exec_sql (db, sql);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);

  open_manager (fx, 1000);
  task = em_engine_manager_get_task (fx->manager, id);
  g_assert_cmpstr (em_task_status_to_string (em_task_get_status (task)), ==, "failed");
  g_assert_cmpstr (em_task_get_error (task), ==, INTERRUPTED);
  g_assert_cmpuint (em_task_get_attempts (task), ==, 1);
}

/* a file as the first release wrote it: tasks only, schema version 1 */
static void
write_v1_file (const char *path, int user_version)
{
  sqlite3 *db = NULL;
  g_autofree char *version = g_strdup_printf ("PRAGMA user_version = %d", user_version);

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  exec_sql (db,
            "CREATE TABLE tasks (id TEXT PRIMARY KEY NOT NULL, serial INTEGER NOT NULL UNIQUE,"
            " status TEXT NOT NULL, action TEXT NOT NULL, created_at TEXT NOT NULL,"
            " json TEXT NOT NULL);"
            "CREATE INDEX tasks_status ON tasks (status, serial);"
            "INSERT INTO tasks VALUES ('11111111-1111-4111-8111-111111111111', 1, 'completed',"
            " 'wait', '2025-01-02T03:04:05.000006Z', '{\"id\":\"11111111-1111-4111-8111-111111111111\","
            "\"name\":\"old\",\"action\":\"wait\",\"parameters\":{\"duration\":1},"
            "\"status\":\"completed\",\"result\":{\"waited\":1.5},\"error\":null,"
            "\"created_at\":\"2025-01-02T03:04:05.000006Z\",\"started_at\":\"2025-01-02T03:04:05.000010Z\","
            "\"completed_at\":\"2025-01-02T03:04:05.001600Z\",\"progress\":1,\"priority\":0,"
            "\"depends_on\":[],\"waiting_on\":[],\"waiting_for\":[],\"max_retries\":0,"
            "\"retry_delay\":1,\"attempts\":1,\"run_at\":null,\"timeout\":null,\"batch\":null}');"
            "INSERT INTO tasks VALUES ('22222222-2222-4222-8222-222222222222', 2, 'pending',"
            " 'wait', '2025-06-01T00:00:00.000000Z', '{\"id\":\"22222222-2222-4222-8222-222222222222\","
            "\"name\":\"waiting\",\"action\":\"wait\",\"parameters\":{\"duration\":1},"
            "\"status\":\"pending\",\"result\":null,\"error\":null,"
            "\"created_at\":\"2025-06-01T00:00:00.000000Z\",\"started_at\":null,"
            "\"completed_at\":null,\"progress\":0,\"priority\":0,"
            "\"depends_on\":[\"11111111-1111-4111-8111-111111111111\"],"
            "\"waiting_on\":[],\"waiting_for\":[],\"max_retries\":0,"
            "\"retry_delay\":1,\"attempts\":0,\"run_at\":null,\"timeout\":null,\"batch\":null}');");
  exec_sql (db, version);
  sqlite3_close (db);
}

static gint64
file_pragma (const char *path, const char *pragma)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  g_autofree char *sql = g_strdup_printf ("PRAGMA %s", pragma);
  gint64 value;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return value;
}

static gint64
file_user_version (const char *path)
{
  return file_pragma (path, "user_version");
}

static guint
count_by_status (Fixture *fx, guint statuses)
{
  g_auto(EmTaskQuery) q;
  g_autoptr(GPtrArray) found = NULL;
  guint total = G_MAXUINT;

  em_task_query_init (&q);
  q.statuses = statuses;
  q.count_only = TRUE;
  found = query (fx, &q, &total);
  return total;
}

#define ONE(status) EM_TASK_QUERY_STATUS (EM_TASK_STATUS_##status)

/* the file's counts by status are what a scan of its rows finds */
static void
assert_counts_match_rows (const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db,
                   "SELECT (SELECT count(*) FROM (SELECT status, count(*) AS c FROM tasks GROUP BY status)"
                   "        LEFT JOIN task_counts USING (status) WHERE n IS NOT c) +"
                   "       (SELECT count(*) FROM task_counts AS t"
                   "        WHERE n <> (SELECT count(*) FROM tasks WHERE status = t.status))",
                   -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

/* a file this build makes has large pages; an older one keeps its own */
static void
test_page_size (Fixture *fx, gconstpointer data)
{
  open_manager (fx, 0);
  schedule (fx, "wait", "{\"duration\": 0}");
  close_manager (fx);
  g_assert_cmpint (file_pragma (fx->db_path, "page_size"), ==, EM_STORE_PAGE_SIZE);

  g_assert_cmpint (g_unlink (fx->db_path), ==, 0);
  write_v1_file (fx->db_path, 1);
  g_assert_cmpint (file_pragma (fx->db_path, "page_size"), ==, 4096);
  open_manager (fx, 0);
  schedule (fx, "wait", "{\"duration\": 0}");
  close_manager (fx);
  g_assert_cmpint (file_pragma (fx->db_path, "page_size"), ==, 4096);
  g_assert_cmpint (file_user_version (fx->db_path), ==, EM_STORE_SCHEMA_VERSION);
}

static void
test_migrate_v1 (Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonNode) old = NULL;
  g_autoptr(JsonNode) waiting = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GDateTime) since = g_date_time_new_utc (2025, 3, 1, 0, 0, 0);
  g_auto(EmTaskQuery) q;
  guint total = 0;
  EmTask *next;

  write_v1_file (fx->db_path, 1);
  open_manager (fx, 0);

  /* the pending task resumes; its dependency is known though only stored */
  EM_TEST_WAIT_UNTIL (em_engine_manager_get_task (fx->manager, "22222222-2222-4222-8222-222222222222") != NULL &&
                      em_task_is_finished (em_engine_manager_get_task (fx->manager,
                                                                       "22222222-2222-4222-8222-222222222222")), 5000);
  g_assert_cmpstr (status_of (lookup_object (fx, "22222222-2222-4222-8222-222222222222", &waiting)),
                   ==, "completed");
  g_assert_cmpfloat (json_object_get_double_member (json_object_get_object_member (
                       lookup_object (fx, "11111111-1111-4111-8111-111111111111", &old), "result"),
                       "waited"), ==, 1.5);

  /* the new time columns were filled from the old rows */
  em_task_query_init (&q);
  q.since = g_date_time_ref (since);
  found = query (fx, &q, &total);
  g_assert_cmpuint (total, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 0)), "id"),
                   ==, "22222222-2222-4222-8222-222222222222");

  /* serials continue after the old ones; events are recorded from now on */
  next = schedule (fx, "wait", "{\"duration\": 1}");
  g_assert_cmpuint (em_task_get_serial (next), ==, 3);
  close_manager (fx);
  g_assert_cmpint (file_user_version (fx->db_path), ==, EM_STORE_SCHEMA_VERSION);
  /* the old rows were counted by the migration, the new ones by the triggers */
  assert_counts_match_rows (fx->db_path);

  open_manager (fx, 0);
  {
    g_autoptr(GPtrArray) frames = read_events (fx, 0, 0, NULL);

    g_assert_cmpuint (frames->len, >=, 3);
  }
}

/* a file as version 2 left it (version 3 only adds the counts by status and
 * their trigger): it is migrated, its tasks counted, its history kept */
static void
test_migrate_v2 (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GPtrArray) frames = NULL;
  g_auto(EmTaskQuery) q;
  g_autoptr(GPtrArray) all = NULL;
  guint total = 0;
  sqlite3 *db = NULL;

  open_manager (fx, 1);
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 0}"));
  g_ptr_array_add (tasks, schedule (fx, FAILING, FAILING_PARAMS));
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  close_manager (fx);
  g_assert_cmpint (sqlite3_open (fx->db_path, &db), ==, SQLITE_OK);
  exec_sql (db, "DROP TRIGGER task_counts_delete; DROP TABLE task_counts; PRAGMA user_version = 2");
  sqlite3_close (db);

  open_manager (fx, 1);
  g_assert_cmpuint (count_by_status (fx, ONE (COMPLETED)), ==, 3);
  g_assert_cmpuint (count_by_status (fx, ONE (FAILED)), ==, 1);
  em_task_query_init (&q);
  all = query (fx, &q, &total);
  g_assert_cmpuint (total, ==, 4);
  g_assert_cmpuint (all->len, ==, 4);
  frames = read_events (fx, 0, 0, NULL);
  g_assert_cmpuint (frames->len, >=, 4 * 3);
  close_manager (fx);
  g_assert_cmpint (file_user_version (fx->db_path), ==, EM_STORE_SCHEMA_VERSION);
  assert_counts_match_rows (fx->db_path);
}

/* a task from a schema 1 file has no task_scheduled event, the first of its
 * events pruning keeps the log from: while it is pending, its events stay
 * all the same (here the retry its interrupted run brings at the start) */
static void
test_migrate_v1_prune (Fixture *fx, gconstpointer data)
{
  static const char running_id[] = "33333333-3333-4333-8333-333333333333";
  g_autoptr(GPtrArray) frames = NULL;
  sqlite3 *db = NULL;
  guint64 oldest = 0;
  gboolean retry_kept = FALSE;

  write_v1_file (fx->db_path, 1);
  g_assert_cmpint (sqlite3_open (fx->db_path, &db), ==, SQLITE_OK);
  exec_sql (db,
            "INSERT INTO tasks VALUES ('33333333-3333-4333-8333-333333333333', 3, 'running',"
            " 'wait', '2025-06-02T00:00:00.000000Z', '{\"id\":\"33333333-3333-4333-8333-333333333333\","
            "\"name\":\"interrupted\",\"action\":\"wait\",\"parameters\":{\"duration\":1},"
            "\"status\":\"running\",\"result\":null,\"error\":null,"
            "\"created_at\":\"2025-06-02T00:00:00.000000Z\",\"started_at\":\"2025-06-02T00:00:01.000000Z\","
            "\"completed_at\":null,\"progress\":0,\"priority\":0,"
            "\"depends_on\":[],\"waiting_on\":[],\"waiting_for\":[],\"max_retries\":3,"
            "\"retry_delay\":3600,\"attempts\":1,\"run_at\":null,\"timeout\":null,\"batch\":null}');");
  sqlite3_close (db);

  open_manager (fx, 0);
  g_assert_cmpint (em_task_get_status (em_engine_manager_get_task (fx->manager, running_id)), ==,
                   EM_TASK_STATUS_PENDING);
  for (guint i = 0; i < 3; i++)
    schedule (fx, "wait", "{\"duration\": 0}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_COMPLETED }) == 4, 5000);
  sync_store (fx);

  /* all the finished tasks but the newest go, and with them their events */
  g_object_set (fx->manager, "retention-max-tasks", 2, NULL);
  g_assert_cmpuint (prune (fx), ==, 4);
  frames = read_events (fx, 0, 0, &oldest);
  for (guint i = 0; i < frames->len; i++)
    {
      g_autofree char *frame = frame_string (g_ptr_array_index (frames, i));

      retry_kept |= strstr (frame, "task_retrying") != NULL && strstr (frame, running_id) != NULL;
    }
  g_assert_true (retry_kept);
  g_assert_cmpuint (oldest, ==, 1);
}

static void
assert_open_fails (Fixture *fx, const char *what)
{
  g_autoptr(EmEngineManager) manager = new_manager (fx);
  g_autoptr(GError) error = NULL;

  g_assert_false (em_engine_manager_open_store (manager, &error));
  g_assert_nonnull (error);
  g_test_message ("%s: %s", what, error->message);
  /* the message names the file */
  g_assert_nonnull (strstr (error->message, fx->db_path));
  g_assert_false (em_engine_manager_has_store (manager));
}

/* a seq means something only within its log: the id is the file's, kept
 * across restarts, made for a file that has none (an older version's) */
static void
test_log_id (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmEngineManager) memory = new_manager (fx);
  g_autoptr(EmEngineManager) other = new_manager (fx);
  g_autofree char *first = NULL;
  g_autofree char *made = NULL;
  sqlite3 *db = NULL;

  /* without a store, a new log every run */
  g_assert_cmpuint (strlen (em_engine_manager_get_event_log_id (memory)), ==, 16);
  g_assert_cmpstr (em_engine_manager_get_event_log_id (memory), !=,
                   em_engine_manager_get_event_log_id (other));

  open_manager (fx, 0);
  first = g_strdup (em_engine_manager_get_event_log_id (fx->manager));
  g_assert_cmpuint (strspn (first, "0123456789abcdef"), ==, 16);
  g_assert_cmpstr (first, !=, em_engine_manager_get_event_log_id (memory));
  schedule (fx, "wait", "{\"duration\": 0}");
  close_manager (fx);

  open_manager (fx, 0);
  g_assert_cmpstr (em_engine_manager_get_event_log_id (fx->manager), ==, first);
  close_manager (fx);

  /* a file from before the id: it gets one, kept from then on */
  g_assert_cmpint (sqlite3_open (fx->db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "DELETE FROM meta WHERE key = 'log_id'", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);
  open_manager (fx, 0);
  made = g_strdup (em_engine_manager_get_event_log_id (fx->manager));
  g_assert_cmpuint (strspn (made, "0123456789abcdef"), ==, 16);
  close_manager (fx);
  open_manager (fx, 0);
  g_assert_cmpstr (em_engine_manager_get_event_log_id (fx->manager), ==, made);
}

static void
test_refuse_newer (Fixture *fx, gconstpointer data)
{
  write_v1_file (fx->db_path, 99);
  assert_open_fails (fx, "newer schema");
  g_assert_cmpint (file_user_version (fx->db_path), ==, 99);
}

static void
test_refuse_corrupt (Fixture *fx, gconstpointer data)
{
  g_autofree char *garbage = g_strnfill (8192, 'x');
  g_autofree char *after = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0, page;
  g_autoptr(GError) error = NULL;

  /* not a database at all: refused, and left exactly as it was */
  g_assert_true (g_file_set_contents (fx->db_path, garbage, 8192, &error));
  assert_open_fails (fx, "garbage");
  g_assert_true (g_file_get_contents (fx->db_path, &after, &length, &error));
  g_assert_cmpuint (length, ==, 8192);
  g_assert_cmpmem (after, length, garbage, 8192);
  g_remove (fx->db_path);

  /* a real store with a damaged page */
  open_manager (fx, 1000);
  for (guint i = 0; i < 200; i++)
    schedule (fx, "wait", "{\"duration\": 0}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_COMPLETED }) == 200, 10000);
  close_manager (fx);
  page = (gsize) file_pragma (fx->db_path, "page_size");
  g_assert_true (g_file_get_contents (fx->db_path, &contents, &length, &error));
  g_assert_cmpuint (length, >, 4 * page);
  memset (contents + 2 * page, 0x5a, page);
  g_assert_true (g_file_set_contents (fx->db_path, contents, length, &error));
  assert_open_fails (fx, "damaged page");
}

#define NOBODY 65534

/* for the rest of this (sub)process, the user "nobody", owning the fixture's
 * directory */
static void
become_unprivileged (Fixture *fx)
{
  /* GStreamer reads its registry, under root's home, while it still may */
  gst_init (NULL, NULL);
  g_assert_cmpint (chown (fx->data_dir, NOBODY, NOBODY), ==, 0);
  g_assert_cmpint (setgroups (0, NULL), ==, 0);
  g_assert_cmpint (setgid (NOBODY), ==, 0);
  g_assert_cmpint (setuid (NOBODY), ==, 0);
  /* setuid() made the process undumpable, which the leak checker needs */
  g_assert_cmpint (prctl (PR_SET_DUMPABLE, 1, 0, 0, 0), ==, 0);
}

static void
test_refuse_unwritable (Fixture *fx, gconstpointer data)
{
  /* a directory where the file should be stops everyone, root included */
  g_assert_cmpint (g_mkdir (fx->db_path, 0700), ==, 0);
  assert_open_fails (fx, "directory in the way");
  g_rmdir (fx->db_path);

  /* root ignores permission bits: it checks the rest in a subprocess that
   * gives up its privileges first */
  if (geteuid () == 0)
    {
      if (!g_test_subprocess ())
        {
          g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
          g_test_trap_assert_passed ();
          return;
        }
      become_unprivileged (fx);
    }

  /* a read-only directory */
  g_assert_cmpint (g_chmod (fx->data_dir, 0500), ==, 0);
  assert_open_fails (fx, "read-only directory");
  g_chmod (fx->data_dir, 0700);

  /* a read-only file */
  open_manager (fx, 0);
  close_manager (fx);
  g_assert_cmpint (g_chmod (fx->db_path, 0400), ==, 0);
  assert_open_fails (fx, "read-only file");
  g_chmod (fx->db_path, 0600);
}

static void
test_refuse_locked (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  open_manager (fx, 0);
  {
    g_autoptr(EmEngineManager) second = new_manager (fx);

    g_assert_false (em_engine_manager_open_store (second, &error));
    g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
    g_assert_nonnull (strstr (error->message, fx->db_path));
    g_assert_nonnull (strstr (error->message, "locked"));
  }
  close_manager (fx);
  open_manager (fx, 0);
}

/* an acknowledgement that the store cannot give; @file names what failed */
static void
assert_sync_fails (Fixture *fx, const char *file)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  /* once the store has failed it refuses new tasks, naming the file */
  if (em_engine_manager_check_store (fx->manager, NULL))
    schedule (fx, "wait", "{\"duration\": 0}");
  else
    {
      g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 0}");

      g_assert_null (em_engine_manager_schedule_task (fx->manager, spec, &error));
      g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
      g_assert_nonnull (strstr (error->message, file));
      g_clear_error (&error);
    }
  em_engine_manager_sync_async (fx->manager, NULL, got_result, &result);
  WAIT_RESULT (result);
  g_assert_false (em_engine_manager_sync_finish (fx->manager, result, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, file));
}

static void
assert_store_failed (Fixture *fx, const char *file)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (em_engine_manager_check_store (fx->manager, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, file));
}

/* a full disk, for this process: writes past @bytes fail with EFBIG. The
 * store logs each write that fails, on its own threads: warnings stop being
 * fatal until the manager is closed (end_disk_full()) */
static struct rlimit
limit_file_size (rlim_t bytes, GLogLevelFlags *out_fatal_mask)
{
  struct rlimit before, limit;

  *out_fatal_mask = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &before), ==, 0);
  limit = before;
  limit.rlim_cur = bytes;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
  return before;
}

static void
end_disk_full (Fixture *fx, GLogLevelFlags fatal_mask)
{
  close_manager (fx);
  g_log_set_always_fatal (fatal_mask);
}

/* the journal cannot grow: every acknowledgement fails from then on, and the
 * store says so, naming the journal, even once there is room again */
static void
test_failure_journal (Fixture *fx, gconstpointer data)
{
  g_autofree char *journal = g_build_filename (fx->data_dir, "tasks.journal", NULL);
  g_autoptr(GError) error = NULL;
  GLogLevelFlags fatal_mask;
  struct rlimit before;

  open_manager (fx, 50);
  schedule (fx, "wait", "{\"duration\": 0}");
  sync_store (fx);
  g_assert_true (em_engine_manager_check_store (fx->manager, &error));
  g_assert_no_error (error);

  before = limit_file_size (1, &fatal_mask);
  assert_sync_fails (fx, journal);
  assert_store_failed (fx, journal);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);

  assert_sync_fails (fx, journal);
  assert_store_failed (fx, journal);
  end_disk_full (fx, fatal_mask);
}

/* the task, or NULL once the store has failed a write (maybe just now, on
 * its threads) and refuses new ones */
static EmTask *
try_schedule (Fixture *fx, EmTaskSpec *spec)
{
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_schedule_task (fx->manager, spec, &error);

  if (task == NULL)
    {
      g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
      g_assert_false (em_engine_manager_check_store (fx->manager, NULL));
    }
  return task;
}

/* schedules tasks until the store, under a small file-size limit, has failed
 * a write; how many it scheduled */
static guint
schedule_until_failed (Fixture *fx)
{
  guint rounds = 0;

  while (em_engine_manager_check_store (fx->manager, NULL))
    {
      g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 0}");

      if (try_schedule (fx, spec) == NULL)
        break;
      em_test_run_for (30);
      g_assert_cmpuint (++rounds, <, 1000);
    }
  return rounds;
}

/* the database cannot grow while the journal can: the same, naming the database */
static void
test_failure_database (Fixture *fx, gconstpointer data)
{
  GLogLevelFlags fatal_mask;
  struct rlimit before;

  open_manager (fx, 50);
  before = limit_file_size (64 * 1024, &fatal_mask);
  /* each commit adds pages to the WAL, each acknowledgement a record of about
   * a kilobyte to the journal: the WAL reaches the limit first */
  schedule_until_failed (fx);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  assert_store_failed (fx, fx->db_path);
  assert_sync_fails (fx, fx->db_path);
  end_disk_full (fx, fatal_mask);
}

/* the store answers from its overlay meanwhile, which has what the database
 * lacks: finished tasks still leave memory past --keep-finished, and every
 * read finds those that ended since the failure as they ended. New tasks
 * are refused until the restart: they could not be acknowledged, and would
 * run all the same */
static void
test_failure_database_eviction (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) delayed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(EmTaskSpec) refused = spec_new ("wait", "{\"duration\": 0}");
  g_autoptr(GDateTime) since = NULL;
  g_auto(EmTaskQuery) q;
  g_autofree char *long_id = NULL;
  GLogLevelFlags fatal_mask;
  struct rlimit before;
  guint total = G_MAXUINT;

  open_manager (fx, 2);
  long_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 60000}")));
  EM_TEST_WAIT_UNTIL (em_task_get_status (em_engine_manager_get_task (fx->manager, long_id)) ==
                      EM_TASK_STATUS_RUNNING, 5000);
  for (guint i = 0; i < 6; i++)
    {
      g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 0}");
      EmTask *task;

      spec->delay = 3600;
      task = schedule_spec (fx, spec);
      if (i == 0)
        since = g_date_time_ref (em_task_get_created_at (task));
      g_ptr_array_add (delayed, g_strdup (em_task_get_id (task)));
    }
  sync_store (fx);

  before = limit_file_size (64 * 1024, &fatal_mask);
  schedule_until_failed (fx);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  g_assert_null (em_engine_manager_schedule_task (fx->manager, refused, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, fx->db_path));
  g_clear_error (&error);

  /* they end after the failure: the database still has them pending or running */
  g_assert_true (em_engine_manager_cancel_task (fx->manager, long_id, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < delayed->len; i++)
    {
      g_assert_true (em_engine_manager_cancel_task (fx->manager, g_ptr_array_index (delayed, i), &error));
      g_assert_no_error (error);
    }
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager) &&
                      em_engine_manager_count_tasks (fx->manager, NULL) <= 2, 5000);
  g_assert_null (em_engine_manager_get_task (fx->manager, g_ptr_array_index (delayed, 0)));

  for (guint i = 0; i < delayed->len; i++)
    {
      g_autoptr(JsonNode) node = NULL;

      g_assert_cmpstr (status_of (lookup_object (fx, g_ptr_array_index (delayed, i), &node)), ==,
                       "cancelled");
    }
  {
    g_autoptr(JsonNode) node = NULL;

    g_assert_cmpstr (status_of (lookup_object (fx, long_id, &node)), ==, "cancelled");
  }

  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_PENDING) | EM_TASK_QUERY_STATUS (EM_TASK_STATUS_RUNNING);
  g_ptr_array_unref (query (fx, &q, &total));
  g_assert_cmpuint (total, ==, 0);

  /* cancelled, by action and time, a page at a time from an evicted task */
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_CANCELLED);
  q.action = g_strdup ("wait");
  q.since = g_date_time_ref (since);
  q.after_id = g_strdup (g_ptr_array_index (delayed, 1));
  q.limit = 2;
  {
    g_autoptr(GPtrArray) found = query (fx, &q, &total);

    g_assert_cmpuint (total, ==, delayed->len);
    g_assert_cmpuint (found->len, ==, 2);
    for (guint k = 0; k < found->len; k++)
      g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, k)),
                                                      "id"), ==, g_ptr_array_index (delayed, 2 + k));
  }

  /* events up to the last one recorded, from the start */
  {
    g_autoptr(GPtrArray) frames = read_events (fx, 0, 0, NULL);

    g_assert_cmpuint (frames->len, ==, em_engine_manager_get_committed_event_seq (fx->manager));
  }
  end_disk_full (fx, fatal_mask);

  /* the restart has them all from the journal */
  open_manager (fx, 2);
  for (guint i = 0; i < delayed->len; i++)
    {
      g_autoptr(JsonNode) node = NULL;

      g_assert_cmpstr (status_of (lookup_object (fx, g_ptr_array_index (delayed, i), &node)), ==,
                       "cancelled");
    }
}

/* after a failed commit the database lacks what the journal keeps for the
 * next start: a deletion or a pruning would act on a stale record (a task
 * cancelled since then is cancelled in memory and in the journal, running in
 * the database). Both are refused, naming the file, until a restart, which
 * has everything again */
static void
test_failure_database_delete (Fixture *fx, gconstpointer data)
{
  g_auto(EmTaskQuery) q;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) pruned = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *done_id = NULL, *long_id = NULL;
  GLogLevelFlags fatal_mask;
  struct rlimit before;
  guint count = G_MAXUINT, rounds;

  open_manager (fx, 50);
  done_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  long_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 60000}")));
  EM_TEST_WAIT_UNTIL (em_task_is_finished (em_engine_manager_get_task (fx->manager, done_id)) &&
                      em_task_get_status (em_engine_manager_get_task (fx->manager, long_id)) ==
                      EM_TASK_STATUS_RUNNING, 5000);
  sync_store (fx);

  before = limit_file_size (64 * 1024, &fatal_mask);
  rounds = schedule_until_failed (fx);
  /* room again: only the failed commit stands in the way */
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  g_assert_true (em_engine_manager_cancel_task (fx->manager, long_id, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager) &&
                      em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) == 0, 5000);

  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_FINISHED;
  g_assert_false (delete_tasks (fx, &q, &count, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, fx->db_path));
  g_clear_error (&error);
  g_object_set (fx->manager, "retention-max-tasks", 1, NULL);
  em_engine_manager_prune_async (fx->manager, NULL, got_result, &pruned);
  WAIT_RESULT (pruned);
  g_assert_false (em_engine_manager_prune_finish (fx->manager, pruned, &count, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  g_clear_object (&pruned);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, done_id));
  end_disk_full (fx, fatal_mask);

  open_manager (fx, 50);
  g_assert_cmpstr (status_of (lookup_object (fx, long_id, &node)), ==, "cancelled");
  /* every task is there, finished, and deletable again */
  g_assert_true (delete_tasks (fx, &q, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, rounds + 2);
}

/* what a listing answers once the database has stopped taking writes: every
 * task as it is now, whether its last rows reached the file or not. A task
 * cancelled since is listed as cancelled, not as running, and counted with
 * the cancelled ones; paging crosses tasks of both kinds */
static void
test_failure_database_listing (Fixture *fx, gconstpointer data)
{
  g_auto(EmTaskQuery) q;
  g_autoptr(GPtrArray) early = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) later = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autofree char *long_id = NULL;
  GLogLevelFlags fatal_mask;
  struct rlimit before;
  guint total = G_MAXUINT;

  open_manager (fx, 2);
  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (early, g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}"))));
  long_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 60000}")));
  EM_TEST_WAIT_UNTIL (em_task_get_status (em_engine_manager_get_task (fx->manager, long_id)) ==
                      EM_TASK_STATUS_RUNNING &&
                      em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_COMPLETED }) <= 2,
                      5000);
  /* the evicted ones are in the database for good */
  em_task_query_init (&q);
  g_ptr_array_unref (query_all (fx));

  before = limit_file_size (64 * 1024, &fatal_mask);
  while (em_engine_manager_check_store (fx->manager, NULL))
    {
      g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 0}");
      EmTask *task;

      spec->delay = 3600;
      if ((task = try_schedule (fx, spec)) == NULL)
        break;
      g_ptr_array_add (later, g_strdup (em_task_get_id (task)));
      em_test_run_for (30);
      g_assert_cmpuint (later->len, <, 1000);
    }
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  g_assert_true (em_engine_manager_cancel_task (fx->manager, long_id, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < later->len; i++)
    {
      g_assert_true (em_engine_manager_cancel_task (fx->manager, g_ptr_array_index (later, i), &error));
      g_assert_no_error (error);
    }
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  em_test_run_for (100);

  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_RUNNING);
  g_ptr_array_unref (query (fx, &q, &total));
  g_assert_cmpuint (total, ==, 0);

  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_CANCELLED);
  {
    g_autoptr(GPtrArray) found = query (fx, &q, &total);

    g_assert_cmpuint (total, ==, later->len + 1);
    g_assert_cmpuint (found->len, ==, later->len + 1);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 0)),
                                                    "id"), ==, long_id);
  }

  /* the completed ones, most only in the database, page by page */
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_COMPLETED);
  q.limit = 2;
  for (guint i = 0; i < early->len; i += 2)
    {
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GPtrArray) found = NULL;
      guint64 next = 0;

      em_engine_manager_query_tasks_async (fx->manager, &q, NULL, got_result, &result);
      WAIT_RESULT (result);
      found = em_engine_manager_query_tasks_finish (fx->manager, result, &total, &next, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (total, ==, early->len);
      g_assert_cmpuint (found->len, ==, MIN (2, early->len - i));
      for (guint k = 0; k < found->len; k++)
        g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, k)),
                                                        "id"), ==, g_ptr_array_index (early, i + k));
      g_assert_true ((next != 0) == (i + 2 < early->len));
      q.after = next;
    }

  /* everything, offset past the memory's first tasks */
  q.statuses = 0;
  q.after = 0;
  q.limit = 3;
  q.offset = 4;
  {
    g_autoptr(GPtrArray) found = query (fx, &q, &total);

    g_assert_cmpuint (total, ==, early->len + 1 + later->len);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 0)),
                                                    "id"), ==, g_ptr_array_index (early, 4));
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 1)),
                                                    "id"), ==, long_id);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 1)),
                                                    "status"), ==, "cancelled");
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 2)),
                                                    "id"), ==, g_ptr_array_index (later, 0));
  }
  end_disk_full (fx, fatal_mask);
}

/* reads from 0, from the store (the ring has only the events since the
 * restart): every event up to the committed seq, as emitted, and none after */
static void
assert_events_committed (Fixture *fx)
{
  guint64 committed = em_engine_manager_get_committed_event_seq (fx->manager);
  g_autoptr(GPtrArray) frames = read_events (fx, 0, 0, NULL);
  g_autoptr(GPtrArray) after = read_events (fx, committed, 0, NULL);

  g_assert_cmpuint (frames->len, ==, committed);
  for (guint i = 0; i < frames->len; i++)
    {
      g_autofree char *text = frame_string (g_ptr_array_index (frames, i));

      g_assert_cmpstr (text, ==, g_ptr_array_index (fx->frames, i));
    }
  g_assert_cmpuint (after->len, ==, 0);
}

/* once the database has failed, the events since are in its in-memory
 * stand-in and, while it can be written, in the journal, which the restart
 * replays under the same seqs: they are recorded, and LastEventSeq and
 * reads go on with them. Once the journal fails too, they are in memory
 * only, and the restart would number other events with their seqs:
 * LastEventSeq stops, and a read from the store stops there too, as the
 * ring's does */
static void
test_failure_database_events (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) delayed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  GLogLevelFlags fatal_mask;
  struct rlimit before;
  guint64 committed;

  open_manager (fx, 50);
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 0}");

      spec->delay = 3600;
      g_ptr_array_add (delayed, g_strdup (em_task_get_id (schedule_spec (fx, spec))));
    }
  sync_store (fx);
  close_manager (fx);
  open_manager (fx, 50);

  before = limit_file_size (64 * 1024, &fatal_mask);
  schedule_until_failed (fx);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (em_engine_manager_cancel_task (fx->manager, g_ptr_array_index (delayed, i), &error));
      g_assert_no_error (error);
    }
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager) &&
                      em_engine_manager_get_committed_event_seq (fx->manager) ==
                      em_engine_manager_get_last_event_seq (fx->manager), 5000);
  assert_events_committed (fx);

  /* the journal cannot grow either */
  before = limit_file_size (1, &fatal_mask);
  committed = em_engine_manager_get_committed_event_seq (fx->manager);
  for (guint i = 2; i < delayed->len; i++)
    {
      g_assert_true (em_engine_manager_cancel_task (fx->manager, g_ptr_array_index (delayed, i), &error));
      g_assert_no_error (error);
    }
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  em_test_run_for (200);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  g_assert_cmpuint (em_engine_manager_get_committed_event_seq (fx->manager), ==, committed);
  g_assert_cmpuint (committed, <, em_engine_manager_get_last_event_seq (fx->manager));
  assert_events_committed (fx);
  end_disk_full (fx, fatal_mask);

  /* the restart has what was recorded, under the same seqs */
  open_manager (fx, 50);
  g_assert_cmpuint (em_engine_manager_get_last_event_seq (fx->manager), ==, committed);
  g_ptr_array_set_size (fx->frames, committed);
  assert_events_committed (fx);
}

/* once the store has failed, the queue can still be paused, as a safety
 * control, but not resumed until the restart: every switch adds an event
 * that memory keeps meanwhile, and a client looping them would grow it
 * without bound */
static void
test_failure_database_pause (Fixture *fx, gconstpointer data)
{
  GLogLevelFlags fatal_mask;
  struct rlimit before;
  guint64 last;

  open_manager (fx, 50);
  before = limit_file_size (64 * 1024, &fatal_mask);
  schedule_until_failed (fx);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);

  last = em_engine_manager_get_last_event_seq (fx->manager);
  for (guint i = 0; i < 20; i++)
    {
      em_engine_manager_pause (fx->manager);
      g_assert_true (em_engine_manager_get_paused (fx->manager));
      em_engine_manager_resume (fx->manager);
    }
  g_assert_true (em_engine_manager_get_paused (fx->manager));
  g_assert_cmpuint (em_engine_manager_get_last_event_seq (fx->manager), ==, last + 1);
  end_disk_full (fx, fatal_mask);

  /* the pause was in the journal: the restart keeps it, and can resume */
  open_manager (fx, 50);
  g_assert_true (em_engine_manager_get_paused (fx->manager));
  em_engine_manager_resume (fx->manager);
  g_assert_false (em_engine_manager_get_paused (fx->manager));
}

/* the tasks that left memory just before a commit failed: their last rows
 * were in that commit, and the database still has them pending or running.
 * They read as they finished, in a lookup and in a listing */
static void
test_failure_database_evicted (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_auto(EmTaskQuery) q;
  GLogLevelFlags fatal_mask;
  struct rlimit before;
  guint total = G_MAXUINT;

  open_manager (fx, 0);
  before = limit_file_size (64 * 1024, &fatal_mask);
  while (em_engine_manager_check_store (fx->manager, NULL))
    {
      for (guint i = 0; i < 3; i++)
        {
          g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 0}");
          EmTask *task = try_schedule (fx, spec);

          if (task != NULL)
            g_ptr_array_add (ids, g_strdup (em_task_get_id (task)));
        }
      em_test_run_for (20);
      g_assert_cmpuint (ids->len, <, 3000);
    }
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager) &&
                      em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) == 0, 5000);
  em_test_run_for (100);

  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr(JsonNode) node = NULL;

      g_assert_cmpstr (status_of (lookup_object (fx, g_ptr_array_index (ids, i), &node)), ==,
                       "completed");
    }
  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_COMPLETED);
  g_ptr_array_unref (query (fx, &q, &total));
  g_assert_cmpuint (total, ==, ids->len);
  end_disk_full (fx, fatal_mask);
}

static void
test_retention (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) delayed = spec_new ("wait", "{\"duration\": 1}");
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *pending_id = NULL, *running_id = NULL;
  g_autoptr(GError) error = NULL;
  guint64 oldest;
  guint n_pending = 0, n_running = 0;

  open_manager (fx, 2);
  delayed->delay = 3600;
  pending_id = g_strdup (em_task_get_id (schedule_spec (fx, delayed)));
  running_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 20000}")));
  for (guint i = 0; i < 12; i++)
    g_ptr_array_add (done, g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}"))));
  EM_TEST_WAIT_UNTIL (em_task_get_status (em_engine_manager_get_task (fx->manager, running_id)) ==
                      EM_TASK_STATUS_RUNNING, 5000);
  /* every quick one finished, so the oldest rows are the pending and running ones */
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) == 1 &&
                      em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_RUNNING }) == 1, 5000);
  sync_store (fx);

  /* nothing configured: nothing goes */
  g_assert_cmpuint (prune (fx), ==, 0);

  /* five rows at most, pending and running always among them */
  g_object_set (fx->manager, "retention-max-tasks", 5, NULL);
  g_assert_cmpuint (prune (fx), ==, 9);
  all = query_all (fx);
  g_assert_cmpuint (all->len, ==, 5);
  for (guint i = 0; i < all->len; i++)
    {
      JsonObject *task = json_node_get_object (g_ptr_array_index (all, i));
      const char *id = json_object_get_string_member (task, "id");

      n_pending += g_str_equal (id, pending_id);
      n_running += g_str_equal (id, running_id);
    }
  g_assert_cmpuint (n_pending, ==, 1);
  g_assert_cmpuint (n_running, ==, 1);
  /* the newest finished ones stayed, the oldest went, from memory too */
  {
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GError) not_found = NULL;

    g_assert_nonnull (lookup_object (fx, g_ptr_array_index (done, 11), &node));
    g_assert_null (lookup (fx, g_ptr_array_index (done, 0), &not_found));
    g_assert_error (not_found, EM_ERROR, EM_ERROR_NOT_FOUND);
    g_assert_null (em_engine_manager_get_task (fx->manager, g_ptr_array_index (done, 0)));
  }
  /* the early pending task keeps its events, so the log is untouched */
  g_assert_cmpuint (em_engine_manager_get_oldest_event_seq (fx->manager), ==, 1);

  /* once it is gone too, the log's prefix goes with the old tasks */
  g_assert_true (em_engine_manager_cancel_task (fx->manager, pending_id, &error));
  g_assert_no_error (error);
  g_object_set (fx->manager, "retention-max-tasks", 1, NULL);
  prune (fx);
  g_clear_pointer (&all, g_ptr_array_unref);
  all = query_all (fx);
  g_assert_cmpuint (all->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (all, 0)), "id"),
                   ==, running_id);
  oldest = em_engine_manager_get_oldest_event_seq (fx->manager);
  g_assert_cmpuint (oldest, >, 1);
  {
    guint64 reported = 0;
    g_autoptr(GPtrArray) frames = NULL;
    g_autoptr(JsonNode) first = NULL;

    /* a client asking from the start learns it must resync */
    close_manager (fx);
    open_manager (fx, 2);
    frames = read_events (fx, 0, 0, &reported);
    g_assert_cmpuint (reported, ==, oldest);
    g_assert_cmpuint (frames->len, >, 0);
    {
      g_autofree char *text = frame_string (g_ptr_array_index (frames, 0));

      first = json_from_string (text, NULL);
    }
    g_assert_cmpint (json_object_get_int_member (json_node_get_object (first), "seq"), ==, oldest);
  }

  /* by age: every finished task older than the limit */
  schedule (fx, "wait", "{\"duration\": 0}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_COMPLETED }) >= 1, 5000);
  g_object_set (fx->manager, "retention-max-tasks", 0, "retention-max-age", 0.2, NULL);
  em_test_run_for (400);
  g_assert_cmpuint (prune (fx), >=, 1);
  g_clear_pointer (&all, g_ptr_array_unref);
  all = query_all (fx);
  for (guint i = 0; i < all->len; i++)
    g_assert_cmpstr (status_of (json_node_get_object (g_ptr_array_index (all, i))), !=, "completed");

  /* the running task became failed at the restart: with it gone too, no task
   * is left, and the log keeps only its newest event, to resume from */
  g_assert_cmpuint (all->len, ==, 0);
  g_assert_cmpuint (em_engine_manager_get_last_event_seq (fx->manager), >, oldest);
  g_assert_cmpuint (em_engine_manager_get_oldest_event_seq (fx->manager), ==,
                    em_engine_manager_get_last_event_seq (fx->manager));
}

typedef struct {
  Fixture       *fx;
  GPtrArray     *ids;
  GAsyncResult **result;
  gboolean       partly_forgotten;
  gboolean       shut_down;            /* shut the engine down on seeing it */
  gboolean       answered_at_shutdown;
} ForgetWatch;

/* every turn of the loop until the deletion answers: are some of the
 * deleted tasks still in memory while others are gone already? */
static gboolean
watch_forgetting_cb (gpointer user_data)
{
  ForgetWatch *watch = user_data;
  guint in_memory = 0;

  if (*watch->result != NULL)
    return G_SOURCE_REMOVE;
  for (guint i = 0; i < watch->ids->len; i++)
    in_memory += em_engine_manager_get_task (watch->fx->manager, g_ptr_array_index (watch->ids, i)) != NULL;
  if (in_memory > 0 && in_memory < watch->ids->len)
    {
      watch->partly_forgotten = TRUE;
      if (watch->shut_down)
        {
          em_engine_manager_shutdown (watch->fx->manager);
          watch->answered_at_shutdown = *watch->result != NULL;
          return G_SOURCE_REMOVE;
        }
    }
  return G_SOURCE_CONTINUE;
}

/* a large deletion leaves memory over several turns of the loop, which
 * serves its other clients in between, and is answered once all are gone.
 * A shutdown in between lets go of the rest at once: the unanswered
 * deletion would hold the engine past the loop, its store never closed */
static void
test_delete_large (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(EmTaskQuery) q;
  ForgetWatch watch = { fx, ids, &result, FALSE, GPOINTER_TO_INT (data), FALSE };
  guint count = 0;

  open_manager (fx, 10000);
  for (guint i = 0; i < 4000; i++)
    {
      EmTask *task = schedule (fx, "wait", "{\"duration\": 0}");

      g_ptr_array_add (tasks, task);
      g_ptr_array_add (ids, g_strdup (em_task_get_id (task)));
    }
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 20000);
  g_ptr_array_set_size (tasks, 0);
  sync_store (fx);

  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_COMPLETED);
  em_engine_manager_delete_tasks_async (fx->manager, &q, NULL, got_result, &result);
  g_idle_add_full (G_PRIORITY_DEFAULT, watch_forgetting_cb, &watch, NULL);
  WAIT_RESULT (result);
  g_assert_true (em_engine_manager_delete_tasks_finish (fx->manager, result, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, ids->len);
  for (guint i = 0; i < ids->len; i++)
    g_assert_null (em_engine_manager_get_task (fx->manager, g_ptr_array_index (ids, i)));
  g_assert_true (watch.partly_forgotten);
  g_assert_true (watch.answered_at_shutdown == watch.shut_down);
  /* the watch sees the answer and ends */
  em_test_run_for (10);
}

static void
test_delete (Fixture *fx, gconstpointer data)
{
  g_auto(EmTaskQuery) q;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) left = NULL;
  g_autofree char *failed_id = NULL, *first_id = NULL;
  guint count = 0;

  open_manager (fx, 1);
  first_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  for (guint i = 0; i < 4; i++)
    schedule (fx, "wait", "{\"duration\": 0}");
  failed_id = g_strdup (em_task_get_id (schedule (fx, FAILING, FAILING_PARAMS)));
  schedule (fx, "wait", "{\"duration\": 60000}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_RUNNING }) == 1 &&
                      em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) == 0 &&
                      em_engine_manager_get_task (fx->manager, failed_id) != NULL &&
                      em_task_is_finished (em_engine_manager_get_task (fx->manager, failed_id)), 5000);

  /* only history can be deleted */
  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_RUNNING);
  g_assert_false (delete_tasks (fx, &q, &count, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_COMPLETED);
  q.until = g_date_time_new_now_utc ();
  g_assert_true (delete_tasks (fx, &q, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 5);
  g_assert_null (em_engine_manager_get_task (fx->manager, first_id));

  left = query_all (fx);
  g_assert_cmpuint (left->len, ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (left, 0)), "id"),
                   ==, failed_id);
  /* a deleted task is no longer a valid dependency */
  {
    g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 1}");
    const char *deps[2] = { first_id, NULL };

    spec->depends_on = g_strdupv ((char **) deps);
    g_assert_null (em_engine_manager_schedule_task (fx->manager, spec, &error));
    g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  }
}

/* counts by status come from the table the triggers keep, through every way
 * a row changes: finishing, deletion, pruning, the recovery of a restart */
static void
test_task_counts (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) delayed = spec_new ("wait", "{\"duration\": 1}");
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_auto(EmTaskQuery) q;
  g_autoptr(GError) error = NULL;
  guint count = 0;

  open_manager (fx, 1);
  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 0}"));
  g_ptr_array_add (tasks, schedule (fx, FAILING, FAILING_PARAMS));
  delayed->delay = 3600;
  g_ptr_array_add (tasks, schedule_spec (fx, delayed));
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (g_ptr_array_index (tasks, 6)),
                                                &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  schedule_spec (fx, delayed);
  schedule (fx, "wait", "{\"duration\": 60000}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_RUNNING }) == 1,
                      5000);

  g_assert_cmpuint (count_by_status (fx, ONE (COMPLETED)), ==, 5);
  g_assert_cmpuint (count_by_status (fx, ONE (FAILED)), ==, 1);
  g_assert_cmpuint (count_by_status (fx, ONE (CANCELLED)), ==, 1);
  g_assert_cmpuint (count_by_status (fx, ONE (PENDING)), ==, 1);
  g_assert_cmpuint (count_by_status (fx, ONE (RUNNING)), ==, 1);
  g_assert_cmpuint (count_by_status (fx, EM_TASK_QUERY_FINISHED), ==, 7);
  g_assert_cmpuint (count_by_status (fx, 0), ==, 9);

  em_task_query_init (&q);
  q.statuses = ONE (COMPLETED);
  q.until = g_date_time_new_now_utc ();
  g_assert_true (delete_tasks (fx, &q, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 5);
  g_assert_cmpuint (count_by_status (fx, ONE (COMPLETED)), ==, 0);
  g_assert_cmpuint (count_by_status (fx, 0), ==, 4);

  /* the failed one is the oldest finished row */
  g_object_set (fx->manager, "retention-max-tasks", 3, NULL);
  g_assert_cmpuint (prune (fx), ==, 1);
  g_assert_cmpuint (count_by_status (fx, ONE (FAILED)), ==, 0);
  g_assert_cmpuint (count_by_status (fx, EM_TASK_QUERY_FINISHED), ==, 1);
  close_manager (fx);
  assert_counts_match_rows (fx->db_path);

  /* the running task failed with the stop */
  open_manager (fx, 1);
  g_assert_cmpuint (count_by_status (fx, ONE (RUNNING)), ==, 0);
  g_assert_cmpuint (count_by_status (fx, ONE (FAILED)), ==, 1);
  g_assert_cmpuint (count_by_status (fx, 0), ==, 3);
  close_manager (fx);
  assert_counts_match_rows (fx->db_path);
}

/* the caller gives up (its client went away) while the database deletes:
 * the rows are gone all the same, and memory forgets the tasks with them, so
 * a lookup does not find what a listing no longer shows */
static void
test_delete_cancelled (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) left = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(EmTaskQuery) q;
  guint count = 0;

  open_manager (fx, 50);
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (ids, g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}"))));
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager,
                                                     &(EmTaskStatus) { EM_TASK_STATUS_COMPLETED }) == 3,
                      5000);

  em_task_query_init (&q);
  em_engine_manager_delete_tasks_async (fx->manager, &q, cancellable, got_result, &result);
  g_cancellable_cancel (cancellable);
  WAIT_RESULT (result);
  g_assert_false (em_engine_manager_delete_tasks_finish (fx->manager, result, &count, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  left = query_all (fx);
  g_assert_cmpuint (left->len, ==, 0);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr(JsonNode) node = NULL;

      g_assert_null (em_engine_manager_get_task (fx->manager, g_ptr_array_index (ids, i)));
      node = lookup (fx, g_ptr_array_index (ids, i), &error);
      g_assert_null (node);
      g_assert_error (error, EM_ERROR, EM_ERROR_NOT_FOUND);
      g_clear_error (&error);
    }
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
}

/* a task of the action that runs on after a cancellation, cancelled once it
 * runs: it stays in flight for @duration_ms; returns its id */
static char *
cancel_while_running (Fixture *fx, guint duration_ms)
{
  g_autofree char *params = g_strdup_printf ("{\"duration\": %u}", duration_ms);
  g_autoptr(GError) error = NULL;
  char *id = g_strdup (em_task_get_id (schedule (fx, "stubborn", params)));

  EM_TEST_WAIT_UNTIL (em_task_get_status (em_engine_manager_get_task (fx->manager, id)) ==
                      EM_TASK_STATUS_RUNNING, 5000);
  g_assert_true (em_engine_manager_cancel_task (fx->manager, id, &error));
  g_assert_no_error (error);
  return id;
}

/* a cancelled action that goes on running (it ignores its cancellable): the
 * task is cancelled at once, but it is not history until the action returns.
 * Deletion and retention leave it and do not count it meanwhile: memory and
 * the database agree, and a restart still finds it */
static void
test_delete_unreturned (Fixture *fx, gconstpointer data)
{
  g_auto(EmTaskQuery) q;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) stored = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *id = NULL;
  guint returned = em_test_stubborn_get_returned ();
  guint count = G_MAXUINT;

  open_manager (fx, 50);
  id = cancel_while_running (fx, 4000);

  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_CANCELLED);
  g_assert_true (delete_tasks (fx, &q, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 0);
  g_object_set (fx->manager, "retention-max-age", 0.05, "retention-max-tasks", 1, NULL);
  em_test_run_for (100);
  g_assert_cmpuint (prune (fx), ==, 0);
  g_object_set (fx->manager, "retention-max-age", 0.0, "retention-max-tasks", 0, NULL);

  stored = query_all (fx);
  g_assert_cmpuint (stored->len, ==, 1);
  g_assert_cmpstr (status_of (json_node_get_object (g_ptr_array_index (stored, 0))), ==, "cancelled");
  g_assert_cmpuint (em_test_stubborn_get_returned (), ==, returned);

  /* once it has returned, it is history like any other */
  EM_TEST_WAIT_UNTIL (em_test_stubborn_get_returned () > returned, 10000);
  close_manager (fx);
  open_manager (fx, 50);
  g_assert_cmpstr (status_of (lookup_object (fx, id, &node)), ==, "cancelled");
  g_assert_true (delete_tasks (fx, &q, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 1);
  g_assert_null (em_engine_manager_get_task (fx->manager, id));
  g_clear_pointer (&stored, g_ptr_array_unref);
  stored = query_all (fx);
  g_assert_cmpuint (stored->len, ==, 0);
}

/* a cancelled task whose action goes on until it returns is kept in memory
 * past keep-finished while it runs; once it returns it leaves like any
 * other, without waiting for some later change to trigger the eviction */
static void
test_evict_after_return (Fixture *fx, gconstpointer data)
{
  g_autofree char *id = NULL;
  guint returned = em_test_stubborn_get_returned ();

  open_manager (fx, 0);
  id = cancel_while_running (fx, 300);
  /* flushed and past the limit, but still running */
  em_test_run_for (150);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, id));

  EM_TEST_WAIT_UNTIL (em_test_stubborn_get_returned () > returned, 10000);
  EM_TEST_WAIT_UNTIL (em_engine_manager_get_task (fx->manager, id) == NULL, 2000);
}

static void
test_query_filters (Fixture *fx, gconstpointer data)
{
  g_auto(EmTaskQuery) q;
  g_autoptr(GDateTime) middle = NULL;
  guint total = 0;

  open_manager (fx, 0);
  for (guint i = 0; i < 4; i++)
    schedule (fx, "wait", "{\"duration\": 0}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 0, 5000);
  em_test_run_for (5);
  middle = g_date_time_new_now_utc ();
  em_test_run_for (5);
  for (guint i = 0; i < 3; i++)
    schedule (fx, "move_stage", "{\"x\": 1}");
  schedule (fx, FAILING, FAILING_PARAMS);
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 0, 5000);

  em_task_query_init (&q);
  q.action = g_strdup ("move_stage");
  {
    g_autoptr(GPtrArray) found = query (fx, &q, &total);

    g_assert_cmpuint (total, ==, 4);
  }
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_FAILED);
  {
    g_autoptr(GPtrArray) found = query (fx, &q, &total);

    g_assert_cmpuint (total, ==, 1);
  }
  g_clear_pointer (&q.action, g_free);
  q.statuses = 0;
  q.until = g_date_time_ref (middle);
  {
    g_autoptr(GPtrArray) found = query (fx, &q, &total);

    g_assert_cmpuint (total, ==, 4);
  }
  g_clear_pointer (&q.until, g_date_time_unref);
  q.since = g_date_time_ref (middle);
  q.offset = 1;
  q.limit = 2;
  {
    g_autoptr(GPtrArray) found = query (fx, &q, &total);

    g_assert_cmpuint (total, ==, 4);
    g_assert_cmpuint (found->len, ==, 2);
    g_assert_cmpint (json_object_get_int_member (json_node_get_object (g_ptr_array_index (found, 0)),
                                                 "attempts"), ==, 1);
  }
  /* memory stays bounded: everything above came from the store */
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
}

typedef struct {
  gint64 last;
  gint64 longest;
} Gaps;

static gint64
cpu_time_us (clockid_t clock)
{
  struct timespec ts;

  g_assert_cmpint (clock_gettime (clock, &ts), ==, 0);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* the main thread's CPU time between two turns: a busy machine's
 * preemption does not count */
static gboolean
record_gap_cb (gpointer user_data)
{
  Gaps *gaps = user_data;
  gint64 now = cpu_time_us (CLOCK_THREAD_CPUTIME_ID);

  gaps->longest = MAX (gaps->longest, now - gaps->last);
  gaps->last = now;
  return G_SOURCE_CONTINUE;
}

/* a listing of all of history: the rows come from the store, and memory
 * brings its few tasks up to date without walking every row on the loop
 * (200 000 rows held it up for 165 ms) */
static void
test_query_large (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) later = spec_new ("wait", "{\"duration\": 0}");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(EmTaskQuery) q;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
#ifdef HAVE_VALGRIND_H
  /* under valgrind the full size takes minutes */
  const guint n = RUNNING_ON_VALGRIND ? 10000 : 100000;
#else
  const guint n = 100000;
#endif
  Gaps gaps = { 0, 0 };
  guint source, total = 0;
  gint64 started, took;
  EmTask *pending;

  open_manager (fx, 0);
  close_manager (fx);
  g_assert_cmpint (sqlite3_open (fx->db_path, &db), ==, SQLITE_OK);
  exec_sql (db, "BEGIN");
  g_assert_cmpint (sqlite3_prepare_v2 (db, "INSERT INTO tasks (id, serial, status, action, created_at, "
                                       "created_us, finished_us, json) VALUES (?1, ?2, 'completed', "
                                       "'wait', '2025-01-01T00:00:00.000000Z', 0, 1, ?3)",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("00000000-0000-4000-8000-%012u", i);
      g_autofree char *json = g_strdup_printf ("{\"id\":\"%s\",\"name\":\"old\",\"action\":\"wait\","
                                               "\"parameters\":{\"duration\":0},\"status\":\"completed\","
                                               "\"result\":{\"waited\":0},\"error\":null,"
                                               "\"created_at\":\"2025-01-01T00:00:00.000000Z\","
                                               "\"started_at\":\"2025-01-01T00:00:00.000000Z\","
                                               "\"completed_at\":\"2025-01-01T00:00:00.000001Z\","
                                               "\"progress\":1,\"priority\":0,\"depends_on\":[],"
                                               "\"waiting_on\":[],\"max_retries\":0,\"attempts\":1}", id);

      sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 2, i + 1);
      sqlite3_bind_text (stmt, 3, json, -1, SQLITE_TRANSIENT);
      g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
      sqlite3_reset (stmt);
    }
  sqlite3_finalize (stmt);
  {
    g_autofree char *last = g_strdup_printf ("UPDATE meta SET value = %u WHERE key = 'last_serial'; "
                                             "COMMIT", n);

    exec_sql (db, last);
  }
  sqlite3_close (db);

  open_manager (fx, 0);
  later->delay = 3600;
  pending = schedule_spec (fx, later);
  em_task_set_progress (pending, 0.5);

  em_task_query_init (&q);
  gaps.last = cpu_time_us (CLOCK_THREAD_CPUTIME_ID);
  started = cpu_time_us (CLOCK_PROCESS_CPUTIME_ID);
  source = g_timeout_add (1, record_gap_cb, &gaps);
  em_engine_manager_query_tasks_async (fx->manager, &q, NULL, got_result, &result);
  WAIT_RESULT (result);
  record_gap_cb (&gaps);
  g_source_remove (source);
  took = cpu_time_us (CLOCK_PROCESS_CPUTIME_ID) - started;
  found = em_engine_manager_query_tasks_finish (fx->manager, result, &total, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, n + 1);
  g_assert_cmpuint (found->len, ==, n + 1);
  /* memory's own state, not the row handed over before it moved on */
  g_assert_cmpfloat (json_object_get_double_member (json_node_get_object (g_ptr_array_index (found, n)),
                                                    "progress"), ==, 0.5);
  /* against the CPU the whole query took, mostly the store's in reading the
   * rows, which a slower machine or valgrind slows down alike: walking every
   * row on the loop took 7-12% of it, finding memory's tasks by serial under
   * 0.5% */
  g_test_message ("longest turn of the loop: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                  " µs of CPU", gaps.longest, took);
  g_assert_cmpint (gaps.longest, <, took / 50);
}

/* a page stops at its byte budget: the row that passes it is the last one
 * read, and the next page starts right after it, whether the task is in
 * memory or only in the store; a budget below one task still lists one */
static void
test_query_max_bytes (Fixture *fx, gconstpointer data)
{
  const guint sizes[] = { 0, 0, 0, 50000, 50000, 0, 50000, 0, 0, 120000, 0, 50000 };
  const gsize budgets[] = { 60000, 1 };
  EmTaskStatus pending = EM_TASK_STATUS_PENDING, running = EM_TASK_STATUS_RUNNING;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  /* the last two stay in memory as they finished */
  open_manager (fx, 2);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autofree char *params = g_strdup_printf ("{\"result_bytes\": %u}", sizes[i]);

      g_ptr_array_add (ids, g_strdup (em_task_get_id (schedule (fx, "stubborn", params))));
    }
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, &pending) == 0 &&
                      em_engine_manager_count_tasks (fx->manager, &running) == 0, 5000);

  for (guint b = 0; b < G_N_ELEMENTS (budgets); b++)
    {
      g_auto(EmTaskQuery) q;
      guint seen = 0, pages = 0;
      guint64 next;

      em_task_query_init (&q);
      q.limit = 100;
      q.max_bytes = budgets[b];
      do
        {
          g_autoptr(GAsyncResult) result = NULL;
          g_autoptr(GPtrArray) found = NULL;
          g_autoptr(GError) error = NULL;
          gsize bytes = 0;
          guint total = 0;

          em_engine_manager_query_tasks_async (fx->manager, &q, NULL, got_result, &result);
          WAIT_RESULT (result);
          found = em_engine_manager_query_tasks_finish (fx->manager, result, &total, &next, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (total, ==, G_N_ELEMENTS (sizes));
          g_assert_cmpuint (found->len, >=, 1);
          for (guint i = 0; i < found->len; i++, seen++)
            {
              JsonNode *node = g_ptr_array_index (found, i);
              g_autofree char *text = node_string (node);

              /* only the last row may take the page past its budget */
              g_assert_cmpuint (bytes, <, budgets[b]);
              bytes += strlen (text);
              g_assert_cmpuint (seen, <, ids->len);
              g_assert_cmpstr (json_object_get_string_member (json_node_get_object (node), "id"),
                               ==, g_ptr_array_index (ids, seen));
            }
          /* and the page ends there, not before */
          g_assert_true (next == 0 || bytes >= budgets[b]);
          g_assert_true ((next == 0) == (seen == ids->len));
          q.after = next;
          pages++;
        }
      while (next != 0);
      g_test_message ("a budget of %" G_GSIZE_FORMAT " bytes: %u pages", budgets[b], pages);
      g_assert_cmpuint (seen, ==, ids->len);
      if (budgets[b] == 1)
        g_assert_cmpuint (pages, ==, ids->len);
    }
}

/* a count reads no task: GET /queue and GetQueue count finished tasks so */
static void
test_query_count_only (Fixture *fx, gconstpointer data)
{
  EmTaskStatus pending = EM_TASK_STATUS_PENDING, running = EM_TASK_STATUS_RUNNING;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(EmTaskQuery) q;
  guint total = 0;
  guint64 next = 1;

  open_manager (fx, 1);
  for (guint i = 0; i < 3; i++)
    schedule (fx, "stubborn", "{\"result_bytes\": 1000}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, &pending) == 0 &&
                      em_engine_manager_count_tasks (fx->manager, &running) == 0, 5000);

  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_COMPLETED);
  q.count_only = TRUE;
  em_engine_manager_query_tasks_async (fx->manager, &q, NULL, got_result, &result);
  WAIT_RESULT (result);
  found = em_engine_manager_query_tasks_finish (fx->manager, result, &total, &next, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 3);
  g_assert_cmpuint (found->len, ==, 0);
  g_assert_cmpuint (next, ==, 0);
}

/* a task that changes status while the store answers a query is listed as
 * the store found it, not with a status the filter excludes */
static void
test_query_status_moved_on (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) later = spec_new ("wait", "{\"duration\": 0}");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(EmTaskQuery) q;
  g_autofree char *id = NULL;
  guint total = 0;

  open_manager (fx, 0);
  later->delay = 3600;
  id = g_strdup (em_task_get_id (schedule_spec (fx, later)));

  em_task_query_init (&q);
  q.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_PENDING) |
               EM_TASK_QUERY_STATUS (EM_TASK_STATUS_RUNNING);
  em_engine_manager_query_tasks_async (fx->manager, &q, NULL, got_result, &result);
  /* before the answer can come back to this thread */
  g_assert_true (em_engine_manager_cancel_task (fx->manager, id, &error));
  g_assert_no_error (error);
  WAIT_RESULT (result);
  found = em_engine_manager_query_tasks_finish (fx->manager, result, &total, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (total, ==, 1);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 0)),
                                                  "id"), ==, id);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (found, 0)),
                                                  "status"), ==, "pending");
}

/* finished tasks leave memory as tasks keep coming, a few per pass, and stay
 * findable through the store */
static void
test_eviction (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  open_manager (fx, 5);
  for (guint i = 0; i < 200; i++)
    {
      g_ptr_array_add (ids, g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}"))));
      /* the first ones finish while the rest arrive */
      if (i % 50 == 49)
        EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
    }
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) <= 5, 5000);

  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr(JsonNode) node = NULL;
      JsonObject *object = lookup_object (fx, g_ptr_array_index (ids, i), &node);

      g_assert_cmpstr (status_of (object), ==, "completed");
    }
}

/* a steady stream of acknowledgements keeps the flush timer from firing:
 * finished tasks must leave memory all the same */
static void
test_eviction_under_acknowledgements (Fixture *fx, gconstpointer data)
{
  open_manager (fx, 5);
  for (guint i = 0; i < 200; i++)
    {
      schedule (fx, "wait", "{\"duration\": 0}");
      sync_store (fx);
      /* the limit, its allowance of twice the limit, and a task or two
       * still on its way */
      g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), <=, 2 * 5 + 3);
    }
}

/* a client that keeps asking (a listing, a lookup) flushes before every
 * question, so the flush timer never fires: finished tasks must leave memory
 * all the same */
static void
test_eviction_under_queries (Fixture *fx, gconstpointer data)
{
  g_auto(EmTaskQuery) q;

  open_manager (fx, 5);
  em_task_query_init (&q);
  q.limit = 1;
  for (guint i = 0; i < 200; i++)
    schedule (fx, "wait", "{\"duration\": 0}");
  while (em_engine_manager_is_busy (fx->manager) ||
         em_engine_manager_count_tasks (fx->manager, &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) > 0)
    g_ptr_array_unref (query (fx, &q, NULL));
  /* a query's answer may come before the eviction the last tasks scheduled,
   * but queries alone must let it finish */
  for (guint i = 0; i < 50 && em_engine_manager_count_tasks (fx->manager, NULL) > 2 * 5 + 3; i++)
    g_ptr_array_unref (query (fx, &q, NULL));
  for (guint i = 0; i < 20; i++)
    {
      /* the limit, its allowance of twice the limit, and a task or two
       * still on its way */
      g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), <=, 2 * 5 + 3);
      g_ptr_array_unref (query (fx, &q, NULL));
    }
}

/* a cancelled action that has not returned keeps its own entry, not every
 * finished task after it: memory stays bounded while it hangs */
static void
test_eviction_past_unreturned (Fixture *fx, gconstpointer data)
{
  g_autofree char *id = NULL;
  guint returned = em_test_stubborn_get_returned ();

  open_manager (fx, 5);
  id = cancel_while_running (fx, 4000);

  for (guint i = 0; i < 100; i++)
    schedule (fx, "wait", "{\"duration\": 0}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) <= 5 + 1, 3000);
  g_assert_cmpuint (em_test_stubborn_get_returned (), ==, returned);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, id));

  EM_TEST_WAIT_UNTIL (em_test_stubborn_get_returned () > returned, 10000);
}

static void
test_dependency_on_evicted (Fixture *fx, gconstpointer data)
{
  g_autofree char *ok_id = NULL, *failed_id = NULL;
  g_autoptr(GError) error = NULL;
  EmTask *task;
  const char *deps[2] = { NULL, NULL };

  open_manager (fx, 0);
  ok_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  failed_id = g_strdup (em_task_get_id (schedule (fx, FAILING, FAILING_PARAMS)));
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 0, 5000);

  for (guint round = 0; round < 2; round++)
    {
      g_autoptr(EmTaskSpec) good = spec_new ("wait", "{\"duration\": 1}");
      g_autoptr(EmTaskSpec) bad = spec_new ("wait", "{\"duration\": 1}");
      g_autofree char *expected = g_strdup_printf ("dependency %s failed", failed_id);

      deps[0] = ok_id;
      good->depends_on = g_strdupv ((char **) deps);
      task = em_engine_manager_schedule_task (fx->manager, good, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (em_task_get_waiting_on (task)[0], ==, NULL);
      deps[0] = failed_id;
      bad->depends_on = g_strdupv ((char **) deps);
      task = em_engine_manager_schedule_task (fx->manager, bad, &error);
      g_assert_no_error (error);
      g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
      g_assert_cmpstr (em_task_get_error (task), ==, expected);
      EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 0, 5000);

      /* and the same after a restart */
      close_manager (fx);
      open_manager (fx, 0);
    }
}

/* a dependent that ended first (cancelled) and left memory is no longer among
 * its dependency's dependents: the dependency's end does not look at it */
static void
test_dependent_evicted_first (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) spec = spec_new ("wait", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *dependent_id = NULL;
  EmTask *dependency;
  const char *deps[2] = { NULL, NULL };

  open_manager (fx, 0);
  dependency = g_object_ref (schedule (fx, "wait", "{\"duration\": 300}"));
  deps[0] = em_task_get_id (dependency);
  spec->depends_on = g_strdupv ((char **) deps);
  dependent_id = g_strdup (em_task_get_id (schedule_spec (fx, spec)));

  g_assert_true (em_engine_manager_cancel_task (fx->manager, dependent_id, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_engine_manager_get_task (fx->manager, dependent_id) == NULL, 5000);
  /* what the freed entry held is overwritten, as a reuse of its memory would */
  for (guint i = 0; i < 64; i++)
    g_free (g_malloc0 (sizeof (gpointer) * 16));

  EM_TEST_WAIT_UNTIL (em_task_is_finished (dependency), 5000);
  g_assert_cmpint (em_task_get_status (dependency), ==, EM_TASK_STATUS_COMPLETED);
  g_object_unref (dependency);
}

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;

  g_assert_true (em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, NULL));
  *done = TRUE;
}

/* a task that became ready and was cancelled before the scheduler's next pass
 * may leave memory first: that pass does not read it */
static void
test_ready_evicted_before_pass (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) early = spec_new ("wait", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *early_id = NULL, *ready_id = NULL;
  gboolean synced = FALSE;

  open_manager (fx, 0);
  /* a finished task, handed to the store: its eviction is due (delayed, it
   * never asked for a pass) */
  early->delay = 60;
  early_id = g_strdup (em_task_get_id (schedule_spec (fx, early)));
  g_assert_true (em_engine_manager_cancel_task (fx->manager, early_id, &error));
  em_engine_manager_sync_async (fx->manager, NULL, synced_cb, &synced);

  /* then one that is ready, and cancelled before the loop turns */
  ready_id = g_strdup (em_task_get_id (schedule (fx, "wait", NULL)));
  g_assert_true (em_engine_manager_cancel_task (fx->manager, ready_id, &error));
  g_assert_no_error (error);

  EM_TEST_WAIT_UNTIL (synced && em_engine_manager_get_task (fx->manager, ready_id) == NULL, 5000);
  for (guint i = 0; i < 64; i++)
    g_free (g_malloc0 (sizeof (gpointer) * 16));
  em_test_run_for (50);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
}

/* a client pages with the last task of its page as the cursor (D-Bus
 * ListTasks `after`); retention may remove that very task before the next
 * page is asked for, and the next page still follows it */
static void
test_query_cursor_deleted (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) first = NULL;
  g_autoptr(GPtrArray) second = NULL;
  g_auto(EmTaskQuery) q;
  guint total = 0;

  open_manager (fx, 0);
  for (guint i = 0; i < 4; i++)
    g_ptr_array_add (ids, g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}"))));
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 0, 5000);

  em_task_query_init (&q);
  q.limit = 2;
  first = query (fx, &q, &total);
  g_assert_cmpuint (first->len, ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (first, 1)), "id"),
                   ==, g_ptr_array_index (ids, 1));

  /* the oldest two go, the cursor among them */
  g_object_set (fx->manager, "retention-max-tasks", 2, NULL);
  g_assert_cmpuint (prune (fx), ==, 2);

  q.after_id = g_strdup (g_ptr_array_index (ids, 1));
  second = query (fx, &q, &total);
  g_assert_cmpuint (second->len, ==, 2);
  g_assert_cmpuint (total, ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (second, 0)), "id"),
                   ==, g_ptr_array_index (ids, 2));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (second, 1)), "id"),
                   ==, g_ptr_array_index (ids, 3));
}

/* a dependency named twice is listed once, whether it is still in memory or
 * only its final status is */
static void
test_dependency_named_twice (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) spec = spec_new ("wait", NULL);
  g_autofree char *done_id = NULL;
  const char *deps[3] = { NULL, NULL, NULL };
  EmTask *task;

  open_manager (fx, 0);
  done_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 0, 5000);

  deps[0] = deps[1] = done_id;
  spec->depends_on = g_strdupv ((char **) deps);
  task = schedule_spec (fx, spec);
  g_assert_cmpuint (g_strv_length ((char **) em_task_get_depends_on (task)), ==, 1);
  g_assert_cmpstr (em_task_get_depends_on (task)[0], ==, done_id);
}

static void
dependencies_looked_up_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (em_engine_manager_look_up_dependencies_finish (EM_ENGINE_MANAGER (source),
                                                                result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static EmTask *
schedule_after_lookup (Fixture *fx, const char *dependency, const char *other, GError **error)
{
  g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 1}");
  g_autoptr(GPtrArray) specs = g_ptr_array_new ();
  gboolean done = FALSE;

  spec->depends_on = g_strdupv ((char *[]) { (char *) dependency, (char *) other, NULL });
  g_ptr_array_add (specs, spec);
  if (!em_engine_manager_dependencies_known (fx->manager, specs))
    {
      em_engine_manager_look_up_dependencies_async (fx->manager, specs, NULL,
                                                    dependencies_looked_up_cb, &done);
      EM_TEST_WAIT_UNTIL (done, 5000);
    }
  return em_engine_manager_schedule_task (fx->manager, spec, error);
}

/* the final status of finished tasks is kept in memory up to a limit; past
 * it, a dependency on one is looked up in the store before scheduling */
static void
test_dependency_beyond_cache (Fixture *fx, gconstpointer data)
{
  g_autofree char *ok_id = NULL, *failed_id = NULL, *other_id = NULL, *expected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  EmTaskSpec *spec;
  EmTask *task;

  for (guint round = 0; round < 2; round++)
    {
      g_assert_null (fx->manager);
      fx->manager = new_manager (fx);
      g_object_set (fx->manager, "keep-finished", 0, "finished-cache-size", 1, NULL);
      g_assert_true (em_engine_manager_open_store (fx->manager, &error));
      g_assert_no_error (error);

      if (round == 0)
        {
          ok_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
          other_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
          failed_id = g_strdup (em_task_get_id (schedule (fx, FAILING, FAILING_PARAMS)));
          expected = g_strdup_printf ("dependency %s failed", failed_id);
          /* a third finished task takes the one place in memory */
          schedule (fx, "wait", "{\"duration\": 0}");
          EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 0, 5000);
          sync_store (fx);
        }

      /* without the lookup, the id is unknown */
      spec = spec_new ("wait", "{\"duration\": 1}");
      spec->depends_on = g_strdupv ((char *[]) { ok_id, NULL });
      g_ptr_array_add (specs, spec);
      g_assert_false (em_engine_manager_dependencies_known (fx->manager, specs));
      g_assert_null (em_engine_manager_schedule_task (fx->manager, spec, &error));
      g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);

      task = schedule_after_lookup (fx, ok_id, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (em_task_get_status (task), !=, EM_TASK_STATUS_FAILED);
      g_assert_cmpstr (em_task_get_waiting_on (task)[0], ==, NULL);
      /* two looked up at once, with room for one: both stay until it is made */
      task = schedule_after_lookup (fx, ok_id, other_id, &error);
      g_assert_no_error (error);
      g_assert_cmpint (em_task_get_status (task), !=, EM_TASK_STATUS_FAILED);
      task = schedule_after_lookup (fx, failed_id, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_FAILED);
      g_assert_cmpstr (em_task_get_error (task), ==, expected);
      g_assert_null (schedule_after_lookup (fx, "0b5c0b7e-0000-4000-8000-000000000000", NULL, &error));
      g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);

      EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
      close_manager (fx);
    }
}

/* a record can still list a dependency that finished just before a crash; at
 * the next start its final status comes from the database, however old */
static void
test_restart_waiting_on_old (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) later = spec_new ("wait", "{\"duration\": 0}");
  g_autoptr(EmTaskSpec) waiting = spec_new ("wait", "{\"duration\": 0}");
  g_autofree char *old_id = NULL, *older_id = NULL, *later_id = NULL, *waiting_id = NULL;
  g_autofree char *sql = NULL;
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;
  EmTask *task;

  open_manager (fx, 0);
  g_object_set (fx->manager, "finished-cache-size", 1, NULL);
  old_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  older_id = g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 0}")));
  later->delay = 3600;
  later_id = g_strdup (em_task_get_id (schedule_spec (fx, later)));
  waiting->depends_on = g_strdupv ((char *[]) { later_id, NULL });
  waiting_id = g_strdup (em_task_get_id (schedule_spec (fx, waiting)));
  /* two more finish after the old one: its status is no longer kept */
  schedule (fx, "wait", "{\"duration\": 0}");
  schedule (fx, "wait", "{\"duration\": 0}");
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, NULL) == 2, 5000);
  close_manager (fx);

  /* the record as a crash could leave it: depending on two old tasks (more
   * than the cache keeps), and still waiting on them */
  g_assert_cmpint (sqlite3_open (fx->db_path, &db), ==, SQLITE_OK);
  sql = g_strdup_printf ("UPDATE tasks SET json = json_set (json, "
                         "'$.depends_on', json_array ('%s', '%s', '%s'), "
                         "'$.waiting_on', json_array ('%s', '%s', '%s')) WHERE id = '%s'",
                         old_id, older_id, later_id, old_id, older_id, later_id, waiting_id);
  exec_sql (db, sql);
  sqlite3_close (db);

  fx->manager = new_manager (fx);
  g_object_set (fx->manager, "keep-finished", 0, "finished-cache-size", 1, NULL);
  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
  task = em_engine_manager_get_task (fx->manager, waiting_id);
  g_assert_nonnull (task);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_PENDING);
  g_assert_cmpstrv (em_task_get_waiting_on (task), ((const char *[]) { later_id, NULL }));
}

/* the oldest go first once past the maximum; a re-added id becomes the newest */
static void
test_finished_cache (void)
{
  g_autoptr(EmFinishedCache) cache = em_finished_cache_new (2);
  EmTaskStatus status = EM_TASK_STATUS_PENDING;

  em_finished_cache_add (cache, "a", EM_TASK_STATUS_COMPLETED);
  em_finished_cache_add (cache, "b", EM_TASK_STATUS_FAILED);
  em_finished_cache_add (cache, "a", EM_TASK_STATUS_CANCELLED);
  em_finished_cache_add (cache, "c", EM_TASK_STATUS_COMPLETED);
  g_assert_cmpuint (em_finished_cache_get_size (cache), ==, 2);
  g_assert_false (em_finished_cache_lookup (cache, "b", NULL));
  g_assert_true (em_finished_cache_lookup (cache, "a", &status));
  g_assert_cmpint (status, ==, EM_TASK_STATUS_CANCELLED);

  em_finished_cache_remove (cache, "a");
  em_finished_cache_remove (cache, "no such id");
  g_assert_false (em_finished_cache_lookup (cache, "a", NULL));
  g_assert_true (em_finished_cache_lookup (cache, "c", NULL));

  em_finished_cache_add (cache, "d", EM_TASK_STATUS_FAILED);
  em_finished_cache_set_max_size (cache, 1);
  g_assert_cmpuint (em_finished_cache_get_size (cache), ==, 1);
  g_assert_true (em_finished_cache_lookup (cache, "d", &status));
  g_assert_cmpint (status, ==, EM_TASK_STATUS_FAILED);

  /* pinned ones stay whatever the size, until unpinned as the newest */
  em_finished_cache_pin (cache, "e", EM_TASK_STATUS_COMPLETED);
  em_finished_cache_pin (cache, "f", EM_TASK_STATUS_CANCELLED);
  em_finished_cache_add (cache, "g", EM_TASK_STATUS_COMPLETED);
  g_assert_true (em_finished_cache_lookup (cache, "e", NULL));
  g_assert_true (em_finished_cache_lookup (cache, "f", &status));
  g_assert_cmpint (status, ==, EM_TASK_STATUS_CANCELLED);
  em_finished_cache_unpin_all (cache);
  g_assert_cmpuint (em_finished_cache_get_size (cache), ==, 1);
  g_assert_false (em_finished_cache_lookup (cache, "g", NULL));
  g_assert_true (em_finished_cache_lookup (cache, "e", NULL) || em_finished_cache_lookup (cache, "f", NULL));
}

/* events retention pruned are gone from every read, also while the ring of
 * recent frames still holds them: a read answers as it will after a restart,
 * from the oldest event it reports */
static void
test_events_pruned_from_ring (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(JsonNode) first = NULL;
  guint64 oldest = 0, reported = 0;

  open_manager (fx, 1000);
  for (guint i = 0; i < 6; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 0}"));
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  sync_store (fx);
  g_object_set (fx->manager, "retention-max-tasks", 1, NULL);
  g_assert_cmpuint (prune (fx), ==, 5);
  oldest = em_engine_manager_get_oldest_event_seq (fx->manager);
  g_assert_cmpuint (oldest, >, 1);

  frames = read_events (fx, 0, 0, &reported);
  g_assert_cmpuint (reported, ==, oldest);
  g_assert_cmpuint (frames->len, ==, em_engine_manager_get_last_event_seq (fx->manager) - oldest + 1);
  {
    g_autofree char *text = frame_string (g_ptr_array_index (frames, 0));

    first = json_from_string (text, NULL);
  }
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (first), "seq"), ==, oldest);
  g_clear_pointer (&frames, g_ptr_array_unref);

  /* from the event before the oldest: nothing was pruned after it */
  frames = read_events (fx, oldest - 1, 1, &reported);
  g_assert_cmpuint (frames->len, ==, 1);
  {
    g_autofree char *text = frame_string (g_ptr_array_index (frames, 0));

    g_assert_cmpstr (text, ==, g_ptr_array_index (fx->frames, oldest - 1));
  }
}

static void
test_events_resume (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  guint64 oldest = 0, last;

  open_manager (fx, 1000);
  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 1}"));
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  last = em_engine_manager_get_last_event_seq (fx->manager);
  g_assert_cmpuint (fx->frames->len, ==, last);
  sync_store (fx);

  /* from memory: the exact frames, in order, after the given seq */
  {
    g_autoptr(GPtrArray) frames = read_events (fx, 5, 0, &oldest);

    g_assert_cmpuint (oldest, ==, 1);
    g_assert_cmpuint (frames->len, ==, last - 5);
    for (guint i = 0; i < frames->len; i++)
      {
        g_autofree char *text = frame_string (g_ptr_array_index (frames, i));

        g_assert_cmpstr (text, ==, g_ptr_array_index (fx->frames, 5 + i));
      }
  }
  {
    g_autoptr(GPtrArray) frames = read_events (fx, last, 0, NULL);

    g_assert_cmpuint (frames->len, ==, 0);
  }
  g_ptr_array_set_size (tasks, 0);
  close_manager (fx);

  /* from the database, across the restart, then live ones follow without a gap */
  open_manager (fx, 1000);
  {
    g_autoptr(GPtrArray) frames = read_events (fx, 5, 3, &oldest);

    g_assert_cmpuint (oldest, ==, 1);
    g_assert_cmpuint (frames->len, ==, 3);
    for (guint i = 0; i < frames->len; i++)
      {
        g_autofree char *text = frame_string (g_ptr_array_index (frames, i));

        g_assert_cmpstr (text, ==, g_ptr_array_index (fx->frames, 5 + i));
      }
  }
  {
    EmTask *task = schedule (fx, "wait", "{\"duration\": 1}");
    g_autoptr(GPtrArray) frames = NULL;

    EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 5000);
    g_assert_cmpuint (em_event_get_seq (g_ptr_array_index (fx->events, 0)), ==, last + 1);
    sync_store (fx);
    frames = read_events (fx, 0, 0, &oldest);
    g_assert_cmpuint (frames->len, ==, fx->frames->len);
    for (guint i = 0; i < frames->len; i++)
      {
        g_autofree char *text = frame_string (g_ptr_array_index (frames, i));

        g_assert_cmpstr (text, ==, g_ptr_array_index (fx->frames, i));
      }
  }
}

/* a read from the store stops once its frames pass the byte budget, with
 * at least one, and says it was cut short, so that a reader takes its
 * short page for more to come and reads on from its last frame */
static void
test_events_max_bytes (Fixture *fx, gconstpointer data)
{
  const guint sizes[] = { 0, 0, 50000, 0, 120000, 0, 50000, 0 };
  const gsize budgets[] = { 60000, 1 };
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  guint64 last;

  open_manager (fx, 1000);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autofree char *params = g_strdup_printf ("{\"result_bytes\": %u}", sizes[i]);

      g_ptr_array_add (tasks, schedule (fx, "stubborn", params));
    }
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  g_ptr_array_set_size (tasks, 0);
  last = em_engine_manager_get_last_event_seq (fx->manager);
  close_manager (fx);
  /* the ring starts empty: the events come from the database */
  open_manager (fx, 1000);

  for (guint b = 0; b < G_N_ELEMENTS (budgets); b++)
    {
      guint64 after = 0;
      guint pages = 0;

      while (after < last)
        {
          gboolean cut = FALSE;
          g_autoptr(GPtrArray) frames = read_events_bytes (fx, after, 100, budgets[b], &cut);
          gsize bytes = 0;

          g_assert_cmpuint (frames->len, >=, 1);
          for (guint i = 0; i < frames->len; i++)
            {
              g_autofree char *text = frame_string (g_ptr_array_index (frames, i));

              /* only the last frame may take the read past its budget */
              g_assert_cmpuint (bytes, <, budgets[b]);
              bytes += strlen (text);
              g_assert_cmpstr (text, ==, g_ptr_array_index (fx->frames, after + i));
            }
          after += frames->len;
          /* cut short exactly when events are left, and there, not before */
          g_assert_true (cut == (after < last));
          g_assert_true (!cut || bytes >= budgets[b]);
          pages++;
        }
      g_test_message ("a budget of %" G_GSIZE_FORMAT " bytes: %u reads", budgets[b], pages);
      if (budgets[b] == 1)
        g_assert_cmpuint (pages, ==, last);
    }
  /* a read that reaches its limit is not cut short */
  {
    gboolean cut = TRUE;
    g_autoptr(GPtrArray) frames = read_events_bytes (fx, 0, 2, 1000000, &cut);

    g_assert_cmpuint (frames->len, ==, 2);
    g_assert_false (cut);
  }
}

/* an event is read only once it is on disk: a crash could take back the
 * others, and the next start would number new events with their seqs */
static void
test_events_durable_only (Fixture *fx, gconstpointer data)
{
  guint64 seq;

  open_manager (fx, 1000);
  schedule (fx, "wait", "{\"duration\": 60}");
  seq = em_engine_manager_get_last_event_seq (fx->manager);
  g_assert_cmpuint (em_engine_manager_get_committed_event_seq (fx->manager), <, seq);
  {
    g_autoptr(GPtrArray) frames = read_events (fx, seq - 1, 0, NULL);

    g_assert_cmpuint (frames->len, ==, 0);
  }
  sync_store (fx);
  g_assert_cmpuint (em_engine_manager_get_committed_event_seq (fx->manager), >=, seq);
  {
    g_autoptr(GPtrArray) frames = read_events (fx, seq - 1, 1, NULL);
    g_autofree char *text = NULL;

    g_assert_cmpuint (frames->len, ==, 1);
    text = frame_string (g_ptr_array_index (frames, 0));
    g_assert_cmpstr (text, ==, g_ptr_array_index (fx->frames, seq - 1));
  }
}

typedef struct {
  EmEngineManager *manager;
  GPtrArray       *seqs;       /* guint64 in pointers: what was delivered */
  gboolean         wanted;
  guint            overflows;
} FeedLog;

static void
feed_deliver (EmEvent *event, gpointer user_data)
{
  FeedLog *log = user_data;
  guint64 seq = em_event_get_seq (event);

  /* on disk before anyone sees it, and in order */
  g_assert_cmpuint (seq, <=, em_engine_manager_get_committed_event_seq (log->manager));
  if (log->seqs->len > 0)
    g_assert_cmpuint (seq, ==, GPOINTER_TO_SIZE (g_ptr_array_index (log->seqs, log->seqs->len - 1)) + 1);
  g_ptr_array_add (log->seqs, GSIZE_TO_POINTER (seq));
}

static gboolean
feed_wanted (gpointer user_data)
{
  return ((FeedLog *) user_data)->wanted;
}

static void
feed_overflow (gpointer user_data)
{
  ((FeedLog *) user_data)->overflows++;
}

static const EmDurableFeedFuncs feed_funcs = { feed_deliver, feed_wanted, feed_overflow };

/* a follower sees only recorded events, also once the database has failed:
 * those the journal takes, and once it cannot, none; it is told to come back
 * later instead (feed_deliver() checks each event is recorded) */
static void
test_failure_database_feed (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) delayed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) seqs = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(EmDurableFeed) feed = NULL;
  FeedLog log = { NULL, seqs, TRUE, 0 };
  GLogLevelFlags fatal_mask;
  struct rlimit before;

  open_manager (fx, 50);
  log.manager = fx->manager;
  feed = em_durable_feed_new (fx->manager, 1024 * 1024, &feed_funcs, &log);
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 0}");

      spec->delay = 3600;
      g_ptr_array_add (delayed, g_strdup (em_task_get_id (schedule_spec (fx, spec))));
    }
  before = limit_file_size (64 * 1024, &fatal_mask);
  schedule_until_failed (fx);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (em_engine_manager_cancel_task (fx->manager, g_ptr_array_index (delayed, i), &error));
      g_assert_no_error (error);
    }
  EM_TEST_WAIT_UNTIL (seqs->len > 0 &&
                      GPOINTER_TO_SIZE (g_ptr_array_index (seqs, seqs->len - 1)) ==
                      em_engine_manager_get_last_event_seq (fx->manager), 5000);
  g_assert_cmpuint (log.overflows, ==, 0);

  before = limit_file_size (1, &fatal_mask);
  for (guint i = 2; i < delayed->len; i++)
    {
      g_assert_true (em_engine_manager_cancel_task (fx->manager, g_ptr_array_index (delayed, i), &error));
      g_assert_no_error (error);
    }
  EM_TEST_WAIT_UNTIL (log.overflows > 0, 5000);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &before), ==, 0);
  g_assert_cmpuint (GPOINTER_TO_SIZE (g_ptr_array_index (seqs, seqs->len - 1)), <,
                    em_engine_manager_get_last_event_seq (fx->manager));
  g_clear_pointer (&feed, em_durable_feed_free);
  end_disk_full (fx, fatal_mask);
}

/* the feed asks for the journal itself: every event arrives, without a flush
 * by anyone else, and none before it is durable */
static void
test_events_durable_feed (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GPtrArray) seqs = g_ptr_array_new ();
  FeedLog log = { NULL, seqs, TRUE, 0 };
  g_autoptr(EmDurableFeed) feed = NULL;
  guint64 first, last;

  open_manager (fx, 1000);
  log.manager = fx->manager;
  feed = em_durable_feed_new (fx->manager, 1024 * 1024, &feed_funcs, &log);
  first = em_engine_manager_get_last_event_seq (fx->manager) + 1;
  for (guint i = 0; i < 20; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 0}"));
  g_assert_cmpuint (seqs->len, ==, 0);
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  last = em_engine_manager_get_last_event_seq (fx->manager);
  EM_TEST_WAIT_UNTIL (seqs->len == last - first + 1, 5000);
  g_assert_cmpuint (GPOINTER_TO_SIZE (g_ptr_array_index (seqs, 0)), ==, first);
  g_assert_cmpuint (log.overflows, ==, 0);

  /* more than it may hold waits for the store: dropped, and said so */
  em_durable_feed_set_max_held_bytes (feed, 10);
  g_ptr_array_set_size (seqs, 0);
  schedule (fx, "wait", "{\"duration\": 60}");
  g_assert_cmpuint (log.overflows, ==, 1);
  sync_store (fx);
  g_assert_cmpuint (seqs->len, ==, 0);

  /* nobody wants them: nothing is held */
  em_durable_feed_set_max_held_bytes (feed, 1024 * 1024);
  log.wanted = FALSE;
  schedule (fx, "wait", "{\"duration\": 60}");
  sync_store (fx);
  g_assert_cmpuint (seqs->len, ==, 0);

  /* freed with a sync in flight: its answer finds nothing */
  log.wanted = TRUE;
  schedule (fx, "wait", "{\"duration\": 60}");
  g_clear_pointer (&feed, em_durable_feed_free);
  sync_store (fx);
  g_assert_cmpuint (seqs->len, ==, 0);
}

/* without a store, events are as durable as they get at once */
static void
test_events_durable_feed_memory (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) seqs = g_ptr_array_new ();
  g_autoptr(EmEngineManager) manager = new_manager (fx);
  FeedLog log = { manager, seqs, TRUE, 0 };
  g_autoptr(EmDurableFeed) feed = em_durable_feed_new (manager, 1024 * 1024, &feed_funcs, &log);
  g_autoptr(EmTaskSpec) spec = spec_new ("wait", "{\"duration\": 60}");
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_schedule_task (manager, spec, &error);

  g_assert_no_error (error);
  g_assert_nonnull (task);
  g_assert_cmpuint (seqs->len, ==, 1);
  em_engine_manager_shutdown (manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (manager), 5000);
}

typedef struct {
  Fixture *fx;
  guint64  scheduled_seq;  /* the last event before the sync was asked for */
  guint    order;
  guint   *answered;
} SyncCall;

static void
grouped_sync_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SyncCall *call = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error));
  g_assert_no_error (error);
  /* answered in the order asked, and only once its events are on disk */
  g_assert_cmpuint (call->order, ==, *call->answered);
  g_assert_cmpuint (em_engine_manager_get_committed_event_seq (EM_ENGINE_MANAGER (source)),
                    >=, call->scheduled_seq);
  (*call->answered)++;
}

static void
count_commit (EmEngineManager *manager, guint64 seq, guint *commits)
{
  (*commits)++;
}

#define GROUPED_SYNCS 50

/* syncs asked for while a commit runs share the next one */
static void
test_sync_grouped (Fixture *fx, gconstpointer data)
{
  SyncCall calls[GROUPED_SYNCS];
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  guint answered = 0;
  guint commits = 0;

  open_manager (fx, 100);
  g_signal_connect (fx->manager, "events-committed", G_CALLBACK (count_commit), &commits);
  for (guint i = 0; i < GROUPED_SYNCS; i++)
    {
      g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 0}"));
      calls[i] = (SyncCall) { fx, em_engine_manager_get_last_event_seq (fx->manager), i, &answered };
      em_engine_manager_sync_async (fx->manager, NULL, grouped_sync_cb, &calls[i]);
    }
  EM_TEST_WAIT_UNTIL (answered == GROUPED_SYNCS, 10000);
  g_assert_cmpuint (commits, <, GROUPED_SYNCS / 2);
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
}

#define CHECKPOINT_ROUNDS 400

/* commits go on, but the write-ahead log is copied back and reused rather
 * than growing with every commit since startup */
static void
test_wal_checkpointed (Fixture *fx, gconstpointer data)
{
  g_autofree char *wal_path = g_strconcat (fx->db_path, "-wal", NULL);
  GStatBuf st;

  open_manager (fx, 100);
  for (guint i = 0; i < CHECKPOINT_ROUNDS; i++)
    {
      g_autoptr(GError) error = NULL;

      schedule (fx, "wait", "{\"duration\": 0}");
      sync_store (fx);
      /* a lookup waits for a commit of everything before it: one a round */
      g_assert_null (lookup (fx, "00000000-0000-4000-8000-000000000000", &error));
      g_assert_error (error, EM_ERROR, EM_ERROR_NOT_FOUND);
    }
  g_assert_cmpint (g_stat (wal_path, &st), ==, 0);
  /* each commit adds several pages of 16 KiB: unchecked, 400 commits leave
   * well over 8 MiB; checkpoints keep it near 4 MiB */
  g_assert_cmpint (st.st_size, <, 8 * 1024 * 1024);
}

static void
test_memory_only (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_auto(EmTaskQuery) q;
  g_autoptr(GError) error = NULL;
  guint count = 0;

  /* without a store: sync is immediate, history is what memory holds */
  fx->manager = new_manager (fx);
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (tasks, schedule (fx, "wait", "{\"duration\": 0}"));
  sync_store (fx);
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  {
    g_autoptr(GPtrArray) all = query_all (fx);
    g_autoptr(GPtrArray) frames = read_events (fx, 2, 0, NULL);

    g_assert_cmpuint (all->len, ==, 3);
    g_assert_cmpuint (frames->len, ==, fx->frames->len - 2);
  }
  em_task_query_init (&q);
  g_assert_true (delete_tasks (fx, &q, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 3);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, NULL), ==, 0);
  g_ptr_array_set_size (tasks, 0);
  g_assert_false (g_file_test (fx->db_path, G_FILE_TEST_EXISTS));
}

/* without a store as with one (/store/query/cursor-deleted): a page's last
 * task, deleted before the next page is asked for, still marks where it went */
static void
test_memory_only_cursor_deleted (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GPtrArray) second = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(EmTaskQuery) q;
  guint total = 0, count = 0;

  fx->manager = new_manager (fx);
  for (guint i = 0; i < 2; i++)
    {
      EmTask *task = schedule (fx, "wait", "{\"duration\": 0}");

      g_ptr_array_add (tasks, task);
      g_ptr_array_add (ids, g_strdup (em_task_get_id (task)));
    }
  EM_TEST_WAIT_UNTIL (all_finished (tasks), 5000);
  em_task_query_init (&q);
  g_assert_true (delete_tasks (fx, &q, &count, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 2);
  g_ptr_array_set_size (tasks, 0);
  for (guint i = 0; i < 2; i++)
    g_ptr_array_add (ids, g_strdup (em_task_get_id (schedule (fx, "wait", "{\"duration\": 60000}"))));

  q.after_id = g_strdup (g_ptr_array_index (ids, 1));
  second = query (fx, &q, &total);
  g_assert_cmpuint (second->len, ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (second, 0)), "id"),
                   ==, g_ptr_array_index (ids, 2));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (g_ptr_array_index (second, 1)), "id"),
                   ==, g_ptr_array_index (ids, 3));
  g_assert_false (g_file_test (fx->db_path, G_FILE_TEST_EXISTS));
}

static void
test_deleted_serials (void)
{
  g_autoptr(EmDeletedSerials) deleted = em_deleted_serials_new (2);
  guint64 serial = 0;

  em_deleted_serials_add (deleted, "a", 1);
  em_deleted_serials_add (deleted, "b", 2);
  em_deleted_serials_add (deleted, "a", 7);
  g_assert_true (em_deleted_serials_lookup (deleted, "a", &serial));
  g_assert_cmpuint (serial, ==, 1);
  /* past the maximum the oldest goes */
  em_deleted_serials_add (deleted, "c", 3);
  g_assert_cmpuint (em_deleted_serials_get_size (deleted), ==, 2);
  g_assert_false (em_deleted_serials_lookup (deleted, "a", NULL));
  g_assert_true (em_deleted_serials_lookup (deleted, "b", &serial));
  g_assert_cmpuint (serial, ==, 2);
  g_assert_true (em_deleted_serials_lookup (deleted, "c", &serial));
  g_assert_cmpuint (serial, ==, 3);
}

static guint
file_mode (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GStatBuf info;

  g_assert_cmpint (g_stat (path, &info), ==, 0);
  return info.st_mode & 0777;
}

/* the database, its WAL and the journal are as private as the images, not
 * SQLite's and open()'s 0644 */
static void
test_file_modes (Fixture *fx, gconstpointer data)
{
  mode_t old_umask = umask (022);

  open_manager (fx, 1000);
  schedule (fx, "wait", "{\"duration\": 0}");
  sync_store (fx);
  g_assert_cmpuint (file_mode (fx->data_dir, "tasks.db"), ==, 0640);
  g_assert_cmpuint (file_mode (fx->data_dir, "tasks.db-wal"), ==, 0640);
  g_assert_cmpuint (file_mode (fx->data_dir, "tasks.journal"), ==, 0640);
  g_assert_cmpuint (file_mode (fx->data_dir, "tasks.journal.1"), ==, 0640);
  close_manager (fx);
  umask (old_umask);
}

/* the engine asks at every task start whether the store is behind, without
 * its lock: once it has said yes, the drained callback comes, once, when the
 * writer is down to half the bound, and then it says no */
static void
count_drained_cb (gpointer store, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
ignore_committed_cb (guint64 seq, gpointer user_data)
{
}

/* a store of its own with another backlog bound, its writer held first
 * when @held, counting its drained callbacks in *@drained */
static EmStore *
start_bounded_store (const char *path, gsize bound, gboolean held, guint *drained)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autoptr(GError) error = NULL;
  EmStore *store = em_store_open (path, &error);

  g_assert_no_error (error);
  g_assert_true (em_store_load (store, 10, G_MAXUINT64, 10, &snapshot, &error));
  g_assert_no_error (error);
  em_store_set_backlog_bound (store, bound);
  em_store_set_drained_func (store, count_drained_cb, drained);
  em_store_hold_writer (store, held);
  em_store_start (store, ignore_committed_cb, NULL);
  return store;
}

static void
test_store_backlog_drained (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "tasks.db", NULL);
  g_autofree char *json = NULL;
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) em_store_event_row_free);
  EmStoreEventRow *row;
  EmStore *store;
  guint drained = 0;

  store = start_bounded_store (path, 1024, FALSE, &drained);
  g_assert_false (em_store_is_backlogged (store));

  em_store_hold_writer (store, TRUE);
  json = g_strdup_printf ("{\"type\":\"queue_paused\",\"pad\":\"%0*d\",\"seq\":1}", 4096, 0);
  row = em_store_event_row_new (NULL, json, strlen (json));
  row->seq = 1;
  row->type = "queue_paused";
  row->timestamp_us = g_get_real_time ();
  g_ptr_array_add (events, row);
  em_store_write (store, NULL, events, NULL);
  g_assert_true (em_store_is_backlogged (store));
  g_assert_true (em_store_is_backlogged (store));
  em_test_run_for (100);
  g_assert_cmpuint (drained, ==, 0);

  em_store_hold_writer (store, FALSE);
  EM_TEST_WAIT_UNTIL (drained > 0, 10000);
  g_assert_false (em_store_is_backlogged (store));
  em_test_run_for (100);
  g_assert_cmpuint (drained, ==, 1);
  em_store_free (store);
  em_test_rmdir (dir);
}

static void
write_padded_event (EmStore *store, guint64 seq, gsize pad)
{
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) em_store_event_row_free);
  g_autofree char *json = g_strdup_printf ("{\"type\":\"queue_paused\",\"pad\":\"%0*d\",\"seq\":%"
                                           G_GUINT64_FORMAT "}", (int) pad, 0, seq);
  EmStoreEventRow *row = em_store_event_row_new (NULL, json, strlen (json));

  row->seq = seq;
  row->type = "queue_paused";
  row->timestamp_us = g_get_real_time ();
  g_ptr_array_add (events, row);
  em_store_write (store, NULL, events, NULL);
}

/* once the store has said it is behind, it says so until the writer is down
 * to half the bound, not only while it is over the bound: in between, tasks
 * started again at the first look */
static void
test_store_backlog_half (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "tasks.db", NULL);
  EmStore *store;
  guint drained = 0;

  store = start_bounded_store (path, 8192, TRUE, &drained);

  /* 3 KiB in the writer's first batch, then 6 KiB after it: 9 KiB, behind */
  write_padded_event (store, 1, 3072);
  em_store_wait_writer_stops (store, 1);
  write_padded_event (store, 2, 6144);
  g_assert_true (em_store_is_backlogged (store));

  /* the first batch committed: 6 KiB left, under the bound, over half */
  em_store_step_writer (store, 1);
  em_store_wait_writer_stops (store, 2);
  g_assert_true (em_store_is_backlogged (store));
  em_test_run_for (50);
  g_assert_cmpuint (drained, ==, 0);

  em_store_hold_writer (store, FALSE);
  EM_TEST_WAIT_UNTIL (drained > 0, 10000);
  g_assert_false (em_store_is_backlogged (store));
  em_store_free (store);
  em_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/store/restart/history", test_clean_restart);
  ADD ("/store/evict-after-return", test_evict_after_return);
  ADD ("/store/restart/keep-finished-lowered-in-handler", test_keep_finished_lowered_in_handler);
  ADD ("/store/file-modes", test_file_modes);
  ADD ("/store/recovery/pending", test_recover_pending);
  ADD ("/store/restart/rewrites-nothing", test_restart_rewrites_nothing);
  ADD ("/store/dependents-handed-over-in-parts", test_dependents_handed_over_in_parts);
  ADD ("/store/recovery/running", test_recover_running);
  ADD ("/store/recovery/running-backoff", test_recover_running_backoff);
  ADD ("/store/recovery/running-no-attempts", test_recover_running_no_attempts);
  ADD ("/store/recovery/exclusive-batch", test_recover_exclusive_batch);
  ADD ("/store/recovery/batch-outside-dependency", test_recover_batch_outside_dependency);
  ADD ("/store/migration/v1", test_migrate_v1);
  ADD ("/store/migration/v2", test_migrate_v2);
  ADD ("/store/migration/v1-prune", test_migrate_v1_prune);
  ADD ("/store/page-size", test_page_size);
  ADD ("/store/log-id", test_log_id);
  ADD ("/store/refuse/newer", test_refuse_newer);
  ADD ("/store/refuse/corrupt", test_refuse_corrupt);
  ADD ("/store/refuse/unwritable", test_refuse_unwritable);
  ADD ("/store/refuse/locked", test_refuse_locked);
  ADD ("/store/failure/journal", test_failure_journal);
  ADD ("/store/failure/database", test_failure_database);
  ADD ("/store/failure/database-delete", test_failure_database_delete);
  ADD ("/store/failure/database-eviction", test_failure_database_eviction);
  ADD ("/store/failure/database-listing", test_failure_database_listing);
  ADD ("/store/failure/database-evicted", test_failure_database_evicted);
  ADD ("/store/failure/database-events", test_failure_database_events);
  ADD ("/store/failure/database-pause", test_failure_database_pause);
  ADD ("/store/failure/database-feed", test_failure_database_feed);
  ADD ("/store/retention", test_retention);
  ADD ("/store/delete", test_delete);
  ADD ("/store/task-counts", test_task_counts);
  ADD ("/store/delete/large", test_delete_large);
  g_test_add ("/store/delete/large-at-shutdown", Fixture, GINT_TO_POINTER (TRUE), fixture_setup,
              test_delete_large, fixture_teardown);
  ADD ("/store/delete/unreturned", test_delete_unreturned);
  ADD ("/store/delete/cancelled", test_delete_cancelled);
  ADD ("/store/query/filters", test_query_filters);
  ADD ("/store/query/status-moved-on", test_query_status_moved_on);
  ADD ("/store/query/large", test_query_large);
  ADD ("/store/query/max-bytes", test_query_max_bytes);
  ADD ("/store/query/count-only", test_query_count_only);
  ADD ("/store/query/cursor-deleted", test_query_cursor_deleted);
  ADD ("/store/eviction", test_eviction);
  ADD ("/store/eviction-under-acknowledgements", test_eviction_under_acknowledgements);
  ADD ("/store/eviction-under-queries", test_eviction_under_queries);
  ADD ("/store/eviction-past-unreturned", test_eviction_past_unreturned);
  ADD ("/store/deps/evicted", test_dependency_on_evicted);
  ADD ("/store/deps/dependent-evicted-first", test_dependent_evicted_first);
  ADD ("/store/deps/named-twice", test_dependency_named_twice);
  ADD ("/store/eviction/ready-before-pass", test_ready_evicted_before_pass);
  ADD ("/store/deps/beyond-cache", test_dependency_beyond_cache);
  ADD ("/store/deps/restart-waiting-on-old", test_restart_waiting_on_old);
  g_test_add_func ("/store/deps/finished-cache", test_finished_cache);
  g_test_add_func ("/store/backlog/drained", test_store_backlog_drained);
  g_test_add_func ("/store/backlog/half", test_store_backlog_half);
  ADD ("/store/events/resume", test_events_resume);
  ADD ("/store/events/max-bytes", test_events_max_bytes);
  ADD ("/store/events/pruned-from-ring", test_events_pruned_from_ring);
  ADD ("/store/events/durable-only", test_events_durable_only);
  ADD ("/store/events/durable-feed", test_events_durable_feed);
  ADD ("/store/events/durable-feed-memory", test_events_durable_feed_memory);
  ADD ("/store/sync/grouped", test_sync_grouped);
  ADD ("/store/wal/checkpointed", test_wal_checkpointed);
  ADD ("/store/memory-only", test_memory_only);
  ADD ("/store/memory-only/cursor-deleted", test_memory_only_cursor_deleted);
  g_test_add_func ("/store/query/deleted-serials", test_deleted_serials);

  return g_test_run ();
}
