#include "config.h"

#include "em-test-step-action.h"
#include "engine/em-error.h"

struct _EmTestStepAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmTestStepAction, em_test_step_action, EM_TYPE_ACTION)

static const EmParamSpec step_params[] = {
  { .name = "duration", .type = EM_PARAM_NUMBER, .unit = "ms", .has_minimum = TRUE,
    .minimum = 0, .default_value = "0" },
  { .name = "fail", .type = EM_PARAM_BOOLEAN, .default_value = "false" },
};

static gboolean
done_cb (gpointer user_data)
{
  GTask *task = user_data;

  if (GPOINTER_TO_INT (g_task_get_task_data (task)))
    g_task_return_new_error (task, EM_ERROR, EM_ERROR_FAILED, "asked to fail");
  else
    g_task_return_pointer (task, json_object_new (), (GDestroyNotify) json_object_unref);
  return G_SOURCE_REMOVE;
}

static void
step_run_async (EmAction            *action,
                EmActionContext     *context,
                JsonObject          *parameters,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  /* the cancellable is not heeded: the tests decide when it ends */
  GTask *task = g_task_new (action, NULL, callback, user_data);

  g_task_set_task_data (task, GINT_TO_POINTER (em_action_param_boolean (action, parameters, "fail")),
                        NULL);
  em_action_context_report_progress (context, 0.25);
  em_action_context_report_progress (context, 0.5);
  g_timeout_add_full (G_PRIORITY_DEFAULT,
                      (guint) em_action_param_double (action, parameters, "duration"),
                      done_cb, task, g_object_unref);
}

static void
em_test_step_action_class_init (EmTestStepActionClass *klass)
{
  EM_ACTION_CLASS (klass)->run_async = step_run_async;
}

static void
em_test_step_action_init (EmTestStepAction *self)
{
  em_action_set_info (EM_ACTION (self), "step", "Report progress, then end",
                      EM_DEVICE_KIND_NONE, step_params, G_N_ELEMENTS (step_params));
}

EmAction *
em_test_step_action_new (void)
{
  return g_object_new (EM_TYPE_TEST_STEP_ACTION, NULL);
}
