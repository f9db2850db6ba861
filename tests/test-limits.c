/* the engine's own limits: how many tasks may wait in the queue, and how many
 * one batch may hold */

#include "config.h"

#include "actions/em-builtin-actions.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "engine/em-task-spec.h"
#include "em-test-util.h"

typedef struct {
  EmEngineManager *manager;
  guint            notified;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();

  em_builtin_actions_register (registry);
  fx->manager = em_engine_manager_new (registry, NULL, NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  em_engine_manager_shutdown (fx->manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  g_clear_object (&fx->manager);
}

/* @duration in milliseconds */
static EmTaskSpec *
wait_spec (const char *name, double duration)
{
  g_autoptr(JsonObject) params = json_object_new ();

  json_object_set_double_member (params, "duration", duration);
  return em_task_spec_new (name, "wait", params);
}

static EmTask *
schedule (Fixture *fx, double duration, GError **error)
{
  g_autoptr(EmTaskSpec) spec = wait_spec ("limits", duration);

  return em_engine_manager_schedule_task (fx->manager, spec, error);
}

static guint
count (Fixture *fx, EmTaskStatus status)
{
  return em_engine_manager_count_tasks (fx->manager, &status);
}

static void
test_default (Fixture *fx, gconstpointer data)
{
  guint value = 0;

  g_assert_cmpuint (em_engine_manager_get_max_pending (fx->manager), ==,
                    EM_ENGINE_DEFAULT_MAX_PENDING);
  g_assert_cmpuint (EM_ENGINE_DEFAULT_MAX_PENDING, ==, 100000);
  g_object_get (fx->manager, "max-pending", &value, NULL);
  g_assert_cmpuint (value, ==, 100000);
}

static void
notify_cb (GObject *object, GParamSpec *pspec, Fixture *fx)
{
  fx->notified++;
}

static void
test_property (Fixture *fx, gconstpointer data)
{
  guint value = 0;

  g_signal_connect (fx->manager, "notify::max-pending", G_CALLBACK (notify_cb), fx);
  g_object_set (fx->manager, "max-pending", 7, NULL);
  g_assert_cmpuint (em_engine_manager_get_max_pending (fx->manager), ==, 7);
  g_assert_cmpuint (fx->notified, ==, 1);
  em_engine_manager_set_max_pending (fx->manager, 7);
  g_assert_cmpuint (fx->notified, ==, 1);
  em_engine_manager_set_max_pending (fx->manager, 0);
  g_object_get (fx->manager, "max-pending", &value, NULL);
  g_assert_cmpuint (value, ==, 0);
  g_assert_cmpuint (fx->notified, ==, 2);
}

static void
test_task (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EmTask *first;

  em_engine_manager_pause (fx->manager);
  em_engine_manager_set_max_pending (fx->manager, 1);
  first = schedule (fx, 1, &error);
  g_assert_no_error (error);
  g_assert_null (schedule (fx, 1, &error));
  g_assert_cmpstr (error->message, ==, "the queue is full: 1 task is pending (limit 1)");
  g_clear_error (&error);
  em_engine_manager_set_max_pending (fx->manager, 3);

  for (guint i = 1; i < 3; i++)
    {
      g_assert_nonnull (schedule (fx, 1, &error));
      g_assert_no_error (error);
    }
  g_assert_true (em_engine_manager_check_capacity (fx->manager, 0, NULL));

  g_assert_null (schedule (fx, 1, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_assert_cmpstr (error->message, ==, "the queue is full: 3 tasks are pending (limit 3)");
  g_clear_error (&error);
  g_assert_false (em_engine_manager_check_capacity (fx->manager, 1, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, 3);

  /* an invalid task still gets its own error, not the queue's */
  {
    g_autoptr(EmTaskSpec) bad = em_task_spec_new ("bad", "no_such_action", NULL);

    g_assert_null (em_engine_manager_schedule_task (fx->manager, bad, &error));
    g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
  }

  /* room again once one leaves the queue */
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (first), &error));
  g_assert_no_error (error);
  g_assert_nonnull (schedule (fx, 1, &error));
  g_assert_no_error (error);
  g_assert_null (schedule (fx, 1, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_clear_error (&error);

  /* lowering the limit keeps what is queued and refuses more */
  em_engine_manager_set_max_pending (fx->manager, 1);
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, 3);
  g_assert_null (schedule (fx, 1, &error));
  g_assert_cmpstr (error->message, ==, "the queue is full: 3 tasks are pending (limit 1)");
  g_clear_error (&error);

  /* 0 is no limit */
  em_engine_manager_set_max_pending (fx->manager, 0);
  for (guint i = 0; i < 50; i++)
    g_assert_nonnull (schedule (fx, 1, NULL));
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, 53);
}

static void
test_batch (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;

  em_engine_manager_pause (fx->manager);
  em_engine_manager_set_max_pending (fx->manager, 5);
  for (guint i = 0; i < 3; i++)
    g_assert_nonnull (schedule (fx, 1, NULL));

  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (specs, wait_spec ("item", 1));
  /* all or nothing: none of the three is created */
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, FALSE, &error);
  g_assert_null (tasks);
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_assert_cmpstr (error->message, ==,
                   "the queue is full: 3 tasks are pending (limit 5), too many for a batch of 3");
  g_clear_error (&error);
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, 3);

  g_ptr_array_remove_index (specs, 2);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, FALSE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tasks);
  g_assert_cmpuint (tasks->len, ==, 2);
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, 5);
}

