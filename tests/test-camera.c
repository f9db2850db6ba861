#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <png.h>
#include <tiffio.h>
#include <linux/videodev2.h>

#include "actions/em-capture-image-action.h"
#include "actions/em-image-dir.h"
#include "actions/em-image-writer.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-src.h"
#include "devices/em-sim-stage.h"
#include "devices/em-v4l2-controls.h"
#include "engine/em-action-private.h"
#include "engine/em-error.h"
#include "engine/em-time.h"
#include "em-test-gate-src.h"
#include "em-test-util.h"

#define WIDTH  320
#define HEIGHT 240
#define SOURCE "videotestsrc is-live=true pattern=ball"

typedef struct
{
  gboolean    done;
  GError     *error;
  EmFrame    *frame;
  JsonObject *result;
  gint64      finished_us;
  GArray     *progress;
} Run;

static void
run_init (Run *run)
{
  *run = (Run) { 0 };
  run->progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
}

static void
run_clear (Run *run)
{
  g_clear_error (&run->error);
  g_clear_pointer (&run->frame, em_frame_unref);
  g_clear_pointer (&run->result, json_object_unref);
  g_clear_pointer (&run->progress, g_array_unref);
}

static void
progress_cb (gdouble fraction, gpointer user_data)
{
  Run *run = user_data;

  g_array_append_val (run->progress, fraction);
}

static void
captured_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;

  run->frame = em_camera_capture_finish (EM_CAMERA (source), result, &run->error);
  run->finished_us = g_get_monotonic_time ();
  run->done = TRUE;
}

static void
action_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;

  run->result = em_action_run_finish (EM_ACTION (source), result, &run->error);
  run->finished_us = g_get_monotonic_time ();
  run->done = TRUE;
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
capture (EmCamera *camera, gdouble exposure_ms, GCancellable *cancellable, Run *run)
{
  run_init (run);
  em_camera_capture_async (camera, exposure_ms, 0.0, cancellable, progress_cb, run, captured_cb, run);
  EM_TEST_WAIT_UNTIL (run->done, 10000);
}

/* @action run for @task_id in @data_dir with @json's parameters, to its end */
static void
run_action (EmAction    *action,
            EmDeviceSet *devices,
            const char  *task_id,
            const char  *data_dir,
            const char  *json,
            Run         *run)
{
  g_autoptr(JsonNode) parameters = json_from_string (json, NULL);
  g_autoptr(EmActionContext) context = NULL;

  g_assert_nonnull (parameters);
  run_init (run);
  context = em_action_context_new (devices, task_id, data_dir, progress_cb, run);
  em_action_run_async (action, context, json_node_get_object (parameters), NULL, action_done_cb, run);
  EM_TEST_WAIT_UNTIL (run->done, 10000);
}

static gboolean
has_source (EmCamera *camera)
{
  g_autoptr(GstElement) source = em_gst_camera_get_source (EM_GST_CAMERA (camera));

  return source != NULL;
}

/* the source of the camera's pipeline, once its worker has built and started
 * it; not taken in the wait's condition: EM_TEST_WAIT_UNTIL evaluates it once
 * more at the end, and each evaluation takes a reference */
static GstElement *
wait_for_source (EmCamera *camera)
{
  EM_TEST_WAIT_UNTIL (has_source (camera), 10000);
  return em_gst_camera_get_source (EM_GST_CAMERA (camera));
}

static const char *awaited_warning;
static gboolean awaited_warning_seen;

static gboolean
awaited_warning_cb (const char     *log_domain,
                    GLogLevelFlags  log_level,
                    const char     *message,
                    gpointer        user_data)
{
  if (awaited_warning == NULL || g_strcmp0 (log_domain, "em-devices") != 0 ||
      (log_level & G_LOG_LEVEL_WARNING) == 0 || !g_pattern_match_simple (awaited_warning, message))
    return TRUE;
  awaited_warning_seen = TRUE;
  return FALSE;
}

/* a pipeline that cannot be built or started is logged once the worker has
 * tried, a moment later: from here until wait_for_warning(), a warning that
 * matches @pattern is awaited rather than fatal */
static void
await_warning (const char *pattern)
{
  awaited_warning = pattern;
  awaited_warning_seen = FALSE;
  g_test_log_set_fatal_handler (awaited_warning_cb, NULL);
}

static void
wait_for_warning (void)
{
  EM_TEST_WAIT_UNTIL (awaited_warning_seen, 10000);
  g_test_log_set_fatal_handler (NULL, NULL);
  awaited_warning = NULL;
}

static void
assert_png (const char *path, guint width, guint height)
{
  png_image image = { 0 };
  g_autofree guint8 *pixels = NULL;
  gboolean any_lit = FALSE;

  image.version = PNG_IMAGE_VERSION;
  g_assert_true (png_image_begin_read_from_file (&image, path));
  g_assert_cmpuint (image.width, ==, width);
  g_assert_cmpuint (image.height, ==, height);
  g_assert_cmpuint (PNG_IMAGE_SAMPLE_CHANNELS (image.format), ==, 3);
  image.format = PNG_FORMAT_RGB;
  pixels = g_malloc (PNG_IMAGE_SIZE (image));
  g_assert_true (png_image_finish_read (&image, NULL, pixels, 0, NULL));
  /* a real picture, not a zeroed buffer */
  for (gsize i = 0; i < PNG_IMAGE_SIZE (image) && !any_lit; i++)
    any_lit = pixels[i] != 0;
  g_assert_true (any_lit);
}

static void
test_capture_png (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autoptr(JsonNode) parameters = json_from_string ("{\"exposure\": 30, \"gain\": 2.5}", NULL);
  g_autofree char *expected_path = g_build_filename (data_dir, "images", "task-1.png", NULL);
  g_autoptr(GDateTime) before = em_time_now ();
  g_autoptr(GDateTime) taken = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *stage_position;
  JsonObject *applied;
  Run run;

  g_assert_cmpstr (em_action_get_name (action), ==, "capture_image");
  g_assert_cmpint (em_action_get_claims (action), ==, EM_DEVICE_KIND_CAMERA);
  g_assert_true (em_action_validate (action, json_node_get_object (parameters), &error));
  g_assert_no_error (error);

  run_action (action, devices, "task-1", data_dir, "{\"exposure\": 30, \"gain\": 2.5}", &run);
  g_assert_no_error (run.error);

  g_assert_cmpstr (json_object_get_string_member (run.result, "path"), ==, expected_path);
  g_assert_cmpstr (json_object_get_string_member (run.result, "format"), ==, "png");
  g_assert_cmpint (json_object_get_int_member (run.result, "width"), ==, WIDTH);
  g_assert_cmpint (json_object_get_int_member (run.result, "height"), ==, HEIGHT);
  g_assert_cmpint (json_object_get_int_member (run.result, "bit_depth"), ==, 8);
  g_assert_cmpfloat (json_object_get_double_member (run.result, "exposure"), ==, 30.0);
  g_assert_cmpfloat (json_object_get_double_member (run.result, "gain"), ==, 2.5);
  taken = em_time_parse (json_object_get_string_member (run.result, "timestamp"));
  g_assert_nonnull (taken);
  g_assert_cmpint (g_date_time_compare (taken, before), >=, 0);
  stage_position = json_object_get_object_member (run.result, "stage_position");
  g_assert_nonnull (stage_position);
  g_assert_cmpfloat (json_object_get_double_member (stage_position, "x"), ==, 0.0);
  g_assert_true (json_object_has_member (stage_position, "y"));
  g_assert_true (json_object_has_member (stage_position, "z"));
  g_assert_cmpfloat (json_object_get_double_member (run.result, "focus_position"), ==, 0.0);
  /* videotestsrc has neither control, and the result says so */
  applied = json_object_get_object_member (run.result, "applied");
  g_assert_false (json_object_get_boolean_member (applied, "exposure"));
  g_assert_false (json_object_get_boolean_member (applied, "gain"));

  g_assert_cmpuint (run.progress->len, >, 1);
  g_assert_cmpfloat (g_array_index (run.progress, gdouble, run.progress->len - 1), ==, 1.0);

  assert_png (expected_path, WIDTH, HEIGHT);
  run_clear (&run);
  em_test_rmdir (data_dir);
}

static void
test_capture_tiff (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, NULL, NULL);
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autofree char *expected_path = g_build_filename (data_dir, "images", "task-2.tiff", NULL);
  uint32_t width = 0, height = 0;
  uint16_t bits = 0, samples = 0;
  TIFF *tif;
  Run run;

  run_action (action, devices, "task-2", data_dir, "{\"format\": \"tiff\"}", &run);
  g_assert_no_error (run.error);

  g_assert_cmpstr (json_object_get_string_member (run.result, "path"), ==, expected_path);
  g_assert_cmpstr (json_object_get_string_member (run.result, "format"), ==, "tiff");
  /* defaults */
  g_assert_cmpfloat (json_object_get_double_member (run.result, "exposure"), ==, 10.0);
  g_assert_cmpfloat (json_object_get_double_member (run.result, "gain"), ==, 0.0);
  /* no stage or focus in this set */
  g_assert_true (json_object_get_null_member (run.result, "stage_position"));
  g_assert_true (json_object_get_null_member (run.result, "focus_position"));

  tif = TIFFOpen (expected_path, "r");
  g_assert_nonnull (tif);
  TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &width);
  TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &height);
  TIFFGetField (tif, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetField (tif, TIFFTAG_SAMPLESPERPIXEL, &samples);
  g_assert_cmpuint (width, ==, WIDTH);
  g_assert_cmpuint (height, ==, HEIGHT);
  g_assert_cmpuint (bits, ==, 8);
  g_assert_cmpuint (samples, ==, 3);
  {
    g_autofree guint8 *row = g_malloc (TIFFScanlineSize (tif));

    for (guint32 y = 0; y < height; y++)
      g_assert_cmpint (TIFFReadScanline (tif, row, y, 0), ==, 1);
  }
  TIFFClose (tif);

  run_clear (&run);
  em_test_rmdir (data_dir);
}

