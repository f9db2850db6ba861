#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "actions/em-capture-image-action.h"
#include "actions/em-capture-to-file.h"
#include "devices/em-device-set.h"
#include "engine/em-error.h"

#define MAX_EXPOSURE_MS 60000.0

struct _EmCaptureImageAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmCaptureImageAction, em_capture_image_action, EM_TYPE_ACTION)

static const char *format_choices[] = { "png", "tiff", NULL };

static const EmParamSpec capture_image_params[] = {
  {
    .name = "exposure",
    .type = EM_PARAM_NUMBER,
    .unit = "ms",
    .description = N_("Exposure time"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
    .has_maximum = TRUE,
    .maximum = MAX_EXPOSURE_MS,
    .default_value = "10",
  },
  {
    .name = "gain",
    .type = EM_PARAM_NUMBER,
    .description = N_("Sensor gain, in the camera's own unit (dB for GenICam cameras and the simulator)"),
    .has_minimum = TRUE,
    .minimum = 0,
    .default_value = "0",
  },
  {
    .name = "format",
    .type = EM_PARAM_STRING,
    .description = N_("Image file format"),
    .choices = format_choices,
    .default_value = "\"png\"",
  },
};


static void
captured_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  JsonObject *reply = em_capture_to_file_finish (result, &error);

  if (reply == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, reply, (GDestroyNotify) json_object_unref);
}

static void
em_capture_image_action_run_async (EmAction            *action,
                                   EmActionContext     *context,
                                   JsonObject          *parameters,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (action, cancellable, callback, user_data);
  EmDeviceSet *devices = em_action_context_get_devices (context);
  const char *data_dir = em_action_context_get_data_dir (context);
  g_autofree char *file_name = NULL;
  g_autofree char *images_dir = NULL;
  g_autofree char *path = NULL;
  EmImageFormat format;

  g_task_set_source_tag (task, em_capture_image_action_run_async);

  if (devices == NULL || em_device_set_get_camera (devices) == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No camera is configured"));
      return;
    }
  if (data_dir == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE,
                               _("No data directory is configured for images"));
      return;
    }

  /* validated against the choices already */
  if (!em_image_format_from_string (em_action_param_string (action, parameters, "format"), &format))
    format = EM_IMAGE_FORMAT_PNG;
  file_name = g_strdup_printf ("%s.%s", em_action_context_get_task_id (context),
                               em_image_format_to_string (format));
  images_dir = g_build_filename (data_dir, "images", NULL);
  path = g_build_filename (images_dir, file_name, NULL);

  em_capture_to_file_async (devices,
                            em_action_param_double (action, parameters, "exposure"),
                            em_action_param_double (action, parameters, "gain"),
                            format, images_dir, path, cancellable, em_action_context_forward_progress, context,
                            captured_cb, g_steal_pointer (&task));
}


static void
em_capture_image_action_class_init (EmCaptureImageActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->run_async = em_capture_image_action_run_async;
}

static void
em_capture_image_action_init (EmCaptureImageAction *self)
{
  em_action_set_info (EM_ACTION (self), "capture_image",
                      N_("Capture an image with the camera and save it as PNG or TIFF, with its metadata in a JSON file beside it"),
                      EM_DEVICE_KIND_CAMERA, capture_image_params, G_N_ELEMENTS (capture_image_params));
}

EmAction *
em_capture_image_action_new (void)
{
  return g_object_new (EM_TYPE_CAPTURE_IMAGE_ACTION, NULL);
}
