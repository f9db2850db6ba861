#include "config.h"

#include <math.h>
#include <string.h>

#include <gst/gst.h>

#include "actions/em-autofocus-action.h"
#include "actions/em-autofocus.h"
#include "actions/em-builtin-actions.h"
#include "actions/em-focus-metric.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"
#include "engine/em-task-spec.h"
#include "em-test-schedule.h"
#include "em-test-scope.h"
#include "em-test-util.h"

/* the focus metrics, and the autofocus action on the simulated microscope */

#define WIDTH  160
#define HEIGHT 120

static EmFrame *
pattern_frame (gboolean sharp)
{
  guint8 *pixels = g_malloc (64 * 64);
  g_autoptr(GBytes) bytes = NULL;

  for (guint j = 0; j < 64; j++)
    for (guint i = 0; i < 64; i++)
      {
        /* a checkerboard, or the same with its edges smoothed */
        guint phase_i = i % 8, phase_j = j % 8;
        gboolean on = (i / 8 + j / 8) % 2 == 0;
        gdouble value = on ? 200.0 : 50.0;

        if (!sharp && (phase_i == 0 || phase_i == 7 || phase_j == 0 || phase_j == 7))
          value = 125.0;
        pixels[j * 64 + i] = (guint8) value;
      }
  bytes = g_bytes_new_take (pixels, 64 * 64);
  return em_frame_new (EM_PIXEL_FORMAT_GRAY8, 64, 64, 64, bytes);
}

static void
test_metrics (void)
{
  g_autoptr(EmFrame) sharp = pattern_frame (TRUE);
  g_autoptr(EmFrame) soft = pattern_frame (FALSE);
  g_autoptr(EmFrame) flat = NULL;
  EmFocusMetric metric;

  {
    g_autoptr(GBytes) bytes = g_bytes_new_take (g_malloc0 (32 * 32 * 2), 32 * 32 * 2);

    flat = em_frame_new (EM_PIXEL_FORMAT_GRAY16, 32, 32, 64, bytes);
  }

  g_assert_true (em_focus_metric_from_string ("laplacian", &metric));
  g_assert_cmpint (metric, ==, EM_FOCUS_METRIC_LAPLACIAN);
  g_assert_true (em_focus_metric_from_string ("brenner", &metric));
  g_assert_cmpint (metric, ==, EM_FOCUS_METRIC_BRENNER);
  g_assert_false (em_focus_metric_from_string ("tenengrad", &metric));

  for (metric = EM_FOCUS_METRIC_LAPLACIAN; metric <= EM_FOCUS_METRIC_BRENNER; metric++)
    {
      g_assert_cmpfloat (em_focus_metric_compute (metric, flat), ==, 0.0);
      g_assert_cmpfloat (em_focus_metric_compute (metric, sharp), >,
                         em_focus_metric_compute (metric, soft));
      g_assert_cmpfloat (em_focus_metric_compute (metric, soft), >, 0.0);
    }
}

static void
assert_rising (GArray *progress)
{
  g_assert_cmpuint (progress->len, >=, 3);
  for (guint i = 1; i < progress->len; i++)
    g_assert_cmpfloat (g_array_index (progress, gdouble, i), >=, g_array_index (progress, gdouble, i - 1));
  g_assert_cmpfloat (g_array_index (progress, gdouble, progress->len - 1), ==, 1.0);
}

