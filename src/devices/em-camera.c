#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "devices/em-camera.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"

typedef struct
{
  gboolean capturing;
} EmCameraPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (EmCamera, em_camera, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_CAPTURING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
em_camera_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  EmCamera *self = EM_CAMERA (object);

  switch (prop_id)
    {
    case PROP_CAPTURING:
      g_value_set_boolean (value, em_camera_is_capturing (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_camera_class_init (EmCameraClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = em_camera_get_property;

  properties[PROP_CAPTURING] =
    g_param_spec_boolean ("capturing", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_camera_init (EmCamera *self)
{
}

static void
set_capturing (EmCamera *self, gboolean capturing)
{
  EmCameraPrivate *priv = em_camera_get_instance_private (self);

  if (priv->capturing == capturing)
    return;
  priv->capturing = capturing;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAPTURING]);
}

static void
capture_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmCamera *self = EM_CAMERA (source);
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  EmFrame *frame;

  frame = EM_CAMERA_GET_CLASS (self)->capture_finish (self, result, &error);
  set_capturing (self, FALSE);

  if (frame == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, frame, (GDestroyNotify) em_frame_unref);
}

/**
 * em_camera_capture_async:
 * @exposure_ms: the exposure time in milliseconds, > 0
 * @gain: the gain, ≥ 0, in the source's own unit
 * @progress: (nullable): called on the main context with the fraction of the
 *   exposure elapsed
 *
 * Captures one frame. Fails with %EM_ERROR_INVALID_ARGUMENT for bad settings,
 * %EM_ERROR_CONFLICT while another capture runs, %EM_ERROR_FAILED when the
 * camera fails and %G_IO_ERROR_CANCELLED when @cancellable fires.
 */
void
em_camera_capture_async (EmCamera            *self,
                         gdouble              exposure_ms,
                         gdouble              gain,
                         GCancellable        *cancellable,
                         EmProgressFunc       progress,
                         gpointer             progress_data,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  EmCameraPrivate *priv = em_camera_get_instance_private (self);
  g_autoptr(GTask) task = NULL;
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  g_return_if_fail (EM_IS_CAMERA (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_camera_capture_async);

  if (g_task_return_error_if_cancelled (task))
    return;
  /* numbers as JSON writes them: %g follows the locale ("-0,5" in German) */
  if (!(exposure_ms > 0.0) || !isfinite (exposure_ms))
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("The exposure must be a positive number of milliseconds, got %s"),
                               em_json_format_double (number, exposure_ms));
      return;
    }
  if (!(gain >= 0.0) || !isfinite (gain))
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("The gain must be zero or more, got %s"),
                               em_json_format_double (number, gain));
      return;
    }
  if (priv->capturing)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                               _("The camera is already capturing"));
      return;
    }

  set_capturing (self, TRUE);
  EM_CAMERA_GET_CLASS (self)->capture_async (self, exposure_ms, gain, cancellable,
                                             progress, progress_data,
                                             capture_cb, g_steal_pointer (&task));
}

/* Returns: (transfer full): the frame, or %NULL with @error set */
EmFrame *
em_camera_capture_finish (EmCamera      *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_camera_capture_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
em_camera_is_capturing (EmCamera *self)
{
  EmCameraPrivate *priv = em_camera_get_instance_private (self);

  g_return_val_if_fail (EM_IS_CAMERA (self), FALSE);
  return priv->capturing;
}

void
em_camera_attach_devices (EmCamera *self,
                          EmStage  *stage,
                          EmFocus  *focus)
{
  g_return_if_fail (EM_IS_CAMERA (self));
  g_return_if_fail (stage == NULL || EM_IS_STAGE (stage));
  g_return_if_fail (focus == NULL || EM_IS_FOCUS (focus));

  if (EM_CAMERA_GET_CLASS (self)->attach_devices != NULL)
    EM_CAMERA_GET_CLASS (self)->attach_devices (self, stage, focus);
}
