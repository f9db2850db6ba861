#include "config.h"

#include "em-test-hold-action.h"
#include "engine/em-error.h"

struct _EmTestHoldAction
{
  EmAction     parent_instance;
  EmDeviceKind claims;
  gboolean     retry_safe;
};

G_DEFINE_FINAL_TYPE (EmTestHoldAction, em_test_hold_action, EM_TYPE_ACTION)

static guint in_use[3];
static guint overlaps;

static const EmParamSpec hold_params[] = {
  { .name = "duration", .type = EM_PARAM_NUMBER, .unit = "ms", .has_minimum = TRUE,
    .minimum = 0, .default_value = "10" },
  { .name = "fail", .type = EM_PARAM_BOOLEAN, .default_value = "false" },
  { .name = "tag", .type = EM_PARAM_INTEGER },
};

typedef struct {
  EmDeviceKind  claims;
  gboolean      fail;
  GSource      *timer;
  GCancellable *cancellable;
  gulong        cancelled_id;
} HoldData;

static void
take (EmDeviceKind claims)
{
  for (guint i = 0; i < G_N_ELEMENTS (in_use); i++)
    {
      if ((claims & (1 << i)) == 0)
        continue;
      if (in_use[i] > 0)
        overlaps++;
      in_use[i]++;
    }
}

static void
give_back (EmDeviceKind claims)
{
  for (guint i = 0; i < G_N_ELEMENTS (in_use); i++)
    {
      if (claims & (1 << i))
        in_use[i]--;
    }
}

static void
hold_data_free (HoldData *data)
{
  give_back (data->claims);
  if (data->cancellable != NULL)
    {
      g_cancellable_disconnect (data->cancellable, data->cancelled_id);
      g_object_unref (data->cancellable);
    }
  if (data->timer != NULL)
    {
      g_source_destroy (data->timer);
      g_source_unref (data->timer);
    }
  g_free (data);
}

static gboolean
done_cb (gpointer user_data)
{
  GTask *task = user_data;
  HoldData *data = g_task_get_task_data (task);

  if (g_task_return_error_if_cancelled (task))
    return G_SOURCE_REMOVE;
  if (data->fail)
    g_task_return_new_error (task, EM_ERROR, EM_ERROR_FAILED, "asked to fail");
  else
    g_task_return_pointer (task, json_object_new (), (GDestroyNotify) json_object_unref);
  return G_SOURCE_REMOVE;
}

static void
cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  HoldData *data = user_data;

  g_source_set_ready_time (data->timer, 0);
}

static void
hold_run_async (EmAction            *action,
                EmActionContext     *context,
                JsonObject          *parameters,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  EmTestHoldAction *self = EM_TEST_HOLD_ACTION (action);
  g_autoptr(GTask) task = g_task_new (action, cancellable, callback, user_data);
  HoldData *data = g_new0 (HoldData, 1);

  data->claims = self->claims;
  data->fail = em_action_param_boolean (action, parameters, "fail");
  take (data->claims);
  g_task_set_task_data (task, data, (GDestroyNotify) hold_data_free);

  data->timer = g_timeout_source_new ((guint) em_action_param_double (action, parameters, "duration"));
  g_source_set_callback (data->timer, done_cb, g_object_ref (task), g_object_unref);
  g_source_attach (data->timer, NULL);
  if (cancellable != NULL)
    {
      data->cancellable = g_object_ref (cancellable);
      data->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (cancelled_cb), data, NULL);
    }
}


static gboolean
hold_is_retry_safe (EmAction *action, JsonObject *parameters, GError **error)
{
  return EM_TEST_HOLD_ACTION (action)->retry_safe;
}

static void
em_test_hold_action_class_init (EmTestHoldActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->run_async = hold_run_async;
  action_class->is_retry_safe = hold_is_retry_safe;
}

static void
em_test_hold_action_init (EmTestHoldAction *self)
{
}

EmAction *
em_test_hold_action_new (const char *name, EmDeviceKind claims, gboolean retry_safe)
{
  EmTestHoldAction *self = g_object_new (EM_TYPE_TEST_HOLD_ACTION, NULL);

  self->claims = claims;
  self->retry_safe = retry_safe;
  em_action_set_info (EM_ACTION (self), name, "holds devices for a while", claims,
                      hold_params, G_N_ELEMENTS (hold_params));
  return EM_ACTION (self);
}

guint
em_test_hold_get_overlaps (void)
{
  return overlaps;
}

gboolean
em_test_hold_device_in_use (EmDeviceKind device)
{
  for (guint i = 0; i < G_N_ELEMENTS (in_use); i++)
    {
      if (device == (guint) (1 << i))
        return in_use[i] > 0;
    }
  return FALSE;
}

void
em_test_hold_reset (void)
{
  memset (in_use, 0, sizeof in_use);
  overlaps = 0;
}