/* the sidecar, and the TIFF's description with its text, read back as JSON
 * whatever form a number takes. Old: json-glib wrote a gain of 1e20 as
 * 1e+20.0 */
static void
test_capture_metadata_numbers (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, NULL, NULL);
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autofree char *path = g_build_filename (data_dir, "images", "gain.tiff", NULL);
  g_autofree char *sidecar = em_image_writer_sidecar_path (path);
  g_autofree char *text = NULL;
  g_autoptr(JsonNode) metadata = NULL;
  g_autoptr(JsonNode) described = NULL;
  g_autoptr(GError) error = NULL;
  const char *description = NULL;
  TIFF *tif;
  Run run;

  run_action (action, devices, "gain", data_dir, "{\"format\": \"tiff\", \"gain\": 1e20}", &run);
  g_assert_no_error (run.error);

  g_assert_true (g_file_get_contents (sidecar, &text, NULL, NULL));
  metadata = json_from_string (text, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (json_object_get_double_member (json_node_get_object (metadata), "gain"), ==, 1e20);

  tif = TIFFOpen (path, "r");
  g_assert_nonnull (tif);
  g_assert_true (TIFFGetField (tif, TIFFTAG_IMAGEDESCRIPTION, &description));
  described = json_from_string (description, &error);
  TIFFClose (tif);
  g_assert_no_error (error);
  g_assert_true (json_node_equal (described, metadata));

  run_clear (&run);
  em_test_rmdir (data_dir);
}

static void
test_capture_exposure (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  gint64 started_us, started_real_us;
  gboolean applied = TRUE;
  Run run;

  started_us = g_get_monotonic_time ();
  started_real_us = g_get_real_time ();
  capture (camera, 300.0, NULL, &run);
  g_assert_no_error (run.error);

  /* the capture lasts at least the exposure, and takes a frame from after it */
  g_assert_cmpint (run.finished_us - started_us, >=, 300 * 1000);
  g_assert_cmpint (em_frame_get_timestamp (run.frame) - started_real_us, >=, 300 * 1000);
  g_assert_cmpfloat (em_frame_get_exposure (run.frame, &applied), ==, 300.0);
  g_assert_false (applied);
  g_assert_cmpuint (em_frame_get_width (run.frame), ==, WIDTH);
  g_assert_cmpuint (em_frame_get_height (run.frame), ==, HEIGHT);
  g_assert_cmpuint (em_frame_get_format (run.frame), ==, EM_PIXEL_FORMAT_RGB8);
  g_assert_cmpuint (em_frame_get_stride (run.frame), ==, WIDTH * 3);
  g_assert_cmpuint (g_bytes_get_size (em_frame_get_data (run.frame)), ==, WIDTH * 3 * HEIGHT);

  /* progress is the exposure elapsed: rising, several steps, ending at 1 */
  g_assert_cmpuint (run.progress->len, >=, 4);
  for (guint i = 1; i < run.progress->len; i++)
    g_assert_cmpfloat (g_array_index (run.progress, gdouble, i), >=,
                       g_array_index (run.progress, gdouble, i - 1));
  g_assert_cmpfloat (g_array_index (run.progress, gdouble, 0), <, 0.5);
  g_assert_cmpfloat (g_array_index (run.progress, gdouble, run.progress->len - 1), ==, 1.0);
  g_assert_false (em_camera_is_capturing (camera));
  run_clear (&run);
}

static void
test_capture_next_frame (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  gint64 first_ts;
  gint64 second_start;
  Run run;

  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  first_ts = em_frame_get_timestamp (run.frame);
  run_clear (&run);

  /* the second capture must not hand back a frame queued before it started */
  second_start = g_get_real_time ();
  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  g_assert_cmpint (em_frame_get_timestamp (run.frame), >, first_ts);
  g_assert_cmpint (em_frame_get_timestamp (run.frame), >=, second_start);
  run_clear (&run);
}

static void
test_capture_cancel (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  gint64 started_us;
  Run run;

  started_us = g_get_monotonic_time ();
  g_timeout_add (100, cancel_cb, cancellable);
  capture (camera, 3000.0, cancellable, &run);
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (run.frame);
  /* abandoned at once, not at the end of the exposure */
  g_assert_cmpint (run.finished_us - started_us, <, 1500 * 1000);
  g_assert_false (em_camera_is_capturing (camera));
  run_clear (&run);

  /* the camera is free again */
  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  g_assert_nonnull (run.frame);
  run_clear (&run);
}

static void
test_capture_action_cancel (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autofree char *images = g_build_filename (data_dir, "images", "task-3.png", NULL);
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, NULL, NULL);
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(EmActionContext) context = NULL;
  g_autoptr(JsonNode) parameters = json_from_string ("{\"exposure\": 2000}", NULL);
  Run run;

  run_init (&run);
  context = em_action_context_new (devices, "task-3", data_dir, progress_cb, &run);
  g_timeout_add (100, cancel_cb, cancellable);
  em_action_run_async (action, context, json_node_get_object (parameters), cancellable,
                       action_done_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (g_file_test (images, G_FILE_TEST_EXISTS));
  run_clear (&run);
  em_test_rmdir (data_dir);
}

static gboolean
has_temporary_file (const char *dir)
{
  g_autoptr(GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      if (name[0] == '.')
        return TRUE;
    }
  return FALSE;
}

/* a cancel that lands once the image has its final name, before the capture
 * has returned it, still leaves nothing: the task has ended without it */
static void
test_capture_cancel_after_rename (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autofree char *images = g_build_filename (data_dir, "images", NULL);
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, NULL, NULL);
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autoptr(JsonNode) parameters = json_from_string ("{\"exposure\": 1, \"format\": \"tiff\"}", NULL);
  gboolean hit = FALSE;

  /* the writer's temporary file says it is in the worker; from then on the
   * main context is not run, so the capture cannot return before the cancel */
  for (guint attempt = 0; attempt < 20 && !hit; attempt++)
    {
      g_autofree char *task_id = g_strdup_printf ("late-%u", attempt);
      g_autofree char *name = g_strconcat (task_id, ".tiff", NULL);
      g_autofree char *path = g_build_filename (images, name, NULL);
      g_autofree char *sidecar = em_image_writer_sidecar_path (path);
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(EmActionContext) context = NULL;
      gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
      Run run;

      run_init (&run);
      context = em_action_context_new (devices, task_id, data_dir, progress_cb, &run);
      em_action_run_async (action, context, json_node_get_object (parameters), cancellable,
                           action_done_cb, &run);
      while (!run.done && !has_temporary_file (images))
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          g_main_context_iteration (NULL, FALSE);
        }
      if (!run.done)
        {
          while (!g_file_test (path, G_FILE_TEST_EXISTS) && has_temporary_file (images))
            g_usleep (100);
          hit = g_file_test (path, G_FILE_TEST_EXISTS);
          g_cancellable_cancel (cancellable);
        }
      EM_TEST_WAIT_UNTIL (run.done, 10000);
      if (hit)
        {
          g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
          g_assert_false (g_file_test (sidecar, G_FILE_TEST_EXISTS));
        }
      run_clear (&run);
    }
  g_assert_true (hit);
  em_test_rmdir (data_dir);
}

/* the image writer's test hook: cancels @cancellable once the write reaches @step */
typedef struct {
  const char   *step;
  GCancellable *cancellable;
} CancelAt;

static void
cancel_at_step_cb (const char *step, gpointer user_data)
{
  CancelAt *at = user_data;

  if (g_strcmp0 (step, at->step) == 0)
    g_cancellable_cancel (at->cancellable);
}

/* a retried capture (a tile_scan's tile) cancelled once its files took the
 * place of the earlier ones keeps them: removing them would leave neither */
static void
test_capture_cancel_after_replacing_keeps_pair (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (data_dir, "images", "again.png", NULL);
  g_autofree char *sidecar = em_image_writer_sidecar_path (path);
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, NULL, NULL);
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(EmActionContext) context = NULL;
  g_autoptr(JsonNode) first = json_from_string ("{\"exposure\": 1}", NULL);
  g_autoptr(JsonNode) second = json_from_string ("{\"exposure\": 2}", NULL);
  g_autoptr(JsonNode) metadata = NULL;
  g_autofree char *text = NULL;
  Run run;

  run_init (&run);
  context = em_action_context_new (devices, "again", data_dir, progress_cb, &run);
  em_action_run_async (action, context, json_node_get_object (first), NULL, action_done_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_no_error (run.error);
  run_clear (&run);

  run_init (&run);
  em_image_writer_set_test_hook (cancel_at_step_cb, &(CancelAt) { "renamed", cancellable });
  em_action_run_async (action, context, json_node_get_object (second), cancellable,
                       action_done_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  em_image_writer_set_test_hook (NULL, NULL);
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* the new pair, whole */
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_get_contents (sidecar, &text, NULL, NULL));
  metadata = json_from_string (text, NULL);
  g_assert_nonnull (metadata);
  g_assert_cmpfloat (json_object_get_double_member (json_node_get_object (metadata), "exposure"), ==, 2.0);
  run_clear (&run);
  em_test_rmdir (data_dir);
}

