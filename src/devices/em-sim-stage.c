#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include "devices/em-sim-motion.h"
#include "devices/em-sim-stage.h"

struct _EmSimStage
{
  EmStage parent_instance;
};

G_DEFINE_FINAL_TYPE (EmSimStage, em_sim_stage, EM_TYPE_STAGE)

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
  EmStagePosition now = { position[0], position[1], position[2] };

  em_stage_update_position (EM_STAGE (g_task_get_source_object (task)), &now);
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
em_sim_stage_move_async (EmStage               *stage,
                         const EmStagePosition *target,
                         gdouble                speed,
                         GCancellable          *cancellable,
                         EmProgressFunc         progress,
                         gpointer               progress_data,
                         GAsyncReadyCallback    callback,
                         gpointer               user_data)
{
  g_autoptr(GTask) task = g_task_new (stage, cancellable, callback, user_data);
  MoveData *data = g_new0 (MoveData, 1);
  EmStagePosition start;
  gdouble from[3];
  gdouble to[3] = { target->x, target->y, target->z };

  g_task_set_source_tag (task, em_sim_stage_move_async);
  data->progress = progress;
  data->progress_data = progress_data;
  g_task_set_task_data (task, data, g_free);

  em_stage_get_position (stage, &start);
  from[0] = start.x;
  from[1] = start.y;
  from[2] = start.z;

  /* the step callback borrows the task: the motion ends before the task does */
  em_sim_motion_run_async (stage, 3, from, to, speed, cancellable,
                           move_step_cb, task, move_done_cb, g_object_ref (task));
}

static gboolean
em_sim_stage_move_finish (EmStage *stage, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stage), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
em_sim_stage_class_init (EmSimStageClass *klass)
{
  EmStageClass *stage_class = EM_STAGE_CLASS (klass);

  stage_class->move_async = em_sim_stage_move_async;
  stage_class->move_finish = em_sim_stage_move_finish;
}

static void
em_sim_stage_init (EmSimStage *self)
{
}

EmStage *
em_sim_stage_new (void)
{
  EmStage *stage = g_object_new (EM_TYPE_SIM_STAGE, NULL);
  const EmStagePosition min = { -50000.0, -50000.0, 0.0 };
  const EmStagePosition max = { 50000.0, 50000.0, 10000.0 };

  em_stage_set_limits (stage, &min, &max);
  em_stage_set_default_speed (stage, 1000.0);
  return stage;
}
