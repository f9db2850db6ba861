/* camera-bench: capture latency, from scheduling a capture_image task to its
 * task-completed signal (the image and its sidecar written), with the camera's
 * live pipeline and with a pipeline built for each capture, in the same run;
 * the same for the camera alone (request to frame); then the time an autofocus
 * task takes on the simulated microscope, and how close it lands.
 *
 *   camera-bench [--captures N] [--autofocus N] [--exposure MS]
 *                [--width W] [--height H] [--source DESC]
 */

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-src.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"

/* a camera that builds a fresh pipeline for every capture and drops it after:
 * what a service without a live pipeline would do */
#define BENCH_TYPE_FRESH_CAMERA (bench_fresh_camera_get_type ())
G_DECLARE_FINAL_TYPE (BenchFreshCamera, bench_fresh_camera, BENCH, FRESH_CAMERA, EmCamera)

struct _BenchFreshCamera
{
  EmCamera  parent_instance;
  char     *description;
  guint     width;
  guint     height;
  EmStage  *stage;
  EmFocus  *focus;
};

G_DEFINE_FINAL_TYPE (BenchFreshCamera, bench_fresh_camera, EM_TYPE_CAMERA)

static void
fresh_captured_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  EmFrame *frame = em_camera_capture_finish (EM_CAMERA (source), result, &error);

  /* the pipeline goes with the camera, when the task lets go of it */
  if (frame == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, frame, (GDestroyNotify) em_frame_unref);
}

static void
bench_fresh_camera_capture_async (EmCamera            *camera,
                                  gdouble              exposure_ms,
                                  gdouble              gain,
                                  GCancellable        *cancellable,
                                  EmProgressFunc       progress,
                                  gpointer             progress_data,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  BenchFreshCamera *self = BENCH_FRESH_CAMERA (camera);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(EmCamera) inner = em_gst_camera_new (self->description, self->width, self->height);

  em_camera_attach_devices (inner, self->stage, self->focus);
  g_task_set_task_data (task, g_object_ref (inner), g_object_unref);
  em_camera_capture_async (inner, exposure_ms, gain, cancellable, progress, progress_data,
                           fresh_captured_cb, g_steal_pointer (&task));
}

static EmFrame *
bench_fresh_camera_capture_finish (EmCamera *camera, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
bench_fresh_camera_attach_devices (EmCamera *camera, EmStage *stage, EmFocus *focus)
{
  BenchFreshCamera *self = BENCH_FRESH_CAMERA (camera);

  g_set_object (&self->stage, stage);
  g_set_object (&self->focus, focus);
}

static void
bench_fresh_camera_finalize (GObject *object)
{
  BenchFreshCamera *self = BENCH_FRESH_CAMERA (object);

  g_free (self->description);
  g_clear_object (&self->stage);
  g_clear_object (&self->focus);
  G_OBJECT_CLASS (bench_fresh_camera_parent_class)->finalize (object);
}

static void
bench_fresh_camera_class_init (BenchFreshCameraClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = bench_fresh_camera_finalize;
  EM_CAMERA_CLASS (klass)->capture_async = bench_fresh_camera_capture_async;
  EM_CAMERA_CLASS (klass)->capture_finish = bench_fresh_camera_capture_finish;
  EM_CAMERA_CLASS (klass)->attach_devices = bench_fresh_camera_attach_devices;
}

static void
bench_fresh_camera_init (BenchFreshCamera *self)
{
}

typedef struct
{
  EmEngineManager *manager;
  char            *waiting_for;
  gboolean         done;
  gboolean         failed;
  gint64           finished_us;
} Bench;

static void
task_finished_cb (EmEngineManager *manager, EmTask *task, gpointer user_data)
{
  Bench *bench = user_data;

  if (g_strcmp0 (em_task_get_id (task), bench->waiting_for) != 0)
    return;
  bench->finished_us = g_get_monotonic_time ();
  bench->done = TRUE;
}

static void
task_failed_cb (EmEngineManager *manager, EmTask *task, gpointer user_data)
{
  Bench *bench = user_data;

  if (g_strcmp0 (em_task_get_id (task), bench->waiting_for) != 0)
    return;
  g_printerr ("task %s failed: %s\n", em_task_get_id (task), em_task_get_error (task));
  bench->failed = TRUE;
  bench->done = TRUE;
}

/* schedules one task and runs the loop until it completes; the latency in ms */
static gdouble
run_task (Bench *bench, const char *action, const char *parameters_json, JsonObject **out_result)
{
  g_autoptr(JsonNode) parameters = json_from_string (parameters_json, NULL);
  g_autoptr(GError) error = NULL;
  EmTaskSpec *spec = em_task_spec_new ("bench", action, json_node_get_object (parameters));
  gint64 started_us = g_get_monotonic_time ();
  EmTask *task = em_engine_manager_schedule_task (bench->manager, spec, &error);

  em_task_spec_free (spec);
  if (task == NULL)
    {
      g_printerr ("cannot schedule %s: %s\n", action, error->message);
      exit (1);
    }
  g_free (bench->waiting_for);
  bench->waiting_for = g_strdup (em_task_get_id (task));
  bench->done = bench->failed = FALSE;
  while (!bench->done)
    g_main_context_iteration (NULL, TRUE);
  if (bench->failed)
    exit (1);
  if (out_result != NULL)
    *out_result = json_object_ref (em_task_get_result (task));
  return (bench->finished_us - started_us) / 1000.0;
}

static void
frame_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EmFrame) frame = em_camera_capture_finish (EM_CAMERA (source), result, NULL);

  *(gint64 *) user_data = frame != NULL ? g_get_monotonic_time () : -1;
}