static void
test_capture_busy (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  Run first, second;

  run_init (&first);
  run_init (&second);
  em_camera_capture_async (camera, 50.0, 0.0, NULL, NULL, NULL, captured_cb, &first);
  em_camera_capture_async (camera, 50.0, 0.0, NULL, NULL, NULL, captured_cb, &second);
  EM_TEST_WAIT_UNTIL (first.done && second.done, 10000);
  g_assert_no_error (first.error);
  g_assert_error (second.error, EM_ERROR, EM_ERROR_CONFLICT);
  run_clear (&first);
  run_clear (&second);
}

static void
test_capture_bad_settings (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  Run run;

  capture (camera, 0.0, NULL, &run);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  run_clear (&run);

  run_init (&run);
  em_camera_capture_async (camera, 5.0, -1.0, NULL, NULL, NULL, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  run_clear (&run);
}

/* a refusal reads the same in every locale: %g wrote "-0,5" under a German
 * LC_NUMERIC, which no client parses back as the value it sent */
static void
test_capture_bad_settings_locale (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autofree char *locale_dir = em_test_build_german_locale ();
  Run run;

  g_assert_nonnull (setlocale (LC_NUMERIC, "de_DE.UTF-8"));

  capture (camera, -0.5, NULL, &run);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (run.error->message, "got -0.5"));
  run_clear (&run);

  run_init (&run);
  em_camera_capture_async (camera, 5.0, -1.25, NULL, NULL, NULL, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (run.error->message, "got -1.25"));
  run_clear (&run);

  setlocale (LC_NUMERIC, "C");
  em_test_rmdir (locale_dir);
}

static gboolean
post_error_cb (gpointer user_data)
{
  EmGstCamera *camera = user_data;
  g_autoptr(GstElement) source = em_gst_camera_get_source (camera);

  /* what v4l2src posts when the device is unplugged */
  g_assert_nonnull (source);
  GST_ELEMENT_ERROR (source, RESOURCE, READ, ("Device went away."), ("test"));
  return G_SOURCE_REMOVE;
}

static void
test_broken_pipeline_recovers (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(GstElement) before = wait_for_source (camera);
  g_autoptr(GstElement) after = NULL;
  g_autoptr(GstElement) missing = NULL;
  Run run;

  g_assert_nonnull (before);

  /* the error fails the capture in flight with GStreamer's message */
  g_test_expect_message ("em-devices", G_LOG_LEVEL_WARNING, "*Device went away.*");
  g_timeout_add (50, post_error_cb, camera);
  capture (camera, 500.0, NULL, &run);
  g_test_assert_expected_messages ();
  g_assert_error (run.error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (run.error->message, "Device went away."));
  g_assert_false (em_camera_is_capturing (camera));
  /* torn down */
  missing = em_gst_camera_get_source (EM_GST_CAMERA (camera));
  g_assert_null (missing);
  run_clear (&run);

  /* the next capture rebuilds the pipeline and works */
  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  g_assert_nonnull (run.frame);
  after = em_gst_camera_get_source (EM_GST_CAMERA (camera));
  g_assert_nonnull (after);
  g_assert_true (after != before);
  run_clear (&run);
}

static gboolean
switch_source_cb (gpointer user_data)
{
  em_gst_camera_set_source_description (EM_GST_CAMERA (user_data), "videotestsrc is-live=true pattern=snow");
  return G_SOURCE_REMOVE;
}

static void
test_switch_source (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(GstElement) first = wait_for_source (camera);
  g_autoptr(GstElement) second = NULL;
  g_autoptr(GstElement) third = NULL;
  Run run;

  /* idle: the new source streams at once */
  em_gst_camera_set_source_description (EM_GST_CAMERA (camera), "videotestsrc is-live=true pattern=smpte");
  g_assert_cmpstr (em_gst_camera_get_source_description (EM_GST_CAMERA (camera)), ==,
                   "videotestsrc is-live=true pattern=smpte");
  second = wait_for_source (camera);
  g_assert_nonnull (second);
  g_assert_true (second != first);

  /* mid-capture: the capture finishes on the old pipeline, then it is replaced */
  g_timeout_add (20, switch_source_cb, camera);
  capture (camera, 200.0, NULL, &run);
  g_assert_no_error (run.error);
  g_assert_nonnull (run.frame);
  run_clear (&run);
  third = wait_for_source (camera);
  g_assert_nonnull (third);
  g_assert_true (third != second);

  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  run_clear (&run);
}

/* naming a GenICam camera searches for it, which takes as long as the network
 * does: a switch to one at run time leaves the main loop free meanwhile */
static void
test_switch_source_slow_to_build (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (SOURCE, WIDTH, HEIGHT);
  g_autoptr(GstElement) first = wait_for_source (camera);
  g_autoptr(GstElement) second = NULL;
  g_autofree char *name = NULL;
  gint64 before;
  Run run;

  em_test_gate_src_hold_names (TRUE);
  before = g_get_monotonic_time ();
  em_gst_camera_set_source_description (EM_GST_CAMERA (camera), "aravissrc camera-name=Slow-1234");
  g_assert_cmpint (g_get_monotonic_time () - before, <, 2 * G_USEC_PER_SEC);
  EM_TEST_WAIT_UNTIL (em_test_gate_src_name_is_waiting (), 10000);
  g_assert_null (em_gst_camera_get_source (EM_GST_CAMERA (camera)));

  em_test_gate_src_hold_names (FALSE);
  second = wait_for_source (camera);
  g_assert_true (EM_IS_TEST_GATE_SRC (second));
  g_object_get (second, "camera-name", &name, NULL);
  g_assert_cmpstr (name, ==, "Slow-1234");
  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  run_clear (&run);
}

static void
test_bad_description (void)
{
  g_autoptr(EmCamera) camera = NULL;
  Run run;

  /* the camera is created anyway; the problem is logged, then reported per capture */
  await_warning ("*nosuchcamerasrc*");
  camera = em_gst_camera_new ("nosuchcamerasrc device=/dev/null", WIDTH, HEIGHT);
  wait_for_warning ();
  g_assert_nonnull (camera);

  for (guint i = 0; i < 2; i++)
    {
      capture (camera, 5.0, NULL, &run);
      g_assert_error (run.error, EM_ERROR, EM_ERROR_FAILED);
      g_test_message ("capture error: %s", run.error->message);
      g_assert_nonnull (strstr (run.error->message, "nosuchcamerasrc"));
      g_assert_false (em_camera_is_capturing (camera));
      run_clear (&run);
    }

  /* not a source at all: still a clean failure */
  g_clear_object (&camera);
  await_warning ("*cannot be built*");
  camera = em_gst_camera_new ("videotestsrc ! ! ! appsink", WIDTH, HEIGHT);
  wait_for_warning ();
  capture (camera, 5.0, NULL, &run);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_FAILED);
  run_clear (&run);
}

static void
write_test_png (const char *path)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(EmFrame) frame = NULL;
  g_autoptr(GError) error = NULL;
  guint8 *pixels = g_malloc (64 * 48 * 3);

  for (guint i = 0; i < 64 * 48 * 3; i++)
    pixels[i] = (guint8) (i * 7);
  bytes = g_bytes_new_take (pixels, 64 * 48 * 3);
  frame = em_frame_new (EM_PIXEL_FORMAT_RGB8, 64, 48, 64 * 3, bytes);
  g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, NULL, NULL, &error));
  g_assert_no_error (error);
}

static gboolean
source_gone (EmCamera *camera)
{
  g_autoptr(GstElement) source = em_gst_camera_get_source (EM_GST_CAMERA (camera));

  return source == NULL;
}

/* stands in for the main loop's clients: if the main thread has not come back
 * by the deadline, it is stuck in the camera, and @rescue frees it so that the
 * test fails instead of hanging */
typedef struct
{
  GMutex   lock;
  GCond    cond;
  GThread *thread;
  gint64   deadline;
  GFunc    rescue;
  gpointer rescue_data;
  gboolean loop_ran;
  gboolean fired;
} Watchdog;

static gpointer
watchdog_main (gpointer data)
{
  Watchdog *watchdog = data;

  g_mutex_lock (&watchdog->lock);
  while (!watchdog->loop_ran &&
         g_cond_wait_until (&watchdog->cond, &watchdog->lock, watchdog->deadline))
    ;
  if (!watchdog->loop_ran)
    {
      watchdog->fired = TRUE;
      watchdog->rescue (watchdog->rescue_data, NULL);
    }
  g_mutex_unlock (&watchdog->lock);
  return NULL;
}

static void
watchdog_start (Watchdog *watchdog, guint seconds, GFunc rescue, gpointer rescue_data)
{
  *watchdog = (Watchdog) {
    .deadline = g_get_monotonic_time () + seconds * G_TIME_SPAN_SECOND,
    .rescue = rescue,
    .rescue_data = rescue_data,
  };
  g_mutex_init (&watchdog->lock);
  g_cond_init (&watchdog->cond);
  watchdog->thread = g_thread_new ("watchdog", watchdog_main, watchdog);
}

