/* The submission path of POST /tasks, from the raw body to a scheduled task: the
 * json guard (depth, 64-bit integers, finite numbers, UTF-8), json-glib, the task
 * spec with its scheduling options (em_rest_task_body_read(), as POST /tasks
 * reads a body), and the engine's validation against the built-in actions. An
 * array or a {"tasks": [...]} envelope is a batch: every item must be valid
 * before any task is created. Whatever the input, it is either refused with an
 * EM_ERROR whose message is valid UTF-8, or it becomes tasks whose JSON forms
 * agree. */

#include "config.h"

#include "rest/em-rest-limits.h"
#include "rest/em-rest-task-body.h"
#include "em-fuzz-common.h"

static EmActionRegistry *registry;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  registry = em_fuzz_init ();
  return 0;
}

static void
submit_one (EmTaskSpec *spec)
{
  g_autoptr(GError) error = NULL;
  EmEngineManager *engine;
  EmTask *task;

  engine = em_fuzz_engine_new (registry);
  task = em_engine_manager_schedule_task (engine, spec, &error);
  if (task == NULL)
    em_fuzz_assert_error (error);
  else
    em_fuzz_check_task (task, spec);
  em_fuzz_engine_free (engine);
}

static void
submit_batch (GPtrArray *specs, gboolean exclusive)
{
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  EmEngineManager *engine;

  engine = em_fuzz_engine_new (registry);
  tasks = em_engine_manager_schedule_batch (engine, specs, exclusive, &error);
  if (tasks == NULL)
    em_fuzz_assert_error (error);
  else
    {
      g_assert_cmpuint (tasks->len, ==, specs->len);
      for (guint i = 0; i < tasks->len; i++)
        em_fuzz_check_task (g_ptr_array_index (tasks, i), g_ptr_array_index (specs, i));
    }
  g_clear_pointer (&tasks, g_ptr_array_unref);
  em_fuzz_engine_free (engine);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmRestTaskBody) body = NULL;

  /* what POST /tasks reads a body with, on the loop or in its worker */
  body = em_rest_task_body_read ((const char *) data, size, EM_REST_MAX_JSON_DEPTH, &error);
  if (body == NULL)
    {
      em_fuzz_assert_error (error);
      return 0;
    }
  if (body->batch)
    submit_batch (body->specs, body->exclusive);
  else
    submit_one (g_ptr_array_index (body->specs, 0));
  return 0;
}