/* the camera alone: request → frame on the main loop, no task, no file */
static GArray *
measure_frames (EmCamera *camera, guint n, gdouble exposure_ms)
{
  GArray *latencies = g_array_new (FALSE, FALSE, sizeof (gdouble));

  for (guint i = 0; i <= n; i++)
    {
      gint64 started_us = g_get_monotonic_time ();
      gint64 finished_us = 0;
      gdouble ms;

      em_camera_capture_async (camera, exposure_ms, 0.0, NULL, NULL, NULL, frame_cb, &finished_us);
      while (finished_us == 0)
        g_main_context_iteration (NULL, TRUE);
      if (finished_us < 0)
        exit (1);
      ms = (finished_us - started_us) / 1000.0;
      /* the first one warms up */
      if (i > 0)
        g_array_append_val (latencies, ms);
    }
  return latencies;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return (x > y) - (x < y);
}

static void
report (const char *label, GArray *values, const char *unit)
{
  /* misses are small: more digits */
  int digits = g_str_equal (unit, "ms") ? 1 : 3;
  gdouble sum = 0.0;

  g_array_sort (values, compare_doubles);
  for (guint i = 0; i < values->len; i++)
    sum += g_array_index (values, gdouble, i);

  printf ("%-36s n=%-3u median %9.*f  mean %9.*f  p95 %9.*f  min %9.*f  max %9.*f %s\n",
          label, values->len,
          digits, g_array_index (values, gdouble, values->len / 2),
          digits, sum / values->len,
          digits, g_array_index (values, gdouble, MIN (values->len - 1, (guint) ceil (values->len * 0.95) - 1)),
          digits, g_array_index (values, gdouble, 0),
          digits, g_array_index (values, gdouble, values->len - 1),
          unit);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static EmEngineManager *
make_manager (EmCamera *camera, EmStage *stage, EmFocus *focus, const char *data_dir)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);

  em_builtin_actions_register (registry);
  return em_engine_manager_new (registry, devices, data_dir);
}

static GArray *
measure_captures (Bench *bench, guint n, gdouble exposure_ms)
{
  GArray *latencies = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autofree char *parameters = g_strdup_printf ("{\"exposure\": %g}", exposure_ms);

  /* in focus, as a user would image: the focus drive starts far below the slide */
  run_task (bench, "adjust_focus", "{\"position\": " G_STRINGIFY (EM_SIM_DEFAULT_FOCAL_PLANE) ", \"speed\": 10000}", NULL);

  /* one warm-up capture, not counted */
  run_task (bench, "capture_image", parameters, NULL);
  for (guint i = 0; i < n; i++)
    {
      gdouble ms = run_task (bench, "capture_image", parameters, NULL);

      g_array_append_val (latencies, ms);
    }
  return latencies;
}

