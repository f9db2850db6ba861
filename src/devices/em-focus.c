#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "devices/em-focus.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"

typedef struct
{
  /* the position is read from any thread (a renderer may follow the focus); the
   * rest belongs to the main context */
  GMutex   lock;
  gdouble  position;
  gdouble  min;
  gdouble  max;
  gdouble  default_speed;
  gboolean moving;
} EmFocusPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (EmFocus, em_focus, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_POSITION,
  PROP_MOVING,
  PROP_DEFAULT_SPEED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

#define DEFAULT_SPEED 500.0

static void
em_focus_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  EmFocus *self = EM_FOCUS (object);
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_POSITION:
      g_value_set_double (value, em_focus_get_position (self));
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
em_focus_set_property (GObject      *object,
                       guint         prop_id,
                       const GValue *value,
                       GParamSpec   *pspec)
{
  EmFocus *self = EM_FOCUS (object);

  switch (prop_id)
    {
    case PROP_DEFAULT_SPEED:
      em_focus_set_default_speed (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_focus_finalize (GObject *object)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (EM_FOCUS (object));

  g_mutex_clear (&priv->lock);

  G_OBJECT_CLASS (em_focus_parent_class)->finalize (object);
}

static void
em_focus_class_init (EmFocusClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = em_focus_get_property;
  object_class->set_property = em_focus_set_property;
  object_class->finalize = em_focus_finalize;

  properties[PROP_POSITION] =
    g_param_spec_double ("position", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0.0,
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
em_focus_init (EmFocus *self)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  g_mutex_init (&priv->lock);
  priv->min = -G_MAXDOUBLE;
  priv->max = G_MAXDOUBLE;
  priv->default_speed = DEFAULT_SPEED;
}

static void
set_moving (EmFocus *self, gboolean moving)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  if (priv->moving == moving)
    return;
  priv->moving = moving;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MOVING]);
}

/**
 * em_focus_check_target:
 *
 * Whether @target lies inside the travel limits; the error names the axis and
 * its limits.
 */
gboolean
em_focus_check_target (EmFocus *self, gdouble target, GError **error)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  g_return_val_if_fail (EM_IS_FOCUS (self), FALSE);

  if (!isfinite (target))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("Focus target position is not a finite number"));
      return FALSE;
    }
  if (target < priv->min || target > priv->max)
    {
      char given[G_ASCII_DTOSTR_BUF_SIZE];
      char low[G_ASCII_DTOSTR_BUF_SIZE];
      char high[G_ASCII_DTOSTR_BUF_SIZE];

      /* every digit it takes: %g calls 10000.0001 "10000", inside 10000 */
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("Focus target position = %s µm is outside the travel limits of the focus (%s to %s µm)"),
                   em_json_format_double (given, target),
                   em_json_format_double (low, priv->min), em_json_format_double (high, priv->max));
      return FALSE;
    }
  return TRUE;
}

static void
move_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmFocus *self = EM_FOCUS (source);
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  gboolean arrived;

  arrived = EM_FOCUS_GET_CLASS (self)->move_finish (self, result, &error);
  set_moving (self, FALSE);

  if (!arrived)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * em_focus_move_async:
 * @target: the absolute target in µm
 * @speed: µm/s; zero or less means the default speed
 * @progress: (nullable): called on the main context with the fraction of the distance
 *
 * Moves the focus. Fails with %EM_ERROR_INVALID_ARGUMENT when @target is outside
 * the travel and %EM_ERROR_CONFLICT when the focus is already moving. Cancelling
 * stops the drive where it is and fails with %G_IO_ERROR_CANCELLED.
 */
void
em_focus_move_async (EmFocus             *self,
                     gdouble              target,
                     gdouble              speed,
                     GCancellable        *cancellable,
                     EmProgressFunc       progress,
                     gpointer             progress_data,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (EM_IS_FOCUS (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_focus_move_async);

  if (g_task_return_error_if_cancelled (task))
    return;
  if (!em_focus_check_target (self, target, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (priv->moving)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                               _("The focus is already moving"));
      return;
    }
  if (!(speed > 0.0) || !isfinite (speed))
    speed = priv->default_speed;

  set_moving (self, TRUE);
  EM_FOCUS_GET_CLASS (self)->move_async (self, target, speed, cancellable,
                                         progress, progress_data,
                                         move_cb, g_steal_pointer (&task));
}

gboolean
em_focus_move_finish (EmFocus       *self,
                      GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_focus_move_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* any thread */
gdouble
em_focus_get_position (EmFocus *self)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);
  gdouble position;

  g_return_val_if_fail (EM_IS_FOCUS (self), 0.0);

  g_mutex_lock (&priv->lock);
  position = priv->position;
  g_mutex_unlock (&priv->lock);
  return position;
}

void
em_focus_update_position (EmFocus *self, gdouble position)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);
  gdouble old;

  g_return_if_fail (EM_IS_FOCUS (self));

  g_mutex_lock (&priv->lock);
  old = priv->position;
  priv->position = position;
  g_mutex_unlock (&priv->lock);

  if (old != position)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_POSITION]);
}

void
em_focus_get_limits (EmFocus *self, gdouble *out_min, gdouble *out_max)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  g_return_if_fail (EM_IS_FOCUS (self));

  if (out_min != NULL)
    *out_min = priv->min;
  if (out_max != NULL)
    *out_max = priv->max;
}

void
em_focus_set_limits (EmFocus *self, gdouble min, gdouble max)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  g_return_if_fail (EM_IS_FOCUS (self));
  g_return_if_fail (min <= max);

  priv->min = min;
  priv->max = max;
}

gdouble
em_focus_get_default_speed (EmFocus *self)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  g_return_val_if_fail (EM_IS_FOCUS (self), 0.0);
  return priv->default_speed;
}

void
em_focus_set_default_speed (EmFocus *self, gdouble um_per_s)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  g_return_if_fail (EM_IS_FOCUS (self));
  g_return_if_fail (um_per_s > 0.0 && isfinite (um_per_s));

  if (priv->default_speed == um_per_s)
    return;
  priv->default_speed = um_per_s;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEFAULT_SPEED]);
}

gboolean
em_focus_is_moving (EmFocus *self)
{
  EmFocusPrivate *priv = em_focus_get_instance_private (self);

  g_return_val_if_fail (EM_IS_FOCUS (self), FALSE);
  return priv->moving;
}