/* the main thread is back: TRUE if it came back by itself */
static gboolean
watchdog_stop (Watchdog *watchdog)
{
  g_mutex_lock (&watchdog->lock);
  watchdog->loop_ran = TRUE;
  g_cond_signal (&watchdog->cond);
  g_mutex_unlock (&watchdog->lock);
  g_thread_join (watchdog->thread);
  g_mutex_clear (&watchdog->lock);
  g_cond_clear (&watchdog->cond);
  return !watchdog->fired;
}

typedef struct
{
  const char *path;
  int         fd;
} Fifo;

static void
fifo_close_fd (Fifo *fifo)
{
  if (fifo->fd >= 0)
    close (fifo->fd);
  fifo->fd = -1;
}

/* a reader stuck opening the FIFO goes on once a writer opens it */
static void
fifo_open_writer (gpointer data, gpointer unused)
{
  Fifo *fifo = data;

  fifo->fd = open (fifo->path, O_WRONLY | O_CLOEXEC);
}

/* a reader stuck reading the FIFO gets the end of the stream once the last
 * writer closes it */
static void
fifo_close (gpointer data, gpointer unused)
{
  fifo_close_fd (data);
}

/* TRUE once the writer is open (or cannot be); without a reader it is not yet */
static gboolean
fifo_try_open_writer (Fifo *fifo)
{
  if (fifo->fd < 0)
    fifo->fd = open (fifo->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  return fifo->fd >= 0 || errno != ENXIO;
}

/* a source slow to open (here a FIFO nobody writes yet, as a camera being
 * probed or discovered on the network) leaves the main loop free, and the
 * capture waiting for it goes on once it opens */
static void
test_slow_start_keeps_loop_free (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *picture = g_build_filename (dir, "specimen.png", NULL);
  g_autofree char *path = g_build_filename (dir, "camera", NULL);
  g_autofree char *description = g_strdup_printf ("filesrc location=%s ! pngdec ! imagefreeze", path);
  g_autofree char *contents = NULL;
  g_autoptr(EmCamera) camera = NULL;
  g_autoptr(GError) error = NULL;
  Fifo fifo = { path, -1 };
  Watchdog watchdog;
  gsize length = 0;
  Run run;

  write_test_png (picture);
  g_assert_true (g_file_get_contents (picture, &contents, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);

  watchdog_start (&watchdog, 10, fifo_open_writer, &fifo);
  camera = em_gst_camera_new (description, WIDTH, HEIGHT);
  run_init (&run);
  em_camera_capture_async (camera, 5.0, 0.0, NULL, progress_cb, &run, captured_cb, &run);
  /* a writer can open a FIFO only while a reader is opening it: the main loop
   * turns here while the camera's open() waits */
  EM_TEST_WAIT_UNTIL (fifo_try_open_writer (&fifo), 10000);
  g_assert_true (watchdog_stop (&watchdog));
  g_assert_cmpint (fifo.fd, >=, 0);
  g_assert_false (run.done);

  /* the device opens: the capture that waited for it takes a frame */
  g_assert_cmpint (fcntl (fifo.fd, F_SETFL, 0), ==, 0);
  g_assert_cmpint (write (fifo.fd, contents, length), ==, (gssize) length);
  fifo_close_fd (&fifo);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_no_error (run.error);
  g_assert_cmpuint (em_frame_get_width (run.frame), ==, WIDTH);
  run_clear (&run);

  g_clear_object (&camera);
  em_test_rmdir (dir);
}

/* a source stuck in a read (here a FIFO whose writer sends nothing) fails the
 * capture after the frame timeout, and stopping it, which waits for that read,
 * leaves the main loop free */
static void
test_stuck_stop_keeps_loop_free (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "camera", NULL);
  g_autofree char *description = g_strdup_printf ("filesrc location=%s ! pngdec ! imagefreeze", path);
  g_autoptr(EmCamera) camera = NULL;
  Fifo fifo = { path, -1 };
  Watchdog watchdog;
  Run run;

  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  /* a writer from the start, so the camera's open() does not wait */
  fifo.fd = open (path, O_RDWR | O_CLOEXEC);
  g_assert_cmpint (fifo.fd, >=, 0);
  camera = em_gst_camera_new (description, WIDTH, HEIGHT);

  watchdog_start (&watchdog, 20, fifo_close, &fifo);
  g_test_expect_message ("em-devices", G_LOG_LEVEL_WARNING, "*no frame within*");
  capture (camera, 5.0, NULL, &run);
  /* the stop of the stuck pipeline cannot end before the writer goes */
  g_assert_true (watchdog_stop (&watchdog));
  g_test_assert_expected_messages ();
  g_assert_error (run.error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (run.error->message, "no frame"));
  run_clear (&run);

  /* the read ends, and so does the stop */
  fifo_close_fd (&fifo);
  g_clear_object (&camera);
  em_test_rmdir (dir);
}

/* a large frame may take longer than the 5 s a small one gets: here a source
 * that sends one every 6 s, at 4000 × 4000, which gets 13 s. Old: "no frame
 * within 5 s", every time, as the simulator at 8192 × 8192 did */
static void
test_large_frame_takes_longer (void)
{
  g_autoptr(EmCamera) camera =
    em_gst_camera_new ("videotestsrc pattern=black ! video/x-raw,format=GRAY8 ! "
                       "identity sleep-time=6000000", 4000, 4000);
  gint64 start = g_get_monotonic_time ();
  Run run;

  run_init (&run);
  em_camera_capture_async (camera, 1.0, 0.0, NULL, NULL, NULL, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 20000);
  g_assert_no_error (run.error);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 6 * G_USEC_PER_SEC);
  g_assert_cmpuint (em_frame_get_width (run.frame), ==, 4000);
  run_clear (&run);
}

/* a capture asked for while @gate holds a setting: it waits until the gate
 * opens, then succeeds */
static void
capture_behind_gate (EmCamera       *camera,
                     EmTestGateSrc  *gate,
                     gdouble         exposure_ms,
                     gdouble         gain,
                     Run            *run)
{
  run_init (run);
  em_camera_capture_async (camera, exposure_ms, gain, NULL, progress_cb, run, captured_cb, run);
  em_test_run_for (200);
  g_assert_false (run->done);
  em_test_gate_src_open (gate);
  EM_TEST_WAIT_UNTIL (run->done, 10000);
  g_assert_no_error (run->error);
}

/* the watchdog's rescue: lets the stuck setter go */
static void
gate_open (gpointer data, gpointer unused)
{
  em_test_gate_src_open (data);
}

