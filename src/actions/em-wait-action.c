#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "actions/em-wait-action.h"

/* a pause in a sequence (e.g. letting a sample settle); it claims no device */

#define MAX_DURATION_MS (24.0 * 3600.0 * 1000.0)
#define TICK_MS 50
/* progress is reported each time it has gone this much further: every
 * event is kept in the event log, and a day's wait would otherwise add one
 * for each 100 ms (the engine's cap), 864 000 in all */
#define PROGRESS_STEP 0.01

struct _EmWaitAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmWaitAction, em_wait_action, EM_TYPE_ACTION)

static const EmParamSpec wait_params[] = {
  {
    .name = "duration",
    .type = EM_PARAM_NUMBER,
    .unit = "ms",
    .description = N_("How long to wait"),
    .has_minimum = TRUE,
    .minimum = 0,
    .has_maximum = TRUE,
    .maximum = MAX_DURATION_MS,
    .default_value = "0",
  },
};

typedef struct
{
  EmActionContext *context;
  gint64           start_us;
  gint64           duration_us;
  GSource         *timer;
  GCancellable    *cancellable;
  gulong           cancelled_id;
  gdouble          reported;
} WaitData;

static void
wait_data_free (WaitData *data)
{
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

static JsonObject *
make_result (gint64 waited_us)
{
  JsonObject *result = json_object_new ();

  json_object_set_double_member (result, "waited", waited_us / 1000.0);
  return result;
}

/* the last tick lands on the end of the wait, not up to a tick after it: a
 * 75 ms wait lasted 100 ms */
static void
schedule_tick (WaitData *data)
{
  gint64 remaining_us = data->start_us + data->duration_us - g_get_monotonic_time ();

  g_source_set_ready_time (data->timer,
                           g_get_monotonic_time () + CLAMP (remaining_us, 0, TICK_MS * 1000));
}

static gboolean
tick_cb (gpointer user_data)
{
  GTask *task = user_data;
  WaitData *data = g_task_get_task_data (task);
  gint64 elapsed = g_get_monotonic_time () - data->start_us;

  if (g_task_return_error_if_cancelled (task))
    return G_SOURCE_REMOVE;

  if (elapsed >= data->duration_us)
    {
      g_task_return_pointer (task, make_result (elapsed), (GDestroyNotify) json_object_unref);
      return G_SOURCE_REMOVE;
    }
  if ((gdouble) elapsed / data->duration_us >= data->reported + PROGRESS_STEP)
    {
      data->reported = (gdouble) elapsed / data->duration_us;
      em_action_context_report_progress (data->context, data->reported);
    }
  schedule_tick (data);
  return G_SOURCE_CONTINUE;
}

static gboolean
tick_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  /* one-shot until tick_cb sets the next ready time */
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs tick_funcs = {
  .dispatch = tick_dispatch,
};

static void
cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  /* wake the timer now rather than at the next tick */
  WaitData *data = user_data;

  g_source_set_ready_time (data->timer, 0);
}

static void
em_wait_action_run_async (EmAction            *action,
                          EmActionContext     *context,
                          JsonObject          *parameters,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (action, cancellable, callback, user_data);
  WaitData *data = g_new0 (WaitData, 1);

  g_task_set_source_tag (task, em_wait_action_run_async);
  g_task_set_task_data (task, data, (GDestroyNotify) wait_data_free);

  data->context = context;
  data->start_us = g_get_monotonic_time ();
  data->duration_us = (gint64) (em_action_param_double (action, parameters, "duration") * 1000.0);

  if (data->duration_us <= 0)
    {
      g_task_return_pointer (task, make_result (0), (GDestroyNotify) json_object_unref);
      return;
    }

  data->timer = g_source_new (&tick_funcs, sizeof (GSource));
  g_source_set_name (data->timer, "[engine-manager] wait tick");
  g_source_set_callback (data->timer, tick_cb, g_object_ref (task), g_object_unref);
  schedule_tick (data);
  g_source_attach (data->timer, g_task_get_context (task));
  if (cancellable != NULL)
    {
      data->cancellable = g_object_ref (cancellable);
      data->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (cancelled_cb),
                                                  data, NULL);
    }
}


static void
em_wait_action_class_init (EmWaitActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->run_async = em_wait_action_run_async;
}

static void
em_wait_action_init (EmWaitAction *self)
{
  em_action_set_info (EM_ACTION (self), "wait", N_("Wait for a while without using any device"),
                      EM_DEVICE_KIND_NONE, wait_params, G_N_ELEMENTS (wait_params));
}

EmAction *
em_wait_action_new (void)
{
  return g_object_new (EM_TYPE_WAIT_ACTION, NULL);
}