/* a listener of the batch's first task-scheduled schedules one more: the
 * batch's later items hold their room, so that one is refused rather than
 * taking the queue past the limit */
static void
schedule_one_more (EmEngineManager *manager, EmTask *task, GError **out_error)
{
  g_autoptr(EmTaskSpec) spec = wait_spec ("from a handler", 1);

  if (*out_error != NULL)
    return;
  if (em_engine_manager_schedule_task (manager, spec, out_error) != NULL)
    g_set_error_literal (out_error, EM_ERROR, EM_ERROR_FAILED, "scheduled");
}

static void
test_batch_reentrant (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) handler_error = NULL;
  gulong id;

  em_engine_manager_pause (fx->manager);
  em_engine_manager_set_max_pending (fx->manager, 3);
  g_assert_nonnull (schedule (fx, 1, NULL));
  for (guint i = 0; i < 2; i++)
    g_ptr_array_add (specs, wait_spec ("item", 1));

  id = g_signal_connect (fx->manager, "task-scheduled", G_CALLBACK (schedule_one_more),
                         &handler_error);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, FALSE, &error);
  g_signal_handler_disconnect (fx->manager, id);
  g_assert_no_error (error);
  g_assert_cmpuint (tasks->len, ==, 2);
  g_assert_error (handler_error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, 3);
}

/* only waiting tasks count: a running one has left the queue */
static void
test_running_not_counted (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EmTask *running;
  EmTask *next;

  em_engine_manager_set_max_pending (fx->manager, 1);
  running = schedule (fx, 5000, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_status (running) == EM_TASK_STATUS_RUNNING, 5000);

  next = schedule (fx, 10, &error);
  g_assert_no_error (error);
  g_assert_nonnull (next);
  /* max-concurrent lets it run beside the first and leave the queue; then a
   * third waits, and a fourth is refused while it does */
  EM_TEST_WAIT_UNTIL (em_task_is_finished (next), 5000);
  g_assert_cmpuint (em_task_get_status (running), ==, EM_TASK_STATUS_RUNNING);
  em_engine_manager_pause (fx->manager);
  g_assert_nonnull (schedule (fx, 10, NULL));
  g_assert_null (schedule (fx, 10, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE);
}

/* every transport's batch is made in one turn of the loop: one item past
 * the limit is refused whole, naming `tasks`, and one at it is made */
static void
test_batch_size (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = g_strdup_printf ("tasks: a batch holds at most %u tasks, got %u; "
                                              "submit the rest in further batches",
                                              (guint) EM_TASK_BATCH_MAX,
                                              (guint) EM_TASK_BATCH_MAX + 1);

  em_engine_manager_pause (fx->manager);
  em_engine_manager_set_max_pending (fx->manager, 0);
  for (guint i = 0; i <= EM_TASK_BATCH_MAX; i++)
    g_ptr_array_add (specs, wait_spec ("item", 1));
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, FALSE, &error);
  g_assert_null (tasks);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, message);
  g_clear_error (&error);
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, 0);

  g_ptr_array_remove_index (specs, 0);
  tasks = em_engine_manager_schedule_batch (fx->manager, specs, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tasks->len, ==, EM_TASK_BATCH_MAX);
  g_assert_cmpuint (count (fx, EM_TASK_STATUS_PENDING), ==, EM_TASK_BATCH_MAX);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/limits/max-pending/default", test_default);
  ADD ("/limits/max-pending/property", test_property);
  ADD ("/limits/max-pending/task", test_task);
  ADD ("/limits/max-pending/batch", test_batch);
  ADD ("/limits/max-pending/batch-reentrant", test_batch_reentrant);
  ADD ("/limits/max-pending/running-not-counted", test_running_not_counted);
  ADD ("/limits/batch-size", test_batch_size);
#undef ADD

  return g_test_run ();
}
