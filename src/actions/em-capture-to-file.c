#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "actions/em-capture-to-file.h"
#include "actions/em-image-metadata.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"

/* the share of the progress the exposure takes; encoding and writing the rest */
#define EXPOSURE_SHARE 0.9

typedef struct
{
  EmDeviceSet    *devices;
  EmImageFormat   format;
  char           *images_dir;
  char           *path;
  EmProgressFunc  progress;
  gpointer        progress_data;
  JsonObject     *result;
} CaptureData;

static void
capture_data_free (gpointer data)
{
  CaptureData *capture = data;

  g_clear_object (&capture->devices);
  g_free (capture->images_dir);
  g_free (capture->path);
  g_clear_pointer (&capture->result, json_object_unref);
  g_free (capture);
}

static void
discarded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;

  em_image_writer_discard_finish (result);
  g_task_return_error_if_cancelled (task);
}

static void
written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CaptureData *capture = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gboolean replaced = FALSE;

  if (!em_image_writer_write_finish (result, &replaced, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* cancelled (or timed out) once the image had its name: the task has ended
   * without it, and a file no result names would stay behind. One that took
   * the place of an earlier pair (a retried tile) stays: removing it would
   * leave neither */
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      if (replaced)
        {
          g_task_return_error_if_cancelled (task);
          return;
        }
      em_image_writer_discard_async (capture->path, discarded_cb, g_steal_pointer (&task));
      return;
    }
  if (capture->progress != NULL)
    capture->progress (1.0, capture->progress_data);
  g_task_return_pointer (task, json_object_ref (capture->result), (GDestroyNotify) json_object_unref);
}

static void
captured_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CaptureData *capture = g_task_get_task_data (task);
  g_autoptr(EmFrame) frame = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  GString *metadata_text;
  g_autofree char *metadata_json = NULL;
  g_autofree char *metadata_path = NULL;
  EmStage *stage = em_device_set_get_stage (capture->devices);
  EmFocus *focus = em_device_set_get_focus (capture->devices);
  EmStagePosition stage_position;
  gdouble focus_position = 0.0;
  gboolean has_stage;
  gboolean has_focus;

  frame = em_camera_capture_finish (EM_CAMERA (source), result, &error);
  if (frame == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* where the sample was when the frame came in, if the camera noted it;
   * otherwise where it is now */
  has_stage = em_frame_get_stage_position (frame, &stage_position.x, &stage_position.y, &stage_position.z);
  if (!has_stage && stage != NULL)
    {
      em_stage_get_position (stage, &stage_position);
      has_stage = TRUE;
    }
  has_focus = em_frame_get_focus_position (frame, &focus_position);
  if (!has_focus && focus != NULL)
    {
      focus_position = em_focus_get_position (focus);
      has_focus = TRUE;
    }
  capture->result = em_image_metadata_new (frame, has_stage ? &stage_position : NULL,
                                           has_focus ? &focus_position : NULL);

  /* the text goes to the worker; the object stays on this thread. Not
   * json-glib's: it writes 1e+20 as 1e+20.0, which no reader takes */
  node = json_node_init_object (json_node_alloc (), capture->result);
  metadata_text = g_string_new (NULL);
  em_json_write_node_pretty (metadata_text, node);
  metadata_json = g_string_free (metadata_text, FALSE);

  metadata_path = em_image_writer_sidecar_path (capture->path);
  json_object_set_string_member (capture->result, "path", capture->path);
  json_object_set_string_member (capture->result, "format", em_image_format_to_string (capture->format));
  json_object_set_string_member (capture->result, "metadata_path", metadata_path);

  em_image_writer_write_async (frame, capture->format, capture->images_dir, capture->path, metadata_json,
                               g_task_get_cancellable (task),
                               written_cb, g_object_ref (task));
}

static void
exposure_progress_cb (gdouble fraction, gpointer user_data)
{
  CaptureData *capture = user_data;

  if (capture->progress != NULL)
    capture->progress (fraction * EXPOSURE_SHARE, capture->progress_data);
}

void
em_capture_to_file_async (EmDeviceSet         *devices,
                          gdouble              exposure_ms,
                          gdouble              gain,
                          EmImageFormat        format,
                          const char          *images_dir,
                          const char          *path,
                          GCancellable        *cancellable,
                          EmProgressFunc       progress,
                          gpointer             progress_data,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  EmCamera *camera;
  CaptureData *capture;

  g_return_if_fail (EM_IS_DEVICE_SET (devices));
  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_capture_to_file_async);

  camera = em_device_set_get_camera (devices);
  if (camera == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No camera is configured"));
      return;
    }

  capture = g_new0 (CaptureData, 1);
  capture->devices = g_object_ref (devices);
  capture->format = format;
  capture->images_dir = g_strdup (images_dir);
  capture->path = g_strdup (path);
  capture->progress = progress;
  capture->progress_data = progress_data;
  g_task_set_task_data (task, capture, capture_data_free);

  em_camera_capture_async (camera, exposure_ms, gain, cancellable,
                           exposure_progress_cb, capture,
                           captured_cb, g_steal_pointer (&task));
}

JsonObject *
em_capture_to_file_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_capture_to_file_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