/* from @offset µm off the focal plane, with the search centred on the start */
static void
converge (gdouble offset, const char *metric)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(GArray) progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  gdouble plane, best;
  JsonArray *curve;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  /* off the origin, where the tilted slide is sharp at another height */
  em_test_scope_move_stage (&scope, 300.0, -200.0);
  plane = em_test_scope_focal_plane (&scope, 300.0, -200.0);
  em_test_scope_move_focus (&scope, plane + offset);

  json = g_strdup_printf ("{\"range\": 40, \"coarse_step\": 4, \"tolerance\": 0.5, \"metric\": \"%s\"}", metric);
  result = em_test_scope_run_action (&scope, action, "af", json, 2.0, progress, &error);
  g_assert_no_error (error);

  best = json_object_get_double_member (result, "best_position");
  g_test_message ("%s from %+g µm: best %.3f µm, true plane %.3f µm, %" G_GINT64_FORMAT " frames",
                  metric, offset, best, plane, json_object_get_int_member (result, "samples"));
  g_assert_cmpfloat (fabs (best - plane), <, 1.0);
  /* the focus is left there */
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, best);
  g_assert_cmpstr (json_object_get_string_member (result, "metric"), ==, metric);
  g_assert_cmpfloat (json_object_get_double_member (result, "start_position"), ==, plane + offset);

  /* the curve: every frame, in order of position, peaking near the plane */
  curve = json_object_get_array_member (result, "curve");
  g_assert_cmpuint (json_array_get_length (curve), ==, json_object_get_int_member (result, "samples"));
  g_assert_cmpuint (json_array_get_length (curve), >=, 11);
  for (guint i = 1; i < json_array_get_length (curve); i++)
    g_assert_cmpfloat (json_object_get_double_member (json_array_get_object_element (curve, i), "position"), >,
                       json_object_get_double_member (json_array_get_object_element (curve, i - 1), "position"));

  assert_rising (progress);
  em_test_scope_clear (&scope);
}

static void
test_from_below (void)
{
  converge (-12.0, "laplacian");
}

static void
test_from_above (void)
{
  converge (12.0, "laplacian");
}

static void
test_brenner_from_below (void)
{
  converge (-9.0, "brenner");
}

static void
test_brenner_from_above (void)
{
  converge (9.0, "brenner");
}

