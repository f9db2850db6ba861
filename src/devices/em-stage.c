#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "devices/em-stage.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"

typedef struct
{
  /* the position is read from any thread (a renderer may follow the stage); the
   * rest belongs to the main context */
  GMutex          lock;
  EmStagePosition position;
  EmStagePosition min;
  EmStagePosition max;
  gdouble         default_speed;
  gboolean        moving;
} EmStagePrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (EmStage, em_stage, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_X,
  PROP_Y,
  PROP_Z,
  PROP_MOVING,
  PROP_DEFAULT_SPEED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

#define DEFAULT_SPEED 1000.0

static void
em_stage_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  EmStage *self = EM_STAGE (object);
  EmStagePrivate *priv = em_stage_get_instance_private (self);
  EmStagePosition position;

  em_stage_get_position (self, &position);
  switch (prop_id)
    {
    case PROP_X:
      g_value_set_double (value, position.x);
      break;
    case PROP_Y:
      g_value_set_double (value, position.y);
      break;
    case PROP_Z:
      g_value_set_double (value, position.z);
      break;
    case PROP_MOVING:
      g_value_set_boolean (value, priv->moving);
      break;
    case PROP_DEFAULT_SPEED:
      g_value_set_double (value, priv->default_speed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_stage_set_property (GObject      *object,
                       guint         prop_id,
                       const GValue *value,
                       GParamSpec   *pspec)
{
  EmStage *self = EM_STAGE (object);

  switch (prop_id)
    {
    case PROP_DEFAULT_SPEED:
      em_stage_set_default_speed (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_stage_finalize (GObject *object)
{
  EmStagePrivate *priv = em_stage_get_instance_private (EM_STAGE (object));

  g_mutex_clear (&priv->lock);

  G_OBJECT_CLASS (em_stage_parent_class)->finalize (object);
}

static void
em_stage_class_init (EmStageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = em_stage_get_property;
  object_class->set_property = em_stage_set_property;
  object_class->finalize = em_stage_finalize;

  properties[PROP_X] =
    g_param_spec_double ("x", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0.0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_Y] =
    g_param_spec_double ("y", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0.0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_Z] =
    g_param_spec_double ("z", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0.0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MOVING] =
    g_param_spec_boolean ("moving", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DEFAULT_SPEED] =
    g_param_spec_double ("default-speed", NULL, NULL, G_MINDOUBLE, G_MAXDOUBLE, DEFAULT_SPEED,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_stage_init (EmStage *self)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_mutex_init (&priv->lock);
  priv->min = (EmStagePosition) { -G_MAXDOUBLE, -G_MAXDOUBLE, -G_MAXDOUBLE };
  priv->max = (EmStagePosition) { G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE };
  priv->default_speed = DEFAULT_SPEED;
}

static void
set_moving (EmStage *self, gboolean moving)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  if (priv->moving == moving)
    return;
  priv->moving = moving;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MOVING]);
}

static gboolean
check_axis (const char *axis,
            gdouble     value,
            gdouble     min,
            gdouble     max,
            GError    **error)
{
  if (!isfinite (value))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("Stage target %s is not a finite number"), axis);
      return FALSE;
    }
  if (value < min || value > max)
    {
      char given[G_ASCII_DTOSTR_BUF_SIZE];
      char low[G_ASCII_DTOSTR_BUF_SIZE];
      char high[G_ASCII_DTOSTR_BUF_SIZE];

      /* every digit it takes: %g calls 50000.0001 "50000", inside 50000 */
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("Stage target %s = %s µm is outside the travel limits of %s (%s to %s µm)"),
                   axis, em_json_format_double (given, value), axis,
                   em_json_format_double (low, min), em_json_format_double (high, max));
      return FALSE;
    }
  return TRUE;
}

/**
 * em_stage_check_target:
 *
 * Whether @target lies inside the travel limits; the error names the axis and
 * its limits.
 */
gboolean
em_stage_check_target (EmStage               *self,
                       const EmStagePosition *target,
                       GError               **error)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_return_val_if_fail (EM_IS_STAGE (self), FALSE);
  g_return_val_if_fail (target != NULL, FALSE);

  return check_axis ("x", target->x, priv->min.x, priv->max.x, error) &&
         check_axis ("y", target->y, priv->min.y, priv->max.y, error) &&
         check_axis ("z", target->z, priv->min.z, priv->max.z, error);
}