static gpointer
gate_open_later (gpointer data)
{
  g_usleep (100 * 1000);
  em_test_gate_src_open (data);
  return NULL;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* a GenICam camera (the gated stand-in for aravissrc), running, its gate closed */
static EmCamera *
gated_camera_new (EmTestGateSrc **out_gate)
{
  EmCamera *camera = em_gst_camera_new ("aravissrc", WIDTH, HEIGHT);
  g_autoptr(GstElement) source = wait_for_source (camera);
  Run run;

  g_assert_true (EM_IS_TEST_GATE_SRC (source));
  /* once through with the gate open, so the pipeline runs */
  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  run_clear (&run);

  em_test_gate_src_close (EM_TEST_GATE_SRC (source));
  *out_gate = EM_TEST_GATE_SRC (g_steal_pointer (&source));
  return camera;
}

/* a camera slow to take its exposure and gain (a GenICam camera answering late
 * on the network, a UVC driver stuck in an ioctl) leaves the main loop free,
 * and the exposure counts from when the camera has them */
static void
test_slow_controls_keep_loop_free (void)
{
  g_autoptr(EmTestGateSrc) gate = NULL;
  g_autoptr(EmCamera) camera = gated_camera_new (&gate);
  gboolean ticked = FALSE;
  gboolean applied = FALSE;
  gdouble exposure_us = 0.0, gain_db = 0.0;
  gint64 opened_us;
  Watchdog watchdog;
  Run run;

  watchdog_start (&watchdog, 10, gate_open, gate);
  run_init (&run);
  em_camera_capture_async (camera, 200.0, 6.0, NULL, progress_cb, &run, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (em_test_gate_src_reached (gate), 10000);
  g_timeout_add (100, set_flag_cb, &ticked);
  EM_TEST_WAIT_UNTIL (ticked, 10000);
  g_assert_true (watchdog_stop (&watchdog));
  /* the timer fired while the camera was still taking the settings, and the
   * exposure has not begun */
  g_assert_true (em_test_gate_src_is_waiting (gate));
  g_assert_false (run.done);
  g_assert_cmpuint (run.progress->len, ==, 0);

  opened_us = g_get_monotonic_time ();
  em_test_gate_src_open (gate);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_no_error (run.error);
  g_assert_cmpint (run.finished_us - opened_us, >=, 200 * 1000);
  g_assert_cmpfloat (em_frame_get_exposure (run.frame, &applied), ==, 200.0);
  g_assert_true (applied);
  g_assert_cmpfloat (em_frame_get_gain (run.frame, &applied), ==, 6.0);
  g_assert_true (applied);
  /* in aravissrc's units */
  g_object_get (gate, "exposure", &exposure_us, "gain", &gain_db, NULL);
  g_assert_cmpfloat (exposure_us, ==, 200000.0);
  g_assert_cmpfloat (gain_db, ==, 6.0);
  run_clear (&run);
}

/* a gain past what aravissrc takes (500 dB) is clamped to it and reported as
 * not applied, rather than refused by the element with the old value kept */
static void
test_aravis_gain_clamped (void)
{
  g_autoptr(EmTestGateSrc) gate = NULL;
  g_autoptr(EmCamera) camera = gated_camera_new (&gate);
  gboolean applied = TRUE;
  gdouble gain_db = 0.0;
  Run run;

  em_test_gate_src_open (gate);
  run_init (&run);
  em_camera_capture_async (camera, 5.0, 600.0, NULL, progress_cb, &run, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_no_error (run.error);
  g_assert_cmpfloat (em_frame_get_gain (run.frame, &applied), ==, 600.0);
  g_assert_false (applied);
  em_frame_get_exposure (run.frame, &applied);
  g_assert_true (applied);
  g_object_get (gate, "gain", &gain_db, NULL);
  g_assert_cmpfloat (gain_db, ==, 500.0);
  run_clear (&run);
}

/* a capture cancelled (or timed out) while the camera takes its settings ends
 * at once; the next one waits its turn and gets its own settings, and the
 * camera can go while a setting is still in flight */
static void
test_cancel_while_applying (void)
{
  g_autoptr(EmTestGateSrc) gate = NULL;
  g_autoptr(EmCamera) camera = gated_camera_new (&gate);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GCancellable) second_cancellable = g_cancellable_new ();
  gboolean applied = FALSE;
  gdouble gain_db = 0.0;
  gpointer alive = NULL;
  GThread *opener;
  Watchdog watchdog;
  Run run;

  watchdog_start (&watchdog, 10, gate_open, gate);
  run_init (&run);
  em_camera_capture_async (camera, 5.0, 1.0, cancellable, progress_cb, &run, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (em_test_gate_src_reached (gate), 10000);
  g_cancellable_cancel (cancellable);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_true (watchdog_stop (&watchdog));
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (em_test_gate_src_is_waiting (gate));
  g_assert_false (em_camera_is_capturing (camera));
  run_clear (&run);

  /* the next capture waits behind the setting in flight, then gets its own */
  capture_behind_gate (camera, gate, 50.0, 3.0, &run);
  g_assert_cmpfloat (em_frame_get_gain (run.frame, &applied), ==, 3.0);
  g_assert_true (applied);
  g_object_get (gate, "gain", &gain_db, NULL);
  g_assert_cmpfloat (gain_db, ==, 3.0);
  run_clear (&run);

  /* dropped while its source is stuck in a setter: the camera waits for it
   * as it waits for a stop, and goes */
  em_test_gate_src_close (gate);
  run_init (&run);
  em_camera_capture_async (camera, 5.0, 0.0, second_cancellable, progress_cb, &run, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (em_test_gate_src_reached (gate), 10000);
  g_cancellable_cancel (second_cancellable);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  run_clear (&run);
  alive = camera;
  g_object_add_weak_pointer (G_OBJECT (camera), &alive);
  opener = g_thread_new ("opener", gate_open_later, gate);
  g_clear_object (&camera);
  g_thread_join (opener);
  g_assert_null (alive);
}

/* the device fails while the camera takes its settings: the capture fails
 * with its message, and the rebuilt pipeline starts once the old device has
 * answered */
static void
test_error_while_applying (void)
{
  g_autoptr(EmTestGateSrc) gate = NULL;
  g_autoptr(EmCamera) camera = gated_camera_new (&gate);
  g_autoptr(GstElement) rebuilt = NULL;
  Watchdog watchdog;
  Run run;

  watchdog_start (&watchdog, 10, gate_open, gate);
  g_test_expect_message ("em-devices", G_LOG_LEVEL_WARNING, "*Device went away.*");
  run_init (&run);
  em_camera_capture_async (camera, 5.0, 0.0, NULL, progress_cb, &run, captured_cb, &run);
  EM_TEST_WAIT_UNTIL (em_test_gate_src_reached (gate), 10000);
  post_error_cb (camera);
  EM_TEST_WAIT_UNTIL (run.done, 10000);
  g_assert_true (watchdog_stop (&watchdog));
  g_test_assert_expected_messages ();
  g_assert_error (run.error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (run.error->message, "Device went away."));
  g_assert_true (source_gone (camera));
  g_assert_true (em_test_gate_src_is_waiting (gate));
  run_clear (&run);

  capture_behind_gate (camera, gate, 5.0, 0.0, &run);
  rebuilt = em_gst_camera_get_source (EM_GST_CAMERA (camera));
  g_assert_true (rebuilt != GST_ELEMENT (gate));
  run_clear (&run);
}

static void
test_device_comes_back (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *picture = g_build_filename (dir, "specimen.png", NULL);
  g_autofree char *description = g_strdup_printf ("filesrc location=%s ! pngdec ! imagefreeze", picture);
  g_autoptr(EmCamera) camera = NULL;
  Run run;

  /* the source cannot start: the camera's worker says so with GStreamer's
   * message, and the pipeline goes */
  await_warning ("*specimen.png*");
  camera = em_gst_camera_new (description, WIDTH, HEIGHT);
  wait_for_warning ();
  g_assert_true (source_gone (camera));
  capture (camera, 5.0, NULL, &run);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("capture error: %s", run.error->message);
  g_assert_nonnull (strstr (run.error->message, "specimen.png"));
  run_clear (&run);

  /* once the resource is there the next capture rebuilds and works */
  write_test_png (picture);
  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  g_assert_cmpuint (em_frame_get_width (run.frame), ==, WIDTH);
  g_assert_cmpuint (em_frame_get_height (run.frame), ==, HEIGHT);
  run_clear (&run);

  g_clear_object (&camera);
  em_test_rmdir (dir);
}

static EmFrame *
make_frame (EmPixelFormat format, guint width, guint height, gsize stride)
{
  g_autoptr(GBytes) bytes = NULL;
  guint8 *pixels = g_malloc0 (stride * height);
  guint bytes_per_pixel = em_pixel_format_get_channels (format) * em_pixel_format_get_bit_depth (format) / 8;

  for (guint y = 0; y < height; y++)
    for (guint x = 0; x < width * bytes_per_pixel; x++)
      pixels[y * stride + x] = (guint8) (x * 3 + y * 5);
  bytes = g_bytes_new_take (pixels, stride * height);
  return em_frame_new (format, width, height, stride, bytes);
}

static void
test_writer_png_roundtrip (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "sub", "dir", "frame.png", NULL);
  /* a padded stride, as GStreamer produces */
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_RGB8, 33, 17, 33 * 3 + 5);
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *pixels = NULL;
  png_image image = { 0 };
  const guint8 *source = g_bytes_get_data (em_frame_get_data (frame), NULL);

  g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, NULL, NULL, &error));
  g_assert_no_error (error);

  image.version = PNG_IMAGE_VERSION;
  g_assert_true (png_image_begin_read_from_file (&image, path));
  g_assert_cmpuint (image.width, ==, 33);
  g_assert_cmpuint (image.height, ==, 17);
  image.format = PNG_FORMAT_RGB;
  pixels = g_malloc (PNG_IMAGE_SIZE (image));
  g_assert_true (png_image_finish_read (&image, NULL, pixels, 0, NULL));
  for (guint y = 0; y < 17; y++)
    g_assert_cmpmem (pixels + y * 33 * 3, 33 * 3, source + y * (33 * 3 + 5), 33 * 3);

  em_test_rmdir (dir);
}

static void
test_writer_tiff16_roundtrip (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "frame.tiff", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY16, 20, 10, 20 * 2);
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *row = NULL;
  const guint8 *source = g_bytes_get_data (em_frame_get_data (frame), NULL);
  uint16_t bits = 0, samples = 0;
  TIFF *tif;

  g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_TIFF, path, NULL, NULL, &error));
  g_assert_no_error (error);

  tif = TIFFOpen (path, "r");
  g_assert_nonnull (tif);
  TIFFGetField (tif, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetField (tif, TIFFTAG_SAMPLESPERPIXEL, &samples);
  g_assert_cmpuint (bits, ==, 16);
  g_assert_cmpuint (samples, ==, 1);
  row = g_malloc (TIFFScanlineSize (tif));
  for (guint y = 0; y < 10; y++)
    {
      g_assert_cmpint (TIFFReadScanline (tif, row, y, 0), ==, 1);
      g_assert_cmpmem (row, 40, source + y * 40, 40);
    }
  TIFFClose (tif);
  em_test_rmdir (dir);
}

static void
test_writer_failure (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *blocker = g_build_filename (dir, "not-a-dir", NULL);
  g_autofree char *path = g_build_filename (blocker, "frame.png", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 4, 4, 4);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (blocker, "", 0, NULL));
  g_assert_false (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, NULL, NULL, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "not-a-dir"));
  em_test_rmdir (dir);
}

static guint
count_entries (const char *dir)
{
  g_autoptr(GDir) listing = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (listing);
  while (g_dir_read_name (listing) != NULL)
    n++;
  return n;
}

/* the image cannot take its final name: neither it nor its metadata stays */
static void
test_writer_failure_leaves_nothing (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "frame.png", NULL);
  g_autofree char *sidecar = g_build_filename (dir, "frame.json", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 4, 4, 4);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_assert_false (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{}", NULL, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_false (g_file_test (sidecar, G_FILE_TEST_EXISTS));
  /* only the directory in the way */
  g_assert_cmpuint (count_entries (dir), ==, 1);
  em_test_rmdir (dir);
}