static void
test_center_and_travel (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *range;
  gdouble plane;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  plane = em_test_scope_focal_plane (&scope, 0.0, 0.0);

  /* an explicit centre: the focus starts far away, at 0 */
  result = em_test_scope_run_action (&scope, action, "af", "{\"center\": 98, \"range\": 16}", 2.0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (fabs (json_object_get_double_member (result, "best_position") - plane), <, 1.0);
  range = json_object_get_object_member (result, "range");
  g_assert_cmpfloat (json_object_get_double_member (range, "min"), ==, 90.0);
  g_assert_cmpfloat (json_object_get_double_member (range, "max"), ==, 106.0);
  g_clear_pointer (&result, json_object_unref);

  /* a search past the end of the travel is clipped to it; 100 µm off the
   * plane, that range has no peak to find */
  result = em_test_scope_run_action (&scope, action, "af", "{\"center\": 2, \"range\": 8}", 2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "no contrast: over the scores from 0 to 6 µm"));
  g_clear_error (&error);

  /* and one entirely outside it fails */
  result = em_test_scope_run_action (&scope, action, "af", "{\"center\": -100, \"range\": 8}", 2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_clear_error (&error);

  /* a hair past the top of the travel: the message shows the hair, not a
   * range that starts where the travel ends */
  result = em_test_scope_run_action (&scope, action, "af", "{\"center\": 10004.0001, \"range\": 8}", 2.0,
                                     NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "10000.0001 to 10008.0001 µm"));
  g_clear_error (&error);

  /* the same at submission: a step a hair longer than the range */
  g_assert_false (em_autofocus_check_search (10.0, 10.0000001, 0.5, "range", "coarse_step", "tolerance",
                                             &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "(10.0000001 µm)"));
  g_clear_error (&error);

  /* the limit counts steps: 1000 steps over the range are 1001 frames */
  g_assert_true (em_autofocus_check_search (1000.0, 1.0, 0.5, "range", "coarse_step", "tolerance", NULL));
  g_assert_false (em_autofocus_check_search (1001.0, 1.0, 0.5, "range", "coarse_step", "tolerance", &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s", error->message);
  g_assert_cmpstr (error->message, ==,
                   "parameters.coarse_step (1 µm) makes more than 1000 steps over parameters.range (1001 µm)");

  em_test_scope_clear (&scope);
}

static void
test_cancel (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(GArray) progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  gdouble plane;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  plane = em_test_scope_focal_plane (&scope, 0.0, 0.0);
  em_test_scope_move_focus (&scope, plane - 10.0);

  /* cancelled part-way through the coarse sweep */
  result = em_test_scope_run_action (&scope, action, "af", "{\"range\": 40, \"coarse_step\": 4}",
                                     0.25, progress, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpfloat (g_array_index (progress, gdouble, progress->len - 1), <, 0.5);
  /* nothing keeps running */
  g_assert_false (em_focus_is_moving (scope.focus));
  g_assert_false (em_camera_is_capturing (scope.camera));
  em_test_run_for (100);
  g_assert_false (em_focus_is_moving (scope.focus));

  /* and the devices work for the next run */
  g_clear_error (&error);
  result = em_test_scope_run_action (&scope, action, "af", "{\"range\": 30, \"coarse_step\": 5}", 2.0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (fabs (json_object_get_double_member (result, "best_position") - plane), <, 1.0);

  em_test_scope_clear (&scope);
}

/* a black field has no peak: the task fails and the focus goes back */
/* the scores of a no-contrast message in three significant digits, as a
 * person reads them. Old: 0.00014128797694864693 */
static void
assert_scores_short (const char *message)
{
  g_autoptr(GRegex) regex = g_regex_new ("µm \\(([0-9.e+-]+) to ([0-9.e+-]+)\\)", 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;

  g_assert_true (g_regex_match (regex, message, 0, &match));
  for (guint group = 1; group <= 2; group++)
    {
      g_autofree char *score = g_match_info_fetch (match, group);
      const char *digit = score;
      guint significant = 0;

      while (*digit == '0' || *digit == '.')
        digit++;
      for (; *digit != '\0' && *digit != 'e'; digit++)
        significant += g_ascii_isdigit (*digit);
      g_assert_cmpuint (significant, <=, 3);
    }
}

static void
test_no_contrast (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;

  em_test_scope_init (&scope, "videotestsrc is-live=true pattern=black", WIDTH, HEIGHT);
  em_test_scope_move_focus (&scope, 50.0);

  result = em_test_scope_run_action (&scope, action, "af", "{\"range\": 20, \"coarse_step\": 5}",
                                     2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "no contrast"));
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, 50.0);
  g_assert_false (em_focus_is_moving (scope.focus));

  em_test_scope_clear (&scope);
}

/* a picture the focus does not change scores the same everywhere, not 0: the
 * message gives that score with every digit it takes, whatever the locale */
static void
test_no_contrast_score (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EmFrame) frame = NULL;
  char expected[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree char *scored = NULL;
  gdouble score;

  em_test_scope_init (&scope, "videotestsrc is-live=true pattern=pinwheel", WIDTH, HEIGHT);
  frame = em_test_scope_capture (&scope, 1.0, 0.0);
  score = em_focus_metric_compute (EM_FOCUS_METRIC_LAPLACIAN, frame);
  g_assert_cmpfloat (score, >, 0.0);

  result = em_test_scope_run_action (&scope, action, "af",
                                     "{\"range\": 20, \"coarse_step\": 5, \"exposure\": 1, \"metric\": \"laplacian\"}",
                                     2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  scored = g_strdup_printf ("scored %s;", em_json_format_double (expected, score));
  g_assert_nonnull (strstr (error->message, scored));

  em_test_scope_clear (&scope);
}

/* far off the focal plane every frame is blurred alike and the scores differ
 * only by the camera's noise: the task fails rather than pick a position by
 * chance, and the focus goes back */
static void
far_off (guint width, guint height, gdouble start, const char *json)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;

  em_test_scope_init (&scope, NULL, width, height);
  g_assert_cmpfloat (fabs (start - em_test_scope_focal_plane (&scope, 0.0, 0.0)), >, 60.0);
  em_test_scope_move_focus (&scope, start);

  result = em_test_scope_run_action (&scope, action, "af", json, 2.0, NULL, &error);
  if (result != NULL)
    g_test_message ("landed at %g µm", json_object_get_double_member (result, "best_position"));
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "Autofocus found no contrast: over the scores from "));
  g_assert_nonnull (strstr (error->message, "times the camera's noise above the rest where 5 are needed"));
  assert_scores_short (error->message);
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, start);
  g_assert_false (em_focus_is_moving (scope.focus));

  em_test_scope_clear (&scope);
}