static void
move_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmStage *self = EM_STAGE (source);
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  gboolean arrived;

  arrived = EM_STAGE_GET_CLASS (self)->move_finish (self, result, &error);
  set_moving (self, FALSE);

  if (!arrived)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * em_stage_move_async:
 * @target: the absolute target in µm
 * @speed: µm/s; zero or less means the default speed
 * @progress: (nullable): called on the main context with the fraction of the distance
 *
 * Moves the stage. Fails with %EM_ERROR_INVALID_ARGUMENT when @target is outside
 * the travel and %EM_ERROR_CONFLICT when the stage is already moving. Cancelling
 * stops the stage where it is and fails with %G_IO_ERROR_CANCELLED.
 */
void
em_stage_move_async (EmStage               *self,
                     const EmStagePosition *target,
                     gdouble                speed,
                     GCancellable          *cancellable,
                     EmProgressFunc         progress,
                     gpointer               progress_data,
                     GAsyncReadyCallback    callback,
                     gpointer               user_data)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (EM_IS_STAGE (self));
  g_return_if_fail (target != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_stage_move_async);

  if (g_task_return_error_if_cancelled (task))
    return;
  if (!em_stage_check_target (self, target, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (priv->moving)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                               _("The stage is already moving"));
      return;
    }
  if (!(speed > 0.0) || !isfinite (speed))
    speed = priv->default_speed;

  set_moving (self, TRUE);
  EM_STAGE_GET_CLASS (self)->move_async (self, target, speed, cancellable,
                                         progress, progress_data,
                                         move_cb, g_steal_pointer (&task));
}

gboolean
em_stage_move_finish (EmStage       *self,
                      GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_stage_move_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* any thread */
void
em_stage_get_position (EmStage *self, EmStagePosition *out_position)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_return_if_fail (EM_IS_STAGE (self));
  g_return_if_fail (out_position != NULL);

  g_mutex_lock (&priv->lock);
  *out_position = priv->position;
  g_mutex_unlock (&priv->lock);
}

void
em_stage_update_position (EmStage *self, const EmStagePosition *position)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);
  EmStagePosition old;

  g_return_if_fail (EM_IS_STAGE (self));
  g_return_if_fail (position != NULL);

  g_mutex_lock (&priv->lock);
  old = priv->position;
  priv->position = *position;
  g_mutex_unlock (&priv->lock);

  g_object_freeze_notify (G_OBJECT (self));
  if (old.x != position->x)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_X]);
  if (old.y != position->y)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_Y]);
  if (old.z != position->z)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_Z]);
  g_object_thaw_notify (G_OBJECT (self));
}

void
em_stage_get_limits (EmStage         *self,
                     EmStagePosition *out_min,
                     EmStagePosition *out_max)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_return_if_fail (EM_IS_STAGE (self));

  if (out_min != NULL)
    *out_min = priv->min;
  if (out_max != NULL)
    *out_max = priv->max;
}

void
em_stage_set_limits (EmStage               *self,
                     const EmStagePosition *min,
                     const EmStagePosition *max)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_return_if_fail (EM_IS_STAGE (self));
  g_return_if_fail (min != NULL && max != NULL);
  g_return_if_fail (min->x <= max->x && min->y <= max->y && min->z <= max->z);

  priv->min = *min;
  priv->max = *max;
}

gdouble
em_stage_get_default_speed (EmStage *self)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_return_val_if_fail (EM_IS_STAGE (self), 0.0);
  return priv->default_speed;
}

void
em_stage_set_default_speed (EmStage *self, gdouble um_per_s)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_return_if_fail (EM_IS_STAGE (self));
  g_return_if_fail (um_per_s > 0.0 && isfinite (um_per_s));

  if (priv->default_speed == um_per_s)
    return;
  priv->default_speed = um_per_s;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEFAULT_SPEED]);
}

gboolean
em_stage_is_moving (EmStage *self)
{
  EmStagePrivate *priv = em_stage_get_instance_private (self);

  g_return_val_if_fail (EM_IS_STAGE (self), FALSE);
  return priv->moving;
}