static void
test_writer_cancelled_leaves_nothing (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY16, 8, 8, 16);

  g_cancellable_cancel (cancellable);
  for (guint i = 0; i < 2; i++)
    {
      EmImageFormat format = i == 0 ? EM_IMAGE_FORMAT_PNG : EM_IMAGE_FORMAT_TIFF;
      g_autofree char *name = g_strdup_printf ("frame.%s", em_image_format_to_string (format));
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autoptr(GError) error = NULL;

      g_assert_false (em_image_writer_write (frame, format, path, "{}", cancellable, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpuint (count_entries (dir), ==, 0);
    }
  em_test_rmdir (dir);
}

/* a directory where the sidecar goes is refused, as rename() would refuse
 * it, rather than swapped aside under a temporary name nothing removes; with
 * or without renameat2's exchange */
static void
test_writer_sidecar_is_directory (void)
{
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *dir = em_test_mkdtemp ();
      g_autofree char *path = g_build_filename (dir, "frame.png", NULL);
      g_autofree char *sidecar = g_build_filename (dir, "frame.json", NULL);
      g_autofree char *inside = g_build_filename (sidecar, "kept", NULL);
      g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 4, 4, 4);
      g_autoptr(GError) error = NULL;

      g_assert_cmpint (g_mkdir (sidecar, 0755), ==, 0);
      g_assert_true (g_file_set_contents (inside, "mine", -1, NULL));
      em_image_writer_set_test_exchange_errno (i == 0 ? 0 : EINVAL);
      g_assert_false (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{}", NULL, &error));
      em_image_writer_set_test_exchange_errno (0);
      g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, sidecar));
      /* the directory stays where it was, with what it holds, and nothing else */
      g_assert_true (g_file_test (inside, G_FILE_TEST_IS_REGULAR));
      g_assert_cmpuint (count_entries (dir), ==, 1);
      em_test_rmdir (dir);
    }
}

/* a rewrite that fails or is cancelled (a retried tile_scan writes its tiles
 * again) leaves the image already there with its own metadata */
static void
test_writer_failed_rewrite_keeps_pair (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "frame.png", NULL);
  g_autofree char *sidecar = g_build_filename (dir, "frame.json", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY16, 32, 32, 64);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) cancelled = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  struct rlimit saved, limited;
  void (*saved_handler) (int);

  g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 1}", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &before, NULL, NULL));

  g_cancellable_cancel (cancellable);
  g_assert_false (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 2}",
                                         cancellable, &cancelled));
  g_assert_error (cancelled, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* a sidecar fits, the image does not */
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  limited = saved;
  limited.rlim_cur = 64;
  saved_handler = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limited), ==, 0);
  g_assert_false (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 3}", NULL, &error));
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  signal (SIGXFSZ, saved_handler);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);

  g_assert_true (g_file_get_contents (path, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, before);
  g_clear_pointer (&after, g_free);
  g_assert_true (g_file_get_contents (sidecar, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, "{\"attempt\": 1}\n");
  g_assert_cmpuint (count_entries (dir), ==, 2);
  em_test_rmdir (dir);
}

/* a cancel that comes while the new sidecar is synced stops the write before
 * either file takes its name: the retried tile keeps its earlier pair */
static void
test_writer_cancel_before_rename_keeps_pair (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "tile-r000-c000.png", NULL);
  g_autofree char *sidecar = g_build_filename (dir, "tile-r000-c000.json", NULL);
  g_autoptr(EmFrame) first = make_frame (EM_PIXEL_FORMAT_GRAY8, 8, 8, 8);
  g_autoptr(EmFrame) second = make_frame (EM_PIXEL_FORMAT_GRAY16, 16, 16, 32);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gsize before_length = 0, after_length = 0;

  g_assert_true (em_image_writer_write (first, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 1}", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &before, &before_length, NULL));

  em_image_writer_set_test_hook (cancel_at_step_cb, &(CancelAt) { "sidecar-synced", cancellable });
  g_assert_false (em_image_writer_write (second, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 2}",
                                         cancellable, &error));
  em_image_writer_set_test_hook (NULL, NULL);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  g_assert_true (g_file_get_contents (path, &after, &after_length, NULL));
  g_assert_cmpmem (after, after_length, before, before_length);
  g_clear_pointer (&after, g_free);
  g_assert_true (g_file_get_contents (sidecar, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, "{\"attempt\": 1}\n");
  /* no temporaries either */
  g_assert_cmpuint (count_entries (dir), ==, 2);
  em_test_rmdir (dir);
}

/* the image cannot take its name over an earlier one: the earlier sidecar
 * stays as it was, not replaced by the new one nor removed */
static void
test_writer_rename_failure_keeps_sidecar (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "frame.png", NULL);
  g_autofree char *sidecar = g_build_filename (dir, "frame.json", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 4, 4, 4);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;

  g_assert_true (g_file_set_contents (sidecar, "{\"attempt\": 1}\n", -1, NULL));
  /* rename() cannot put a file over a directory */
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_assert_false (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 2}", NULL, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_true (g_file_get_contents (sidecar, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "{\"attempt\": 1}\n");
  g_assert_cmpuint (count_entries (dir), ==, 2);
  em_test_rmdir (dir);
}

/* what renameat2 (RENAME_EXCHANGE) fails with where the file system or the
 * kernel cannot swap */
static const int no_exchange_errnos[] = { EINVAL, ENOSYS, EOPNOTSUPP };

/* without a swap, a capture over an earlier one still replaces the pair and
 * leaves no temporary behind */
static void
test_writer_no_exchange_rewrite (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (no_exchange_errnos); i++)
    {
      g_autofree char *dir = em_test_mkdtemp ();
      g_autofree char *path = g_build_filename (dir, "frame.png", NULL);
      g_autofree char *sidecar = g_build_filename (dir, "frame.json", NULL);
      g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 4, 4, 4);
      g_autoptr(GError) error = NULL;
      g_autofree char *contents = NULL;

      em_image_writer_set_test_exchange_errno (no_exchange_errnos[i]);
      g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 1}", NULL, &error));
      g_assert_no_error (error);
      g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 2}", NULL, &error));
      g_assert_no_error (error);
      em_image_writer_set_test_exchange_errno (0);
      g_assert_true (g_file_get_contents (sidecar, &contents, NULL, NULL));
      g_assert_cmpstr (contents, ==, "{\"attempt\": 2}\n");
      g_assert_cmpuint (count_entries (dir), ==, 2);
      em_test_rmdir (dir);
    }
}

/* without a swap, the image failing to take its name still leaves the earlier
 * sidecar as it was */
static void
test_writer_no_exchange_rename_failure_keeps_sidecar (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (no_exchange_errnos); i++)
    {
      g_autofree char *dir = em_test_mkdtemp ();
      g_autofree char *path = g_build_filename (dir, "frame.png", NULL);
      g_autofree char *sidecar = g_build_filename (dir, "frame.json", NULL);
      g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 4, 4, 4);
      g_autoptr(GError) error = NULL;
      g_autofree char *contents = NULL;

      g_assert_true (g_file_set_contents (sidecar, "{\"attempt\": 1}\n", -1, NULL));
      g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
      em_image_writer_set_test_exchange_errno (no_exchange_errnos[i]);
      g_assert_false (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, path, "{\"attempt\": 2}", NULL, &error));
      em_image_writer_set_test_exchange_errno (0);
      g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
      g_assert_true (g_file_get_contents (sidecar, &contents, NULL, NULL));
      g_assert_cmpstr (contents, ==, "{\"attempt\": 1}\n");
      g_assert_cmpuint (count_entries (dir), ==, 2);
      em_test_rmdir (dir);
    }
}

static guint
file_mode (const char *path)
{
  struct stat info;

  g_assert_cmpint (g_stat (path, &info), ==, 0);
  return info.st_mode & 07777;
}

static void
record_step_cb (const char *step, gpointer user_data)
{
  g_ptr_array_add (user_data, g_strdup (step));
}

/* a directory made for an image (a tile scan's) has its name synced into its
 * parent before the image takes its own: a task that completed does not lose
 * it to a power cut. One that is already there is left alone */
static void
test_writer_new_directory_synced (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *first = g_build_filename (dir, "scan", "tile-r000-c000.png", NULL);
  g_autofree char *second = g_build_filename (dir, "scan", "tile-r000-c001.png", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 8, 8, 8);
  g_autoptr(GPtrArray) steps = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  guint synced = 0, renamed = 0;

  em_image_writer_set_test_hook (record_step_cb, steps);
  g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, first, "{}", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_ptr_array_find_with_equal_func (steps, "directory-synced", g_str_equal, &synced));
  g_assert_true (g_ptr_array_find_with_equal_func (steps, "renamed", g_str_equal, &renamed));
  g_assert_cmpuint (synced, <, renamed);

  g_ptr_array_set_size (steps, 0);
  g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, second, "{}", NULL, &error));
  g_assert_no_error (error);
  g_assert_false (g_ptr_array_find_with_equal_func (steps, "directory-synced", g_str_equal, NULL));
  em_image_writer_set_test_hook (NULL, NULL);

  em_test_rmdir (dir);
}

/* a tile scan's directory, its images and sidecars are no more open than the
 * images/ directory the daemon creates (0750) */