static void
test_far_off (void)
{
  /* the defaults from 0 µm, the plane at 100 */
  far_off (WIDTH, HEIGHT, 0.0, "{}");
  far_off (WIDTH, HEIGHT, 200.0, "{\"exposure\": 2}");
  far_off (64, 48, 30.0, "{\"range\": 20, \"metric\": \"brenner\"}");
  far_off (WIDTH, HEIGHT, 170.0, "{\"range\": 8, \"exposure\": 50}");
}

/* a real peak is found with dim or small frames, where the noise is larger */
static void
weak_peak (guint width, guint height, gdouble offset, const char *json)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  gdouble plane, best;

  em_test_scope_init (&scope, NULL, width, height);
  plane = em_test_scope_focal_plane (&scope, 0.0, 0.0);
  em_test_scope_move_focus (&scope, plane + offset);

  result = em_test_scope_run_action (&scope, action, "af", json, 2.0, NULL, &error);
  g_assert_no_error (error);
  best = json_object_get_double_member (result, "best_position");
  g_test_message ("%ux%u %s from %+g µm: best %.3f µm, plane %.3f µm", width, height, json, offset, best, plane);
  g_assert_cmpfloat (fabs (best - plane), <, 1.0);
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, best);

  em_test_scope_clear (&scope);
}

static void
test_weak_peak (void)
{
  weak_peak (WIDTH, HEIGHT, 9.0, "{\"exposure\": 5}");
  weak_peak (WIDTH, HEIGHT, -13.0, "{\"exposure\": 5}");
  weak_peak (64, 48, 1.0, "{\"range\": 8}");
  weak_peak (64, 48, -6.0, "{\"range\": 20, \"exposure\": 20}");
  /* as README says: the Brenner gradient copes with frames too dim for the Laplacian */
  weak_peak (64, 48, 7.0, "{\"exposure\": 1, \"metric\": \"brenner\"}");
  weak_peak (WIDTH, HEIGHT, -11.0, "{\"exposure\": 1, \"metric\": \"brenner\"}");
}

/* a range the focus travel clips to one position, or to positions closer
 * than the tolerance, has nothing to compare: the task fails before moving,
 * naming the clipped range, rather than report a focus it never judged */
static void
clipped (const char *json, const char *expected)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(GArray) progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  em_test_scope_move_focus (&scope, 9990.0);

  result = em_test_scope_run_action (&scope, action, "af", json, 2.0, progress, &error);
  if (result != NULL)
    g_test_message ("%s: landed at %g µm", json, json_object_get_double_member (result, "best_position"));
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, expected));
  g_assert_nonnull (strstr (error->message, "move the center or widen the range; the focus is still at 9990 µm"));
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, 9990.0);
  g_assert_false (em_focus_is_moving (scope.focus));
  g_assert_false (em_camera_is_capturing (scope.camera));

  em_test_scope_clear (&scope);
}

static void
test_clipped_to_one_position (void)
{
  /* the centre past the top of the travel by half the range */
  clipped ("{\"center\": 10004, \"range\": 8}",
           "The autofocus range of 8 µm around the center 10004 µm leaves one position inside the "
           "focus travel (0 to 10000 µm), 10000 µm, and one frame has no other to compare");
  /* a range narrower than the tolerance once clipped */
  clipped ("{\"center\": 10003.9, \"range\": 8}",
           "The autofocus range of 8 µm around the center 10003.9 µm leaves 9999.9 to 10000 µm inside the "
           "focus travel (0 to 10000 µm), narrower than the tolerance of 0.5 µm");
  clipped ("{\"center\": 10000, \"range\": 0.8, \"coarse_step\": 0.8}",
           "leaves 9999.6 to 10000 µm inside the focus travel (0 to 10000 µm), narrower than the tolerance of 0.5 µm");
}

/* min_contrast sets how far the peak must stand out: a real peak the
 * default takes is refused when far more is asked, naming what was asked */
