#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include "devices/em-sim-focus.h"
#include "devices/em-sim-motion.h"

struct _EmSimFocus
{
  EmFocus parent_instance;
};

G_DEFINE_FINAL_TYPE (EmSimFocus, em_sim_focus, EM_TYPE_FOCUS)

typedef struct
{
  EmProgressFunc progress;
  gpointer       progress_data;
} MoveData;

static void
move_step_cb (const gdouble *position, gdouble fraction, gpointer user_data)
{
  GTask *task = user_data;
  MoveData *data = g_task_get_task_data (task);

  em_focus_update_position (EM_FOCUS (g_task_get_source_object (task)), position[0]);
  if (data->progress != NULL)
    data->progress (fraction, data->progress_data);
}

static void
move_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!em_sim_motion_run_finish (result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
em_sim_focus_move_async (EmFocus             *focus,
                         gdouble              target,
                         gdouble              speed,
                         GCancellable        *cancellable,
                         EmProgressFunc       progress,
                         gpointer             progress_data,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (focus, cancellable, callback, user_data);
  MoveData *data = g_new0 (MoveData, 1);
  gdouble from = em_focus_get_position (focus);

  g_task_set_source_tag (task, em_sim_focus_move_async);
  data->progress = progress;
  data->progress_data = progress_data;
  g_task_set_task_data (task, data, g_free);

  /* the step callback borrows the task: the motion ends before the task does */
  em_sim_motion_run_async (focus, 1, &from, &target, speed, cancellable,
                           move_step_cb, task, move_done_cb, g_object_ref (task));
}

static gboolean
em_sim_focus_move_finish (EmFocus *focus, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, focus), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
em_sim_focus_class_init (EmSimFocusClass *klass)
{
  EmFocusClass *focus_class = EM_FOCUS_CLASS (klass);

  focus_class->move_async = em_sim_focus_move_async;
  focus_class->move_finish = em_sim_focus_move_finish;
}

static void
em_sim_focus_init (EmSimFocus *self)
{
}

EmFocus *
em_sim_focus_new (void)
{
  EmFocus *focus = g_object_new (EM_TYPE_SIM_FOCUS, NULL);

  em_focus_set_limits (focus, 0.0, 10000.0);
  em_focus_set_default_speed (focus, 500.0);
  return focus;
}
