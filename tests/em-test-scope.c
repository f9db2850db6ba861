#include "config.h"

#include <string.h>

#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-src.h"
#include "devices/em-sim-stage.h"
#include "engine/em-action-private.h"
#include "em-test-scope.h"
#include "em-test-util.h"

#define QUICK 10000.0

static gboolean
has_source (EmCamera *camera)
{
  g_autoptr(GstElement) source = em_gst_camera_get_source (EM_GST_CAMERA (camera));

  return source != NULL;
}

void
em_test_scope_init (EmTestScope *scope, const char *description, guint width, guint height)
{
  scope->camera = em_gst_camera_new (description, width, height);
  scope->stage = em_sim_stage_new ();
  scope->focus = em_sim_focus_new ();
  scope->devices = em_device_set_new (scope->camera, scope->stage, scope->focus);
  scope->data_dir = em_test_mkdtemp ();
  /* the camera's worker builds its pipeline */
  EM_TEST_WAIT_UNTIL (has_source (scope->camera), 10000);
}

void
em_test_scope_clear (EmTestScope *scope)
{
  g_clear_object (&scope->devices);
  g_clear_object (&scope->camera);
  g_clear_object (&scope->stage);
  g_clear_object (&scope->focus);
  em_test_rmdir (scope->data_dir);
  g_clear_pointer (&scope->data_dir, g_free);
}

static void
done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  EM_TEST_WAIT_UNTIL (*slot != NULL, 20000);
  return *slot;
}

void
em_test_scope_move_stage (EmTestScope *scope, gdouble x, gdouble y)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  EmStagePosition target;

  em_stage_get_position (scope->stage, &target);
  target.x = x;
  target.y = y;
  em_stage_move_async (scope->stage, &target, QUICK, NULL, NULL, NULL, done_cb, &result);
  g_assert_true (em_stage_move_finish (scope->stage, wait_for (&result), &error));
  g_assert_no_error (error);
}

void
em_test_scope_move_focus (EmTestScope *scope, gdouble position)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  em_focus_move_async (scope->focus, position, QUICK, NULL, NULL, NULL, done_cb, &result);
  g_assert_true (em_focus_move_finish (scope->focus, wait_for (&result), &error));
  g_assert_no_error (error);
}

EmFrame *
em_test_scope_capture (EmTestScope *scope, gdouble exposure_ms, gdouble gain)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  EmFrame *frame;

  em_camera_capture_async (scope->camera, exposure_ms, gain, NULL, NULL, NULL, done_cb, &result);
  frame = em_camera_capture_finish (scope->camera, wait_for (&result), &error);
  g_assert_no_error (error);
  g_assert_nonnull (frame);
  return frame;
}

gdouble
em_test_scope_focal_plane (EmTestScope *scope, gdouble x, gdouble y)
{
  g_autoptr(GstElement) source = em_gst_camera_get_source (EM_GST_CAMERA (scope->camera));
  EmSimSpecimen specimen;

  g_assert_true (EM_IS_SIM_SRC (source));
  em_sim_src_get_specimen (EM_SIM_SRC (source), &specimen);
  return em_sim_specimen_focal_plane (&specimen, x, y);
}

typedef struct
{
  GCancellable *cancellable;
  gdouble       cancel_at;
  GArray       *progress;
} Watch;

static void
progress_cb (gdouble fraction, gpointer user_data)
{
  Watch *watch = user_data;

  if (watch->progress != NULL)
    g_array_append_val (watch->progress, fraction);
  if (fraction >= watch->cancel_at)
    g_cancellable_cancel (watch->cancellable);
}

JsonObject *
em_test_scope_run_action (EmTestScope  *scope,
                          EmAction     *action,
                          const char   *task_id,
                          const char   *json,
                          gdouble       cancel_at,
                          GArray       *progress,
                          GError      **error)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(JsonNode) parameters = json_from_string (json, NULL);
  g_autoptr(EmActionContext) context = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  Watch watch = { cancellable, cancel_at, progress };

  g_assert_nonnull (parameters);
  if (!em_action_validate (action, json_node_get_object (parameters), &local_error))
    g_error ("%s refused %s: %s", em_action_get_name (action), json, local_error->message);

  context = em_action_context_new (scope->devices, task_id, scope->data_dir, progress_cb, &watch);
  em_action_run_async (action, context, json_node_get_object (parameters), cancellable, done_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, 60000);
  return em_action_run_finish (action, result, error);
}

gfloat *
em_test_frame_luminance (EmFrame *frame)
{
  guint width = em_frame_get_width (frame);
  guint height = em_frame_get_height (frame);
  guint channels = em_frame_get_channels (frame);
  gboolean wide = em_frame_get_bit_depth (frame) == 16;
  const guint8 *data = g_bytes_get_data (em_frame_get_data (frame), NULL);
  gfloat *out = g_new (gfloat, (gsize) width * height);

  for (guint j = 0; j < height; j++)
    for (guint i = 0; i < width; i++)
      {
        const guint8 *pixel = data + (gsize) j * em_frame_get_stride (frame) +
                              (gsize) i * channels * (wide ? 2 : 1);
        guint16 value;

        if (wide)
          memcpy (&value, pixel, sizeof value);
        out[(gsize) j * width + i] = wide ? value / 65535.0f : pixel[0] / 255.0f;
      }
  return out;
}