static void
test_min_contrast (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_autofocus_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) described = em_action_describe (action);
  JsonArray *params = json_object_get_array_member (json_node_get_object (described), "parameters");
  JsonObject *spec = NULL;
  gdouble plane;

  /* listed with the others, with its unit, range and default */
  for (guint i = 0; i < json_array_get_length (params); i++)
    if (g_strcmp0 (json_object_get_string_member (json_array_get_object_element (params, i), "name"),
                   "min_contrast") == 0)
      spec = json_array_get_object_element (params, i);
  g_assert_nonnull (spec);
  g_assert_cmpstr (json_object_get_string_member (spec, "type"), ==, "number");
  g_assert_nonnull (json_object_get_string_member (spec, "unit"));
  g_assert_cmpfloat (json_object_get_double_member (spec, "minimum"), ==, EM_AUTOFOCUS_MIN_MIN_CONTRAST);
  g_assert_cmpfloat (json_object_get_double_member (spec, "maximum"), ==, EM_AUTOFOCUS_MAX_MIN_CONTRAST);
  g_assert_cmpfloat (json_object_get_double_member (spec, "default"), ==, EM_AUTOFOCUS_DEFAULT_MIN_CONTRAST);

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  plane = em_test_scope_focal_plane (&scope, 0.0, 0.0);
  em_test_scope_move_focus (&scope, plane + 9.0);

  result = em_test_scope_run_action (&scope, action, "af", "{\"min_contrast\": 1000}", 2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "Autofocus found no contrast: over the scores from "));
  g_assert_nonnull (strstr (error->message, "where 1000 are needed"));
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, plane + 9.0);
  g_clear_error (&error);

  /* and the same search passes at a ratio below the peak's */
  result = em_test_scope_run_action (&scope, action, "af", "{\"min_contrast\": 2.5}", 2.0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (fabs (json_object_get_double_member (result, "best_position") - plane), <, 1.0);
  /* by the default metric, the one pixel noise sways less */
  g_assert_cmpstr (json_object_get_string_member (result, "metric"), ==, "brenner");

  em_test_scope_clear (&scope);
}

static void
test_claims (void)
{
  g_autoptr(EmAction) action = em_autofocus_action_new ();

  g_assert_cmpstr (em_action_get_name (action), ==, "autofocus");
  g_assert_cmpint (em_action_get_claims (action), ==, EM_DEVICE_KIND_FOCUS | EM_DEVICE_KIND_CAMERA);
}

/* without a center the search is around where the focus is: run again after
 * failing part-way, it would search around where the focus stopped */
static void
test_retry_needs_center (void)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmEngineManager) manager = NULL;
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autoptr(GError) no_center = NULL;
  g_autoptr(GError) with_center = NULL;

  em_builtin_actions_register (registry);
  manager = em_engine_manager_new (registry, NULL, data_dir);

  no_center = em_test_schedule_error (manager, "{\"name\": \"af\", \"action\": \"autofocus\", \"max_retries\": 2}");
  g_assert_error (no_center, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (no_center->message, "max_retries"));
  g_assert_nonnull (strstr (no_center->message, "parameters.center is needed"));
  with_center = em_test_schedule_error (manager, "{\"name\": \"af\", \"action\": \"autofocus\", \"max_retries\": 2,"
                                         " \"parameters\": {\"center\": 100}}");
  g_assert_no_error (with_center);

  em_engine_manager_shutdown (manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (manager), 5000);
  g_clear_object (&manager);
  em_test_rmdir (data_dir);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/autofocus/metrics", test_metrics);
  g_test_add_func ("/autofocus/claims", test_claims);
  g_test_add_func ("/autofocus/converges/from-below", test_from_below);
  g_test_add_func ("/autofocus/converges/from-above", test_from_above);
  g_test_add_func ("/autofocus/converges/brenner-from-below", test_brenner_from_below);
  g_test_add_func ("/autofocus/converges/brenner-from-above", test_brenner_from_above);
  g_test_add_func ("/autofocus/center-and-travel", test_center_and_travel);
  g_test_add_func ("/autofocus/cancel", test_cancel);
  g_test_add_func ("/autofocus/no-contrast", test_no_contrast);
  g_test_add_func ("/autofocus/no-contrast-score", test_no_contrast_score);
  g_test_add_func ("/autofocus/no-contrast-far-off", test_far_off);
  g_test_add_func ("/autofocus/weak-peak", test_weak_peak);
  g_test_add_func ("/autofocus/clipped-to-one-position", test_clipped_to_one_position);
  g_test_add_func ("/autofocus/min-contrast", test_min_contrast);
  g_test_add_func ("/autofocus/retry-needs-center", test_retry_needs_center);

  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
