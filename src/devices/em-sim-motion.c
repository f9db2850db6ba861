#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>

#include "devices/em-sim-motion.h"

/* a simulated linear move: every axis arrives at the same time, the path length is
 * the euclidean distance, and the position is a function of wall time, so a late
 * tick never slows the move down */

#define TICK_MS 20

/* some 70 000 years: a slower move still crawls rather than arriving at once,
 * and the arrival time stays far from overflowing */
#define MAX_DURATION_US (G_MAXINT64 / 4)

typedef struct
{
  guint                n_axes;
  gdouble             *start;
  gdouble             *target;
  gdouble             *position;
  gint64               started_us;
  gint64               duration_us;
  EmSimMotionStepFunc  step;
  gpointer             step_data;
  GSource             *timer;
  GSource             *cancel_source;
} Motion;

static void
motion_free (gpointer data)
{
  Motion *motion = data;

  if (motion->timer != NULL)
    {
      g_source_destroy (motion->timer);
      g_source_unref (motion->timer);
    }
  if (motion->cancel_source != NULL)
    {
      g_source_destroy (motion->cancel_source);
      g_source_unref (motion->cancel_source);
    }
  g_free (motion->start);
  g_free (motion->target);
  g_free (motion->position);
  g_free (motion);
}

static void
motion_stop_sources (Motion *motion)
{
  if (motion->timer != NULL)
    {
      g_source_destroy (motion->timer);
      g_clear_pointer (&motion->timer, g_source_unref);
    }
  if (motion->cancel_source != NULL)
    {
      g_source_destroy (motion->cancel_source);
      g_clear_pointer (&motion->cancel_source, g_source_unref);
    }
}

/* moves the position to where wall time says it is, and tells the owner */
static gdouble
motion_update (Motion *motion)
{
  gint64 elapsed = g_get_monotonic_time () - motion->started_us;
  gdouble fraction = 1.0;

  if (motion->duration_us > 0 && elapsed < motion->duration_us)
    fraction = (gdouble) elapsed / (gdouble) motion->duration_us;

  for (guint i = 0; i < motion->n_axes; i++)
    {
      if (fraction >= 1.0)
        motion->position[i] = motion->target[i];
      else
        motion->position[i] = motion->start[i] + (motion->target[i] - motion->start[i]) * fraction;
    }
  motion->step (motion->position, fraction, motion->step_data);
  return fraction;
}

static void schedule_tick (GTask *task);

static gboolean
tick_cb (gpointer user_data)
{
  GTask *task = user_data;
  Motion *motion = g_task_get_task_data (task);

  g_clear_pointer (&motion->timer, g_source_unref);

  if (motion_update (motion) < 1.0)
    {
      schedule_tick (task);
      return G_SOURCE_REMOVE;
    }

  motion_stop_sources (motion);
  g_task_return_boolean (task, TRUE);
  return G_SOURCE_REMOVE;
}

static void
schedule_tick (GTask *task)
{
  Motion *motion = g_task_get_task_data (task);
  gint64 remaining_us = motion->started_us + motion->duration_us - g_get_monotonic_time ();
  guint interval_ms = TICK_MS;

  /* the last tick lands on the arrival time, not up to a tick after it */
  if (remaining_us < (gint64) TICK_MS * 1000)
    interval_ms = (guint) MAX ((remaining_us + 999) / 1000, 0);

  motion->timer = g_timeout_source_new (interval_ms);
  g_source_set_name (motion->timer, "[engine-manager] sim motion tick");
  /* the source holds a ref: the task lives until the move ends */
  g_task_attach_source (task, motion->timer, tick_cb);
}

static gboolean
cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  Motion *motion = g_task_get_task_data (task);

  g_object_ref (task);
  /* stop where wall time says we are */
  motion_update (motion);
  motion_stop_sources (motion);
  g_task_return_error_if_cancelled (task);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

void
em_sim_motion_run_async (gpointer             source_object,
                         guint                n_axes,
                         const gdouble       *start,
                         const gdouble       *target,
                         gdouble              speed,
                         GCancellable        *cancellable,
                         EmSimMotionStepFunc  step,
                         gpointer             step_data,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Motion *motion;
  gdouble distance = 0.0;
  gdouble duration_us;

  g_return_if_fail (n_axes > 0);
  g_return_if_fail (start != NULL && target != NULL);
  g_return_if_fail (speed > 0.0);
  g_return_if_fail (step != NULL);

  task = g_task_new (source_object, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_sim_motion_run_async);

  motion = g_new0 (Motion, 1);
  motion->n_axes = n_axes;
  motion->start = g_memdup2 (start, n_axes * sizeof (gdouble));
  motion->target = g_memdup2 (target, n_axes * sizeof (gdouble));
  motion->position = g_memdup2 (start, n_axes * sizeof (gdouble));
  motion->step = step;
  motion->step_data = step_data;
  g_task_set_task_data (task, motion, motion_free);

  if (g_task_return_error_if_cancelled (task))
    return;

  for (guint i = 0; i < n_axes; i++)
    distance += (target[i] - start[i]) * (target[i] - start[i]);
  distance = sqrt (distance);

  motion->started_us = g_get_monotonic_time ();
  duration_us = distance / speed * G_USEC_PER_SEC;
  motion->duration_us = duration_us < MAX_DURATION_US ? (gint64) llround (duration_us) : MAX_DURATION_US;

  if (cancellable != NULL)
    {
      motion->cancel_source = g_cancellable_source_new (cancellable);
      g_task_attach_source (task, motion->cancel_source, G_SOURCE_FUNC (cancelled_cb));
    }
  schedule_tick (task);
}

gboolean
em_sim_motion_run_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_sim_motion_run_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