static void
test_writer_modes (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *tiles = g_build_filename (dir, "images", "scan", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 4, 4, 4);
  mode_t saved_umask = umask (022);

  for (guint i = 0; i < 2; i++)
    {
      EmImageFormat format = i == 0 ? EM_IMAGE_FORMAT_PNG : EM_IMAGE_FORMAT_TIFF;
      g_autofree char *name = g_strdup_printf ("tile-r000-c00%u.%s", i, em_image_format_to_string (format));
      g_autofree char *path = g_build_filename (tiles, name, NULL);
      g_autofree char *sidecar = em_image_writer_sidecar_path (path);
      g_autoptr(GError) error = NULL;

      g_assert_true (em_image_writer_write (frame, format, path, "{}", NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (file_mode (path), ==, 0640);
      g_assert_cmpuint (file_mode (sidecar), ==, 0640);
    }
  umask (saved_umask);
  g_assert_cmpuint (file_mode (tiles), ==, 0750);
  em_test_rmdir (dir);
}

static void
swept_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gint *removed = user_data;

  *removed = (gint) em_image_dir_sweep_temporaries_finish (result);
}

static void
touch (const char *dir, const char *name, gboolean old)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  struct utimbuf an_hour_ago = { time (NULL) - 3600, time (NULL) - 3600 };

  g_assert_true (g_file_set_contents (path, "x", 1, NULL));
  if (old)
    g_assert_cmpint (g_utime (path, &an_hour_ago), ==, 0);
}

static gboolean
exists (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* a write the service died in the middle of leaves its temporaries; the next
 * start removes those, and only those */
static void
test_writer_sweep_temporaries (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree char *tiles = g_build_filename (dir, "5e1d2c3b-7a6f-4e21-9c0d-1f2e3d4c5b6a", NULL);
  g_autofree char *other = g_build_filename (dir, "scans", NULL);
  g_autofree char *written = g_build_filename (dir, "done.png", NULL);
  g_autoptr(EmFrame) frame = make_frame (EM_PIXEL_FORMAT_GRAY8, 8, 8, 8);
  g_autoptr(GError) error = NULL;
  /* taken before this run's write starts, as the service takes it at startup:
   * taken after, a second that ticks in between would make the write old */
  gint64 start = g_get_real_time () / G_USEC_PER_SEC;
  gint removed = -1;

  g_assert_cmpint (g_mkdir (tiles, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (other, 0755), ==, 0);
  /* left by writes a crash interrupted */
  touch (dir, ".0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Ab12Cd", TRUE);
  touch (dir, "0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.json.Xy34Zw", TRUE);
  touch (tiles, ".tile-r000-c001.tiff.Qw3rTy", TRUE);
  touch (tiles, "tile-r000-c001.json.a1B2c3", TRUE);
  /* a write of this run, still going */
  touch (dir, ".1c7a3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Fr35h1", FALSE);
  /* everything else is somebody's, even when it looks much the same */
  touch (dir, "notes.txt", TRUE);
  touch (dir, ".hidden", TRUE);
  touch (dir, "notes.json.backup", TRUE);
  touch (dir, ".holiday.png.backup", TRUE);
  touch (dir, "0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Ab12Cd", TRUE);
  touch (dir, ".0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.jpg.Ab12Cd", TRUE);
  touch (dir, ".0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Ab12C", TRUE);
  touch (dir, ".tile-r000-c001.png.Ab12Cd", TRUE);
  touch (other, ".tile-r000-c001.png.Ab12Cd", TRUE);
  touch (tiles, "tile-r000-c000.png", TRUE);
  touch (tiles, ".tile-r000-c001-old.png.Ab12Cd", TRUE);
  g_assert_true (em_image_writer_write (frame, EM_IMAGE_FORMAT_PNG, written, "{}", NULL, &error));
  g_assert_no_error (error);

  em_image_dir_sweep_temporaries_async (dir, start, swept_cb, &removed);
  EM_TEST_WAIT_UNTIL (removed >= 0, 10000);

  g_assert_cmpint (removed, ==, 4);
  g_assert_false (exists (dir, ".0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Ab12Cd"));
  g_assert_false (exists (dir, "0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.json.Xy34Zw"));
  g_assert_false (exists (tiles, ".tile-r000-c001.tiff.Qw3rTy"));
  g_assert_false (exists (tiles, "tile-r000-c001.json.a1B2c3"));
  g_assert_true (exists (dir, ".1c7a3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Fr35h1"));
  g_assert_true (exists (dir, "notes.txt"));
  g_assert_true (exists (dir, ".hidden"));
  g_assert_true (exists (dir, "notes.json.backup"));
  g_assert_true (exists (dir, ".holiday.png.backup"));
  g_assert_true (exists (dir, "0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Ab12Cd"));
  g_assert_true (exists (dir, ".0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.jpg.Ab12Cd"));
  g_assert_true (exists (dir, ".0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f.png.Ab12C"));
  g_assert_true (exists (dir, ".tile-r000-c001.png.Ab12Cd"));
  g_assert_true (exists (other, ".tile-r000-c001.png.Ab12Cd"));
  g_assert_true (exists (tiles, "tile-r000-c000.png"));
  g_assert_true (exists (tiles, ".tile-r000-c001-old.png.Ab12Cd"));
  g_assert_true (exists (dir, "done.png"));
  g_assert_true (exists (dir, "done.json"));
  em_test_rmdir (dir);
}

/* a full disk (here: a file size limit) is reported as the system's reason,
 * not the encoder's "Write Error" */
static void
test_writer_disk_full (void)
{
  g_autofree char *dir = em_test_mkdtemp ();
  g_autofree guint8 *pixels = g_malloc (256 * 256 * 2);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(EmFrame) frame = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  struct rlimit saved, limited;
  void (*saved_handler) (int);

  /* noise does not compress: the image cannot fit */
  for (gsize i = 0; i < 256 * 256 * 2; i++)
    pixels[i] = (guint8) g_rand_int (rand);
  bytes = g_bytes_new_take (g_steal_pointer (&pixels), 256 * 256 * 2);
  frame = em_frame_new (EM_PIXEL_FORMAT_GRAY16, 256, 256, 256 * 2, bytes);

  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  limited = saved;
  limited.rlim_cur = 16 * 1024;
  saved_handler = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limited), ==, 0);

  for (guint i = 0; i < 2; i++)
    {
      EmImageFormat format = i == 0 ? EM_IMAGE_FORMAT_PNG : EM_IMAGE_FORMAT_TIFF;
      g_autofree char *name = g_strdup_printf ("frame.%s", em_image_format_to_string (format));
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autoptr(GError) error = NULL;

      g_assert_false (em_image_writer_write (frame, format, path, "{}", NULL, &error));
      g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, name));
      g_assert_nonnull (strstr (error->message, g_strerror (EFBIG)));
      g_assert_cmpuint (count_entries (dir), ==, 0);
    }

  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  signal (SIGXFSZ, saved_handler);
  em_test_rmdir (dir);
}

static void
test_v4l2_control_names (void)
{
  const struct { const char *driver; const char *ours; } names[] = {
    { "Exposure Time, Absolute", "exposure_time_absolute" },
    { "Exposure (Absolute)", "exposure_absolute" },
    { "Auto Exposure", "auto_exposure" },
    { "Gain, Automatic", "gain_automatic" },
    { "  Gain ", "gain" },
  };

  /* as v4l2src spells them in extra-controls */
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *name = em_v4l2_normalise_control_name (names[i].driver);

      g_assert_cmpstr (name, ==, names[i].ours);
    }
}