int
main (int argc, char **argv)
{
  gint captures = 30;
  gint autofocus_runs = 6;
  gdouble exposure_ms = 1.0;
  gint width = 640;
  gint height = 480;
  g_autofree char *source = NULL;
  GOptionEntry entries[] = {
    { "captures", 0, 0, G_OPTION_ARG_INT, &captures, "Captures per mode", "N" },
    { "autofocus", 0, 0, G_OPTION_ARG_INT, &autofocus_runs, "Autofocus runs", "N" },
    { "exposure", 0, 0, G_OPTION_ARG_DOUBLE, &exposure_ms, "Exposure per capture", "MS" },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "Frame width", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "Frame height", "H" },
    { "source", 0, 0, G_OPTION_ARG_STRING, &source, "Camera source description", "DESC" },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = NULL;
  g_autoptr(EmStage) stage = NULL;
  g_autoptr(EmFocus) focus = NULL;
  g_autoptr(GArray) live = NULL;
  g_autoptr(GArray) fresh = NULL;
  g_autoptr(GArray) live_frames = NULL;
  g_autoptr(GArray) fresh_frames = NULL;
  g_autoptr(GArray) focus_times = NULL;
  g_autoptr(GArray) focus_errors = NULL;
  Bench bench = { 0 };

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (source == NULL)
    source = g_strdup (EM_GST_CAMERA_DEFAULT_SOURCE);
  data_dir = g_dir_make_tmp ("camera-bench-XXXXXX", &error);
  g_assert_no_error (error);

  stage = em_sim_stage_new ();
  focus = em_sim_focus_new ();
  g_print ("camera-bench: %s, %d×%d, exposure %g ms, request → task-completed\n",
           source, width, height, exposure_ms);

  /* the live pipeline: built once, kept PLAYING */
  {
    g_autoptr(EmCamera) camera = em_gst_camera_new (source, width, height);

    bench.manager = make_manager (camera, stage, focus, data_dir);
    g_signal_connect (bench.manager, "task-completed", G_CALLBACK (task_finished_cb), &bench);
    g_signal_connect (bench.manager, "task-failed", G_CALLBACK (task_failed_cb), &bench);
    live = measure_captures (&bench, captures, exposure_ms);
    live_frames = measure_frames (camera, captures, exposure_ms);

    /* autofocus, alternately from below and above the focal plane */
    if (autofocus_runs > 0)
      {
        g_autoptr(GstElement) element = em_gst_camera_get_source (EM_GST_CAMERA (camera));
        EmSimSpecimen specimen;
        gdouble plane;

        if (!EM_IS_SIM_SRC (element))
          {
            g_printerr ("autofocus timing needs the simulated microscope (emsimsrc)\n");
            return 1;
          }
        em_sim_src_get_specimen (EM_SIM_SRC (element), &specimen);
        plane = em_sim_specimen_focal_plane (&specimen, 0.0, 0.0);
        focus_times = g_array_new (FALSE, FALSE, sizeof (gdouble));
        focus_errors = g_array_new (FALSE, FALSE, sizeof (gdouble));
        for (gint i = 0; i < autofocus_runs; i++)
          {
            g_autofree char *parameters = NULL;
            g_autoptr(JsonObject) result = NULL;
            gdouble start = plane + (i % 2 == 0 ? -12.0 : 12.0);
            gdouble ms, miss;

            parameters = g_strdup_printf ("{\"position\": %g, \"speed\": 10000}", start);
            run_task (&bench, "adjust_focus", parameters, NULL);
            ms = run_task (&bench, "autofocus",
                           "{\"range\": 40, \"coarse_step\": 4, \"tolerance\": 0.5, \"exposure\": 5}", &result);
            miss = fabs (json_object_get_double_member (result, "best_position") - plane);
            g_array_append_val (focus_times, ms);
            g_array_append_val (focus_errors, miss);
          }
      }
    g_clear_object (&bench.manager);
  }

  /* a pipeline built (and torn down) for every capture */
  {
    g_autoptr(BenchFreshCamera) camera = g_object_new (BENCH_TYPE_FRESH_CAMERA, NULL);

    camera->description = g_strdup (source);
    camera->width = width;
    camera->height = height;
    bench.manager = make_manager (EM_CAMERA (camera), stage, focus, data_dir);
    g_signal_connect (bench.manager, "task-completed", G_CALLBACK (task_finished_cb), &bench);
    g_signal_connect (bench.manager, "task-failed", G_CALLBACK (task_failed_cb), &bench);
    fresh = measure_captures (&bench, captures, exposure_ms);
    fresh_frames = measure_frames (EM_CAMERA (camera), captures, exposure_ms);
    g_clear_object (&bench.manager);
  }

  report ("capture task, live pipeline", live, "ms");
  report ("capture task, pipeline per capture", fresh, "ms");
  report ("frame only, live pipeline", live_frames, "ms");
  report ("frame only, pipeline per capture", fresh_frames, "ms");
  if (focus_times != NULL)
    {
      report ("autofocus (40 µm, 4 µm, 0.5 µm)", focus_times, "ms");
      report ("autofocus miss", focus_errors, "µm");
    }

  g_free (bench.waiting_for);
  /* the images are throwaway */
  remove_tree (data_dir);
  gst_deinit ();
  return 0;
}
