#include "config.h"

#include <json-glib/json-glib.h>

#include "engine/em-task-spec.h"
#include "em-test-schedule.h"

GError *
em_test_schedule_error (EmEngineManager *manager, const char *json)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  g_autoptr(EmTaskSpec) spec = NULL;
  EmTask *task;
  GError *error = NULL;

  spec = em_task_spec_from_json (node, &error);
  g_assert_no_error (error);
  task = em_engine_manager_schedule_task (manager, spec, &error);
  if (task != NULL)
    em_engine_manager_cancel_task (manager, em_task_get_id (task), NULL);
  return error;
}
