#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "actions/em-capture-image-action.h"
#include "actions/em-image-writer.h"
#include "devices/em-device-set.h"
#include "engine/em-error.h"
#include "engine/em-time.h"

/* the share of the progress bar the exposure takes; encoding and writing the rest */
#define EXPOSURE_SHARE 0.9
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
    .description = N_("Sensor gain, in the camera's own unit (dB for GenICam cameras)"),
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

typedef struct
{
  EmActionContext *context;
  EmImageFormat    format;
  EmFrame         *frame;
  char            *path;
  gboolean         has_stage;
  EmStagePosition  stage_position;
  gboolean         has_focus;
  gdouble          focus_position;
} CaptureData;

static void
capture_data_free (gpointer data)
{
  CaptureData *capture = data;

  g_clear_pointer (&capture->frame, em_frame_unref);
  g_free (capture->path);
  g_free (capture);
}

static JsonObject *
build_result (CaptureData *capture)
{
  JsonObject *result = json_object_new ();
  JsonObject *applied = json_object_new ();
  EmFrame *frame = capture->frame;
  gint64 taken_us = em_frame_get_timestamp (frame);
  g_autoptr(GDateTime) taken_s = g_date_time_new_from_unix_utc (taken_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) taken = g_date_time_add (taken_s, taken_us % G_USEC_PER_SEC);
  g_autofree char *timestamp = em_time_format (taken);
  gboolean exposure_applied;
  gboolean gain_applied;
  gdouble exposure = em_frame_get_exposure (frame, &exposure_applied);
  gdouble gain = em_frame_get_gain (frame, &gain_applied);

  json_object_set_string_member (result, "path", capture->path);
  json_object_set_string_member (result, "format", em_image_format_to_string (capture->format));
  json_object_set_int_member (result, "width", em_frame_get_width (frame));
  json_object_set_int_member (result, "height", em_frame_get_height (frame));
  json_object_set_int_member (result, "bit_depth", em_frame_get_bit_depth (frame));
  json_object_set_int_member (result, "channels", em_frame_get_channels (frame));
  json_object_set_double_member (result, "exposure", exposure);
  json_object_set_double_member (result, "gain", gain);
  json_object_set_string_member (result, "timestamp", timestamp);

  if (capture->has_stage)
    {
      JsonObject *stage = json_object_new ();

      json_object_set_double_member (stage, "x", capture->stage_position.x);
      json_object_set_double_member (stage, "y", capture->stage_position.y);
      json_object_set_double_member (stage, "z", capture->stage_position.z);
      json_object_set_object_member (result, "stage_position", stage);
    }
  else
    {
      json_object_set_null_member (result, "stage_position");
    }
  if (capture->has_focus)
    json_object_set_double_member (result, "focus_position", capture->focus_position);
  else
    json_object_set_null_member (result, "focus_position");

  json_object_set_boolean_member (applied, "exposure", exposure_applied);
  json_object_set_boolean_member (applied, "gain", gain_applied);
  json_object_set_object_member (result, "applied", applied);
  return result;
}

static void
written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CaptureData *capture = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!em_image_writer_write_finish (result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  em_action_context_report_progress (capture->context, 1.0);
  g_task_return_pointer (task, build_result (capture), (GDestroyNotify) json_object_unref);
}

static void
captured_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CaptureData *capture = g_task_get_task_data (task);
  EmDeviceSet *devices = em_action_context_get_devices (capture->context);
  g_autoptr(GError) error = NULL;
  EmStage *stage;
  EmFocus *focus;

  capture->frame = em_camera_capture_finish (EM_CAMERA (source), result, &error);
  if (capture->frame == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* where the sample was when the frame came in */
  stage = em_device_set_get_stage (devices);
  focus = em_device_set_get_focus (devices);
  if (stage != NULL)
    {
      capture->has_stage = TRUE;
      em_stage_get_position (stage, &capture->stage_position);
    }
  if (focus != NULL)
    {
      capture->has_focus = TRUE;
      capture->focus_position = em_focus_get_position (focus);
    }

  em_image_writer_write_async (capture->frame, capture->format, capture->path,
                               g_task_get_cancellable (task),
                               written_cb, g_object_ref (task));
}

static void
exposure_progress_cb (gdouble fraction, gpointer user_data)
{
  em_action_context_report_progress (user_data, fraction * EXPOSURE_SHARE);
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
  EmCamera *camera = devices != NULL ? em_device_set_get_camera (devices) : NULL;
  const char *data_dir = em_action_context_get_data_dir (context);
  g_autofree char *file_name = NULL;
  CaptureData *capture;

  g_task_set_source_tag (task, em_capture_image_action_run_async);

  if (camera == NULL)
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

  capture = g_new0 (CaptureData, 1);
  capture->context = context;
  g_task_set_task_data (task, capture, capture_data_free);
  /* validated against the choices already */
  if (!em_image_format_from_string (em_action_param_string (action, parameters, "format"),
                                    &capture->format))
    capture->format = EM_IMAGE_FORMAT_PNG;
  file_name = g_strdup_printf ("%s.%s", em_action_context_get_task_id (context),
                               em_image_format_to_string (capture->format));
  capture->path = g_build_filename (data_dir, "images", file_name, NULL);

  em_camera_capture_async (camera,
                           em_action_param_double (action, parameters, "exposure"),
                           em_action_param_double (action, parameters, "gain"),
                           cancellable, exposure_progress_cb, context,
                           captured_cb, g_steal_pointer (&task));
}

static JsonObject *
em_capture_image_action_run_finish (EmAction *action, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, action), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
em_capture_image_action_class_init (EmCaptureImageActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->run_async = em_capture_image_action_run_async;
  action_class->run_finish = em_capture_image_action_run_finish;
}

static void
em_capture_image_action_init (EmCaptureImageAction *self)
{
  em_action_set_info (EM_ACTION (self), "capture_image",
                      N_("Capture an image with the camera and save it as PNG or TIFF"),
                      EM_DEVICE_KIND_CAMERA, capture_image_params, G_N_ELEMENTS (capture_image_params));
}

EmAction *
em_capture_image_action_new (void)
{
  return g_object_new (EM_TYPE_CAPTURE_IMAGE_ACTION, NULL);
}
