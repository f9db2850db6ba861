#include "config.h"

#include <string.h>

#include "em-test-stubborn-action.h"

struct _EmTestStubbornAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmTestStubbornAction, em_test_stubborn_action, EM_TYPE_ACTION)

static guint returned;

static const EmParamSpec stubborn_params[] = {
  {
    .name = "duration",
    .type = EM_PARAM_NUMBER,
    .unit = "ms",
    .description = "How long it runs, cancelled or not",
    .has_minimum = TRUE,
    .minimum = 0,
    .default_value = "0",
  },
  {
    .name = "result_bytes",
    .type = EM_PARAM_NUMBER,
    .description = "How long a string its result's padding holds",
    .has_minimum = TRUE,
    .minimum = 0,
    .default_value = "0",
  },
};

static gboolean
done_cb (gpointer user_data)
{
  JsonObject *result = json_object_new ();
  gsize bytes = GPOINTER_TO_SIZE (g_task_get_task_data (G_TASK (user_data)));

  if (bytes > 0)
    {
      g_autofree char *padding = g_malloc (bytes + 1);

      memset (padding, 'x', bytes);
      padding[bytes] = '\0';
      json_object_set_string_member (result, "padding", padding);
    }
  g_task_return_pointer (G_TASK (user_data), result, (GDestroyNotify) json_object_unref);
  returned++;
  return G_SOURCE_REMOVE;
}

static void
stubborn_run_async (EmAction            *action,
                    EmActionContext     *context,
                    JsonObject          *parameters,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  /* the cancellable is left out on purpose */
  GTask *task = g_task_new (action, NULL, callback, user_data);

  g_task_set_task_data (task, GSIZE_TO_POINTER ((gsize) em_action_param_double (action, parameters,
                                                                                "result_bytes")),
                        NULL);

  g_timeout_add_full (G_PRIORITY_DEFAULT,
                      (guint) em_action_param_double (action, parameters, "duration"),
                      done_cb, task, g_object_unref);
}

static void
em_test_stubborn_action_class_init (EmTestStubbornActionClass *klass)
{
  EM_ACTION_CLASS (klass)->run_async = stubborn_run_async;
}

static void
em_test_stubborn_action_init (EmTestStubbornAction *self)
{
  em_action_set_info (EM_ACTION (self), "stubborn", "Run on, whatever happens",
                      EM_DEVICE_KIND_NONE, stubborn_params, G_N_ELEMENTS (stubborn_params));
}

guint
em_test_stubborn_get_returned (void)
{
  return returned;
}

EmAction *
em_test_stubborn_action_new (void)
{
  return g_object_new (EM_TYPE_TEST_STUBBORN_ACTION, NULL);
}