static void
test_v4l2_control_mapping (void)
{
  g_autoptr(EmV4l2Controls) uvc = em_v4l2_controls_new ();
  g_autoptr(EmV4l2Controls) bare = em_v4l2_controls_new ();
  g_autoptr(EmV4l2Controls) fine = em_v4l2_controls_new ();
  g_autoptr(EmV4l2Controls) coarse = em_v4l2_controls_new ();
  g_autoptr(GstStructure) controls = gst_structure_new_empty ("controls");
  gboolean exposure_applied = FALSE, gain_applied = FALSE;
  gint value = 0;

  /* what a typical UVC microscope camera offers */
  em_v4l2_controls_add (uvc, V4L2_CID_EXPOSURE_AUTO, "Auto Exposure", 0, 3, 1);
  em_v4l2_controls_add (uvc, V4L2_CID_EXPOSURE_ABSOLUTE, "Exposure Time, Absolute", 3, 2047, 1);
  em_v4l2_controls_add (uvc, V4L2_CID_GAIN, "Gain", 0, 100, 1);
  g_assert_cmpstr (em_v4l2_controls_get_name (uvc, V4L2_CID_GAIN), ==, "gain");
  g_assert_null (em_v4l2_controls_get_name (uvc, V4L2_CID_AUTOGAIN));

  em_v4l2_controls_map (uvc, controls, 25.0, 12.0, &exposure_applied, &gain_applied);
  g_assert_true (exposure_applied);
  g_assert_true (gain_applied);
  g_assert_true (gst_structure_get_int (controls, "auto_exposure", &value));
  g_assert_cmpint (value, ==, V4L2_EXPOSURE_MANUAL);
  /* 100 µs units */
  g_assert_true (gst_structure_get_int (controls, "exposure_time_absolute", &value));
  g_assert_cmpint (value, ==, 250);
  g_assert_true (gst_structure_get_int (controls, "gain", &value));
  g_assert_cmpint (value, ==, 12);

  /* out of the driver's range: clamped, and not claimed as applied */
  em_v4l2_controls_map (uvc, controls, 1000.0, 500.0, &exposure_applied, &gain_applied);
  g_assert_false (exposure_applied);
  g_assert_false (gain_applied);
  g_assert_true (gst_structure_get_int (controls, "exposure_time_absolute", &value));
  g_assert_cmpint (value, ==, 2047);
  g_assert_true (gst_structure_get_int (controls, "gain", &value));
  g_assert_cmpint (value, ==, 100);
  /* past any 64-bit integer: still the control's maximum, not its minimum */
  em_v4l2_controls_map (uvc, controls, 1000.0, 1e300, &exposure_applied, &gain_applied);
  g_assert_false (gain_applied);
  g_assert_true (gst_structure_get_int (controls, "gain", &value));
  g_assert_cmpint (value, ==, 100);

  /* shorter than the driver's 100 µs unit: it exposes one unit, more than
   * was asked for, and does not claim otherwise */
  em_v4l2_controls_add (fine, V4L2_CID_EXPOSURE_ABSOLUTE, "Exposure Time, Absolute", 1, 10000, 1);
  em_v4l2_controls_map (fine, controls, 0.02, 0.0, &exposure_applied, &gain_applied);
  g_assert_false (exposure_applied);
  g_assert_true (gst_structure_get_int (controls, "exposure_time_absolute", &value));
  g_assert_cmpint (value, ==, 1);
  em_v4l2_controls_map (fine, controls, 0.1, 0.0, &exposure_applied, &gain_applied);
  g_assert_true (exposure_applied);

  /* between the driver's steps: rounded, and not claimed as applied either */
  em_v4l2_controls_map (uvc, controls, 10.04, 2.4, &exposure_applied, &gain_applied);
  g_assert_false (exposure_applied);
  g_assert_false (gain_applied);
  g_assert_true (gst_structure_get_int (controls, "exposure_time_absolute", &value));
  g_assert_cmpint (value, ==, 100);
  g_assert_true (gst_structure_get_int (controls, "gain", &value));
  g_assert_cmpint (value, ==, 2);
  /* what decimal fractions become in binary is not rounding */
  em_v4l2_controls_map (uvc, controls, 0.3, 3.0, &exposure_applied, &gain_applied);
  g_assert_true (exposure_applied);
  g_assert_true (gain_applied);

  /* a gain in steps of 4 from 2 and an exposure in steps of 5 units (500 µs):
   * what is not on a step is set to the nearest one, as the driver would,
   * and not claimed as applied */
  em_v4l2_controls_add (coarse, V4L2_CID_EXPOSURE_ABSOLUTE, "Exposure Time, Absolute", 5, 1000, 5);
  em_v4l2_controls_add (coarse, V4L2_CID_GAIN, "Gain", 2, 31, 4);
  em_v4l2_controls_map (coarse, controls, 10.0, 10.0, &exposure_applied, &gain_applied);
  g_assert_true (exposure_applied);
  g_assert_true (gain_applied);
  em_v4l2_controls_map (coarse, controls, 10.2, 11.0, &exposure_applied, &gain_applied);
  g_assert_false (exposure_applied);
  g_assert_false (gain_applied);
  g_assert_true (gst_structure_get_int (controls, "exposure_time_absolute", &value));
  g_assert_cmpint (value, ==, 100);
  g_assert_true (gst_structure_get_int (controls, "gain", &value));
  g_assert_cmpint (value, ==, 10);
  em_v4l2_controls_map (coarse, controls, 10.3, 12.0, &exposure_applied, &gain_applied);
  g_assert_true (gst_structure_get_int (controls, "exposure_time_absolute", &value));
  g_assert_cmpint (value, ==, 105);
  g_assert_true (gst_structure_get_int (controls, "gain", &value));
  g_assert_cmpint (value, ==, 14);
  /* the top step, not one past the maximum */
  em_v4l2_controls_map (coarse, controls, 10.0, 500.0, &exposure_applied, &gain_applied);
  g_assert_false (gain_applied);
  g_assert_true (gst_structure_get_int (controls, "gain", &value));
  g_assert_cmpint (value, ==, 30);

  /* a driver without these controls: nothing set, nothing applied */
  gst_structure_remove_all_fields (controls);
  em_v4l2_controls_map (bare, controls, 25.0, 1.0, &exposure_applied, &gain_applied);
  g_assert_false (exposure_applied);
  g_assert_false (gain_applied);
  g_assert_cmpint (gst_structure_n_fields (controls), ==, 0);
}

static void
test_default_source (void)
{
  g_autoptr(EmCamera) camera = em_gst_camera_new (NULL, 160, 120);
  g_autoptr(GstElement) source = wait_for_source (camera);
  Run run;

  /* the simulated microscope, registered by the camera itself */
  g_assert_cmpstr (em_gst_camera_get_source_description (EM_GST_CAMERA (camera)), ==, EM_GST_CAMERA_DEFAULT_SOURCE);
  g_assert_true (EM_IS_SIM_SRC (source));
  capture (camera, 5.0, NULL, &run);
  g_assert_no_error (run.error);
  g_assert_cmpuint (em_frame_get_bit_depth (run.frame), ==, 16);
  run_clear (&run);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  em_test_gate_src_register ();

  g_test_add_func ("/camera/capture/png", test_capture_png);
  g_test_add_func ("/camera/switch-source", test_switch_source);
  g_test_add_func ("/camera/capture/tiff", test_capture_tiff);
  g_test_add_func ("/camera/capture/exposure", test_capture_exposure);
  g_test_add_func ("/camera/capture/large-frame-takes-longer", test_large_frame_takes_longer);
  g_test_add_func ("/camera/capture/metadata-numbers", test_capture_metadata_numbers);
  g_test_add_func ("/camera/capture/next-frame", test_capture_next_frame);
  g_test_add_func ("/camera/capture/cancel", test_capture_cancel);
  g_test_add_func ("/camera/capture/action-cancel", test_capture_action_cancel);
  g_test_add_func ("/camera/capture/cancel-after-rename", test_capture_cancel_after_rename);
  g_test_add_func ("/camera/capture/busy", test_capture_busy);
  g_test_add_func ("/camera/capture/bad-settings", test_capture_bad_settings);
  g_test_add_func ("/camera/capture/bad-settings-locale", test_capture_bad_settings_locale);
  g_test_add_func ("/camera/error/broken-pipeline-recovers", test_broken_pipeline_recovers);
  g_test_add_func ("/camera/error/bad-description", test_bad_description);
  g_test_add_func ("/camera/switch-source-slow-to-build", test_switch_source_slow_to_build);
  g_test_add_func ("/camera/error/device-comes-back", test_device_comes_back);
  g_test_add_func ("/camera/start/slow-open-keeps-loop-free", test_slow_start_keeps_loop_free);
  g_test_add_func ("/camera/stop/stuck-source-keeps-loop-free", test_stuck_stop_keeps_loop_free);
  g_test_add_func ("/camera/controls/slow-apply-keeps-loop-free", test_slow_controls_keep_loop_free);
  g_test_add_func ("/camera/controls/cancel-while-applying", test_cancel_while_applying);
  g_test_add_func ("/camera/controls/aravis-gain-clamped", test_aravis_gain_clamped);
  g_test_add_func ("/camera/controls/error-while-applying", test_error_while_applying);
  g_test_add_func ("/camera/writer/png-roundtrip", test_writer_png_roundtrip);
  g_test_add_func ("/camera/writer/tiff16-roundtrip", test_writer_tiff16_roundtrip);
  g_test_add_func ("/camera/writer/failure", test_writer_failure);
  g_test_add_func ("/camera/writer/failure-leaves-nothing", test_writer_failure_leaves_nothing);
  g_test_add_func ("/camera/writer/sidecar-is-directory", test_writer_sidecar_is_directory);
  g_test_add_func ("/camera/writer/cancelled-leaves-nothing", test_writer_cancelled_leaves_nothing);
  g_test_add_func ("/camera/writer/disk-full", test_writer_disk_full);
  g_test_add_func ("/camera/writer/failed-rewrite-keeps-pair", test_writer_failed_rewrite_keeps_pair);
  g_test_add_func ("/camera/writer/sweep-temporaries", test_writer_sweep_temporaries);
  g_test_add_func ("/camera/writer/cancel-before-rename-keeps-pair", test_writer_cancel_before_rename_keeps_pair);
  g_test_add_func ("/camera/writer/rename-failure-keeps-sidecar", test_writer_rename_failure_keeps_sidecar);
  g_test_add_func ("/camera/writer/no-exchange-rewrite", test_writer_no_exchange_rewrite);
  g_test_add_func ("/camera/writer/no-exchange-rename-failure-keeps-sidecar",
                   test_writer_no_exchange_rename_failure_keeps_sidecar);
  g_test_add_func ("/camera/writer/modes", test_writer_modes);
  g_test_add_func ("/camera/writer/new-directory-synced", test_writer_new_directory_synced);
  g_test_add_func ("/camera/capture/cancel-after-replacing-keeps-pair",
                   test_capture_cancel_after_replacing_keeps_pair);
  g_test_add_func ("/camera/v4l2/control-names", test_v4l2_control_names);
  g_test_add_func ("/camera/v4l2/control-mapping", test_v4l2_control_mapping);
  g_test_add_func ("/camera/default-source", test_default_source);

  ret = g_test_run ();
  /* lets valgrind tell GStreamer's process-wide state from our leaks */
  gst_deinit ();
  return ret;
}
