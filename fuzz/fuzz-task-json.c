/* The submission path of POST /tasks, from the raw body to a scheduled task: the
 * json guard (depth, 64-bit integers, finite numbers, UTF-8), json-glib, the task
 * spec with its scheduling options, and the engine's validation against the
 * built-in actions. A JSON array is a batch: every item must be valid before any
 * task is created. Whatever the input, it is either refused with an EM_ERROR
 * whose message is valid UTF-8, or it becomes tasks whose JSON forms agree. */

#include "config.h"

#include "rest/em-json-guard.h"
#include "rest/em-rest-limits.h"
#include "em-fuzz-common.h"

static EmActionRegistry *registry;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  registry = em_fuzz_init ();
  return 0;
}

/* what a REST adapter would do with one object: a spec, then the action's own
 * validation as GET /actions documents it */
static EmTaskSpec *
spec_from_node (JsonNode *node)
{
  g_autoptr(GError) error = NULL;
  EmTaskSpec *spec = em_task_spec_from_json (node, &error);
  EmAction *action;

  if (spec == NULL)
    {
      em_fuzz_assert_error (error);
      return NULL;
    }
  action = spec->action != NULL ? em_action_registry_lookup (registry, spec->action) : NULL;
  if (action != NULL && !em_action_validate (action, spec->parameters, &error))
    em_fuzz_assert_error (error);
  return spec;
}

static void
submit_one (JsonNode *root)
{
  g_autoptr(EmTaskSpec) spec = spec_from_node (root);
  g_autoptr(GError) error = NULL;
  EmEngineManager *engine;
  EmTask *task;

  if (spec == NULL)
    return;
  engine = em_fuzz_engine_new (registry);
  task = em_engine_manager_schedule_task (engine, spec, &error);
  if (task == NULL)
    em_fuzz_assert_error (error);
  else
    em_fuzz_check_task (task, spec);
  em_fuzz_engine_free (engine);
}

static void
submit_batch (JsonArray *items, gboolean exclusive)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  EmEngineManager *engine;

  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      EmTaskSpec *spec = spec_from_node (json_array_get_element (items, i));

      if (spec == NULL)
        return;
      g_ptr_array_add (specs, spec);
    }

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
  g_autoptr(JsonNode) root = NULL;

  root = em_json_guard_parse ((const char *) data, size, EM_REST_MAX_JSON_DEPTH, &error);
  if (root == NULL)
    {
      em_fuzz_assert_error (error);
      return 0;
    }
  if (JSON_NODE_HOLDS_ARRAY (root))
    submit_batch (json_node_get_array (root), size % 2 == 0);
  else
    submit_one (root);
  return 0;
}
