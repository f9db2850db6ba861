#include "config.h"

#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <tiffio.h>

#include "actions/em-capture-image-action.h"
#include "actions/em-focus-metric.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-src.h"
#include "em-test-scope.h"
#include "em-test-util.h"

/* the simulated microscope: its renderer, the emsimsrc element, and what a user
 * sees through the camera when moving the stage and the focus */

#define WIDTH  256
#define HEIGHT 192

static gdouble
mean (const gfloat *pixels, gsize n)
{
  gdouble sum = 0.0;

  for (gsize i = 0; i < n; i++)
    sum += pixels[i];
  return sum / n;
}

static void
render (const EmSimSpecimen *specimen, const EmSimView *view, gboolean noise, guint16 *out)
{
  g_autofree gfloat *radiance = g_new (gfloat, WIDTH * HEIGHT);

  em_sim_specimen_render_radiance (specimen, view, WIDTH, HEIGHT, radiance);
  em_sim_specimen_expose (specimen, view, radiance, WIDTH, HEIGHT, noise, out);
}

static void
test_specimen_deterministic (void)
{
  EmSimSpecimen specimen;
  EmSimView view = { .x = 1234.5, .y = -987.0, .focus = 0.0, .exposure_ms = 10.0 };
  g_autofree guint16 *first = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *second = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *elsewhere = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *other_slide = g_new (guint16, WIDTH * HEIGHT);
  guint lit = 0;

  em_sim_specimen_init_defaults (&specimen);
  view.focus = em_sim_specimen_focal_plane (&specimen, view.x, view.y);

  /* the same view always renders the same picture, noise included */
  render (&specimen, &view, TRUE, first);
  render (&specimen, &view, TRUE, second);
  g_assert_cmpmem (first, WIDTH * HEIGHT * 2, second, WIDTH * HEIGHT * 2);

  /* something is there: cells and particles well above the background */
  for (guint i = 0; i < WIDTH * HEIGHT; i++)
    lit += first[i] > 0.25 * 65535;
  g_assert_cmpuint (lit, >, WIDTH * HEIGHT / 50);

  /* far away on the slide, or on another slide, it is another picture */
  view.x += 5000.0;
  render (&specimen, &view, TRUE, elsewhere);
  g_assert_true (memcmp (first, elsewhere, WIDTH * HEIGHT * 2) != 0);
  view.x -= 5000.0;
  specimen.seed = 2;
  render (&specimen, &view, TRUE, other_slide);
  g_assert_true (memcmp (first, other_slide, WIDTH * HEIGHT * 2) != 0);
}

/* (noisy − clean) scatter relative to the signal */
static gdouble
relative_noise (const EmSimSpecimen *specimen, EmSimView *view)
{
  g_autofree guint16 *clean = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *noisy = g_new (guint16, WIDTH * HEIGHT);
  gdouble signal = 0.0, scatter = 0.0;

  render (specimen, view, FALSE, clean);
  render (specimen, view, TRUE, noisy);
  for (guint i = 0; i < WIDTH * HEIGHT; i++)
    {
      gdouble d = (gdouble) noisy[i] - clean[i];

      signal += clean[i];
      scatter += d * d;
    }
  return sqrt (scatter / (WIDTH * HEIGHT)) / (signal / (WIDTH * HEIGHT));
}

static void
test_specimen_exposure (void)
{
  EmSimSpecimen specimen;
  EmSimView view = { .exposure_ms = 2.0 };
  g_autofree guint16 *short_exposure = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *long_exposure = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *gained = g_new (guint16, WIDTH * HEIGHT);
  gdouble sum_short = 0, sum_long = 0, sum_gained = 0;
  gdouble noise_short, noise_long;

  em_sim_specimen_init_defaults (&specimen);
  view.focus = em_sim_specimen_focal_plane (&specimen, 0, 0);

  /* brightness follows exposure and gain (well below saturation here) */
  render (&specimen, &view, FALSE, short_exposure);
  view.exposure_ms = 4.0;
  render (&specimen, &view, FALSE, long_exposure);
  view.exposure_ms = 2.0;
  view.gain_db = 20.0 * log10 (2.0);
  render (&specimen, &view, FALSE, gained);
  for (guint i = 0; i < WIDTH * HEIGHT; i++)
    {
      sum_short += short_exposure[i];
      sum_long += long_exposure[i];
      sum_gained += gained[i];
    }
  g_assert_cmpfloat_with_epsilon (sum_long / sum_short, 2.0, 0.02);
  g_assert_cmpfloat_with_epsilon (sum_gained / sum_short, 2.0, 0.02);

  /* photon noise: 16 times the light, a quarter of the relative noise */
  view.gain_db = 0.0;
  view.exposure_ms = 0.5;
  noise_short = relative_noise (&specimen, &view);
  view.exposure_ms = 8.0;
  noise_long = relative_noise (&specimen, &view);
  g_test_message ("relative noise: %.4f at 0.5 ms, %.4f at 8 ms", noise_short, noise_long);
  g_assert_cmpfloat (noise_long, <, noise_short / 3.0);
  g_assert_cmpfloat (noise_long, >, 0.0);
}

static void
test_specimen_tilt (void)
{
  EmSimSpecimen specimen;
  EmSimView here = { .x = 0.0, .y = 0.0, .exposure_ms = 10.0 };
  EmSimView there = { .x = 5000.0, .y = 0.0, .exposure_ms = 10.0 };

  em_sim_specimen_init_defaults (&specimen);
  /* the slide is not flat: 5 mm along x the focal plane has moved */
  g_assert_cmpfloat (fabs (em_sim_specimen_focal_plane (&specimen, 5000.0, 0.0) -
                           em_sim_specimen_focal_plane (&specimen, 0.0, 0.0)), >, 5.0);

  here.focus = there.focus = em_sim_specimen_focal_plane (&specimen, 0.0, 0.0);
  g_assert_cmpfloat (em_sim_specimen_blur_sigma (&specimen, &here), <, 1.0);
  g_assert_cmpfloat (em_sim_specimen_blur_sigma (&specimen, &there), >, 3.0);
}

/* far out on the slide the view stops at the coordinate limit: the picture there
 * is still the slide, not a smear of one column, and no coordinate overflows a
 * tile index */
static void
test_specimen_far_away (void)
{
  const gdouble far[] = { 1e300, 1e11, G_MAXDOUBLE };
  EmSimSpecimen specimen;
  EmSimView edge = { .x = EM_SIM_MAX_COORDINATE, .y = -EM_SIM_MAX_COORDINATE, .exposure_ms = 10.0 };
  g_autofree guint16 *at_edge = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *beyond = g_new (guint16, WIDTH * HEIGHT);
  g_autofree guint16 *origin = g_new (guint16, WIDTH * HEIGHT);
  guint16 lo = G_MAXUINT16, hi = 0;

  em_sim_specimen_init_defaults (&specimen);
  edge.focus = em_sim_specimen_focal_plane (&specimen, edge.x, edge.y);
  render (&specimen, &edge, FALSE, at_edge);
  for (guint i = 0; i < WIDTH; i++)
    {
      lo = MIN (lo, at_edge[HEIGHT / 2 * WIDTH + i]);
      hi = MAX (hi, at_edge[HEIGHT / 2 * WIDTH + i]);
    }
  g_assert_cmpuint (hi - lo, >, 100);

  for (guint k = 0; k < G_N_ELEMENTS (far); k++)
    {
      EmSimView view = edge;

      view.x = far[k];
      view.y = -far[k];
      render (&specimen, &view, FALSE, beyond);
      g_assert_cmpmem (beyond, WIDTH * HEIGHT * 2, at_edge, WIDTH * HEIGHT * 2);
    }

  /* a coordinate that is not a number is taken as 0 */
  {
    EmSimView view = { .x = NAN, .y = 0.0, .exposure_ms = 10.0 };
    EmSimView zero = { .x = 0.0, .y = 0.0, .exposure_ms = 10.0 };

    view.focus = zero.focus = em_sim_specimen_focal_plane (&specimen, 0.0, 0.0);
    render (&specimen, &zero, FALSE, origin);
    render (&specimen, &view, FALSE, beyond);
    g_assert_cmpmem (beyond, WIDTH * HEIGHT * 2, origin, WIDTH * HEIGHT * 2);
  }
}

static void
test_element (void)
{
  g_autoptr(GstElement) element = NULL;
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GError) error = NULL;
  gdouble pixel_size = 0.0;

  g_assert_true (em_sim_src_register ());
  /* registering again is harmless */
  g_assert_true (em_sim_src_register ());

  element = gst_element_factory_make (EM_SIM_SRC_NAME, NULL);
  g_assert_true (EM_IS_SIM_SRC (element));
  g_object_get (element, "pixel-size", &pixel_size, NULL);
  g_assert_cmpfloat (pixel_size, ==, EM_SIM_DEFAULT_PIXEL_SIZE);
  g_assert_true (gst_base_src_is_live (GST_BASE_SRC (element)));

  /* usable in a description, as --camera-pipeline is */
  pipeline = gst_parse_launch ("emsimsrc seed=7 exposure=20 gain=3 ! fakesink", &error);
  g_assert_no_error (error);
  g_assert_nonnull (pipeline);
  gst_clear_object (&pipeline);

  /* without a stage, its own x and y: any value renders frames */
  pipeline = gst_parse_launch ("emsimsrc x=1e300 y=-1e300 num-buffers=2 ! "
                               "video/x-raw,width=64,height=48 ! fakesink", &error);
  g_assert_no_error (error);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  {
    g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
    g_autoptr(GstMessage) message =
      gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);

    g_assert_nonnull (message);
    g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

/* the shift (sx, sy) for which b(i, j) best matches a(i + sx, j + sy), by
 * normalised cross-correlation of a central patch of b */
static void
cross_correlate (const gfloat *a, const gfloat *b, gint max_shift, gint *out_sx, gint *out_sy)
{
  const gint pw = WIDTH / 3, ph = HEIGHT / 3;
  const gint x0 = (WIDTH - pw) / 2, y0 = (HEIGHT - ph) / 2;
  gdouble best = -G_MAXDOUBLE;

  for (gint sy = -max_shift; sy <= max_shift; sy++)
    for (gint sx = -max_shift; sx <= max_shift; sx++)
      {
        gdouble sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, n = pw * ph, score;

        for (gint j = y0; j < y0 + ph; j++)
          for (gint i = x0; i < x0 + pw; i++)
            {
              gdouble va = a[(j + sy) * WIDTH + i + sx];
              gdouble vb = b[j * WIDTH + i];

              sa += va;
              sb += vb;
              saa += va * va;
              sbb += vb * vb;
              sab += va * vb;
            }
        score = (sab - sa * sb / n) / sqrt ((saa - sa * sa / n) * (sbb - sb * sb / n) + 1e-12);
        if (score > best)
          {
            best = score;
            *out_sx = sx;
            *out_sy = sy;
          }
      }
}

static void
test_camera_fov_shift (void)
{
  EmTestScope scope;
  g_autoptr(EmFrame) first = NULL;
  g_autoptr(EmFrame) shifted = NULL;
  g_autoptr(EmFrame) back = NULL;
  g_autofree gfloat *a = NULL;
  g_autofree gfloat *b = NULL;
  const gdouble dx = 12.5, dy = -7.5;
  gint sx = G_MININT, sy = G_MININT;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  em_test_scope_move_focus (&scope, em_test_scope_focal_plane (&scope, 0.0, 0.0));

  first = em_test_scope_capture (&scope, 10.0, 0.0);
  g_assert_cmpuint (em_frame_get_format (first), ==, EM_PIXEL_FORMAT_GRAY16);
  g_assert_cmpfloat (em_frame_get_pixel_size (first), ==, EM_SIM_DEFAULT_PIXEL_SIZE);

  /* the field of view follows the stage: what was at pixel p is now at
   * p − Δ ÷ pixel size */
  em_test_scope_move_stage (&scope, dx, dy);
  shifted = em_test_scope_capture (&scope, 10.0, 0.0);
  a = em_test_frame_luminance (first);
  b = em_test_frame_luminance (shifted);
  cross_correlate (a, b, 40, &sx, &sy);
  g_test_message ("stage moved by (%g, %g) µm; picture shifted by (%d, %d) px", dx, dy, sx, sy);
  g_assert_cmpint (sx, ==, (gint) lround (dx / EM_SIM_DEFAULT_PIXEL_SIZE));
  g_assert_cmpint (sy, ==, (gint) lround (dy / EM_SIM_DEFAULT_PIXEL_SIZE));

  /* going back gives the very same picture: noise is drawn per view */
  em_test_scope_move_stage (&scope, 0.0, 0.0);
  back = em_test_scope_capture (&scope, 10.0, 0.0);
  g_assert_true (g_bytes_equal (em_frame_get_data (first), em_frame_get_data (back)));

  em_test_scope_clear (&scope);
}

/* a crop in the description keeps the sample's pixel size, a scale changes
 * it: what the frame says matches how far the picture moves with the stage */
static void
test_camera_cropped_pixel_size (void)
{
  EmTestScope scope;
  g_autoptr(EmFrame) first = NULL;
  g_autoptr(EmFrame) shifted = NULL;
  g_autofree gfloat *a = NULL;
  g_autofree gfloat *b = NULL;
  const gdouble dx = 12.5;
  gdouble pixel_size;
  gint sx = G_MININT, sy = G_MININT;

  /* 640 × 480 cropped to 320 × 240, then scaled to 256 × 192 */
  em_test_scope_init (&scope, "emsimsrc ! video/x-raw,width=640,height=480 ! "
                      "videocrop left=160 right=160 top=120 bottom=120", WIDTH, HEIGHT);
  em_test_scope_move_focus (&scope, em_test_scope_focal_plane (&scope, 0.0, 0.0));
  first = em_test_scope_capture (&scope, 10.0, 0.0);
  pixel_size = em_frame_get_pixel_size (first);
  g_assert_cmpfloat_with_epsilon (pixel_size, EM_SIM_DEFAULT_PIXEL_SIZE * 320 / WIDTH, 1e-9);

  em_test_scope_move_stage (&scope, dx, 0.0);
  shifted = em_test_scope_capture (&scope, 10.0, 0.0);
  a = em_test_frame_luminance (first);
  b = em_test_frame_luminance (shifted);
  cross_correlate (a, b, 40, &sx, &sy);
  g_test_message ("stage moved by %g µm; picture shifted by %d px at %g µm per pixel", dx, sx, pixel_size);
  g_assert_cmpint (sx, ==, (gint) lround (dx / pixel_size));
  g_assert_cmpint (sy, ==, 0);
  em_test_scope_clear (&scope);

  /* pixels made twice as wide as tall have no one size: unknown, not wrong */
  em_test_scope_init (&scope, "emsimsrc ! video/x-raw,width=640,height=480 ! "
                      "videoscale ! video/x-raw,width=320,height=480", WIDTH, HEIGHT);
  g_clear_pointer (&first, em_frame_unref);
  first = em_test_scope_capture (&scope, 10.0, 0.0);
  g_assert_cmpfloat (em_frame_get_pixel_size (first), ==, 0.0);
  em_test_scope_clear (&scope);

  /* a quarter turn keeps the size of a pixel */
  em_test_scope_init (&scope, "emsimsrc ! video/x-raw,width=480,height=640 ! videoflip video-direction=90r",
                      WIDTH, HEIGHT);
  g_clear_pointer (&first, em_frame_unref);
  first = em_test_scope_capture (&scope, 10.0, 0.0);
  g_assert_cmpfloat_with_epsilon (em_frame_get_pixel_size (first), EM_SIM_DEFAULT_PIXEL_SIZE * 640 / WIDTH, 1e-9);
  em_test_scope_clear (&scope);

  /* a square scale in the description counts */
  em_test_scope_init (&scope, "emsimsrc ! video/x-raw,width=640,height=480 ! "
                      "videoscale ! video/x-raw,width=320,height=240", WIDTH, HEIGHT);
  g_clear_pointer (&first, em_frame_unref);
  first = em_test_scope_capture (&scope, 10.0, 0.0);
  g_assert_cmpfloat_with_epsilon (em_frame_get_pixel_size (first), EM_SIM_DEFAULT_PIXEL_SIZE * 640 / WIDTH, 1e-9);
  em_test_scope_clear (&scope);
}

static void
test_camera_sharpness (void)
{
  const gdouble offsets[] = { -8.0, -5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0, 8.0 };
  const guint focused = 4;
  EmTestScope scope;
  gdouble plane;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  plane = em_test_scope_focal_plane (&scope, 0.0, 0.0);

  for (EmFocusMetric metric = EM_FOCUS_METRIC_LAPLACIAN; metric <= EM_FOCUS_METRIC_BRENNER; metric++)
    {
      gdouble scores[G_N_ELEMENTS (offsets)];

      for (guint k = 0; k < G_N_ELEMENTS (offsets); k++)
        {
          g_autoptr(EmFrame) frame = NULL;

          em_test_scope_move_focus (&scope, plane + offsets[k]);
          frame = em_test_scope_capture (&scope, 10.0, 0.0);
          scores[k] = em_focus_metric_compute (metric, frame);
          g_test_message ("%s at %+.1f µm: %g", em_focus_metric_to_string (metric), offsets[k], scores[k]);
        }
      /* falling on both sides of the focal plane */
      for (guint k = focused; k + 1 < G_N_ELEMENTS (offsets); k++)
        g_assert_cmpfloat (scores[k + 1], <, scores[k]);
      for (guint k = focused; k > 0; k--)
        g_assert_cmpfloat (scores[k - 1], <, scores[k]);
    }

  em_test_scope_clear (&scope);
}

static void
test_camera_exposure (void)
{
  EmTestScope scope;
  g_autoptr(EmFrame) dim = NULL;
  g_autoptr(EmFrame) bright = NULL;
  g_autofree gfloat *a = NULL;
  g_autofree gfloat *b = NULL;
  gboolean applied = FALSE;
  gdouble ratio;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  dim = em_test_scope_capture (&scope, 4.0, 0.0);
  bright = em_test_scope_capture (&scope, 8.0, 0.0);

  /* emsimsrc takes the settings, and the frame says so */
  em_frame_get_exposure (bright, &applied);
  g_assert_true (applied);
  em_frame_get_gain (bright, &applied);
  g_assert_true (applied);

  a = em_test_frame_luminance (dim);
  b = em_test_frame_luminance (bright);
  ratio = mean (b, WIDTH * HEIGHT) / mean (a, WIDTH * HEIGHT);
  g_test_message ("twice the exposure, %.3f times the brightness", ratio);
  g_assert_cmpfloat_with_epsilon (ratio, 2.0, 0.05);

  em_test_scope_clear (&scope);
}

/* settings the simulated sensor cannot take are clamped, and the frame says so */
static void
test_camera_clamped_settings (void)
{
  EmTestScope scope;
  g_autoptr(EmFrame) short_frame = NULL;
  g_autoptr(EmFrame) loud_frame = NULL;
  gboolean applied = TRUE;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  /* the sensor's shortest exposure is 1 µs */
  short_frame = em_test_scope_capture (&scope, 0.0005, 0.0);
  em_frame_get_exposure (short_frame, &applied);
  g_assert_false (applied);
  em_frame_get_gain (short_frame, &applied);
  g_assert_true (applied);

  /* and its highest gain 48 dB */
  loud_frame = em_test_scope_capture (&scope, 1.0, 60.0);
  em_frame_get_exposure (loud_frame, &applied);
  g_assert_true (applied);
  em_frame_get_gain (loud_frame, &applied);
  g_assert_false (applied);

  em_test_scope_clear (&scope);
}

static void
test_capture_metadata (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *expected = NULL;
  g_autofree char *sidecar = NULL;
  JsonObject *metadata;
  JsonObject *stage;
  char *description = NULL;
  char *software = NULL;
  char *date = NULL;
  float x_resolution = 0, y_resolution = 0;
  uint16_t unit = 0, bits = 0, samples = 0;
  TIFF *tif;

  em_test_scope_init (&scope, NULL, 160, 120);
  em_test_scope_move_stage (&scope, 250.0, -40.0);
  em_test_scope_move_focus (&scope, 101.5);

  result = em_test_scope_run_action (&scope, action, "shot", "{\"format\": \"tiff\", \"exposure\": 12, \"gain\": 6}",
                                     2.0, NULL, &error);
  g_assert_no_error (error);
  expected = g_build_filename (scope.data_dir, "images", "shot.tiff", NULL);
  sidecar = g_build_filename (scope.data_dir, "images", "shot.json", NULL);
  g_assert_cmpstr (json_object_get_string_member (result, "path"), ==, expected);
  g_assert_cmpstr (json_object_get_string_member (result, "metadata_path"), ==, sidecar);
  g_assert_cmpint (json_object_get_int_member (result, "bit_depth"), ==, 16);
  g_assert_cmpint (json_object_get_int_member (result, "channels"), ==, 1);
  g_assert_cmpfloat (json_object_get_double_member (result, "pixel_size"), ==, EM_SIM_DEFAULT_PIXEL_SIZE);
  g_assert_true (json_object_get_boolean_member (json_object_get_object_member (result, "applied"), "exposure"));
  g_assert_true (json_object_get_boolean_member (json_object_get_object_member (result, "applied"), "gain"));

  /* the sidecar holds the same metadata */
  g_assert_true (json_parser_load_from_file (parser, sidecar, &error));
  g_assert_no_error (error);
  metadata = json_node_get_object (json_parser_get_root (parser));
  stage = json_object_get_object_member (metadata, "stage_position");
  g_assert_cmpfloat (json_object_get_double_member (stage, "x"), ==, 250.0);
  g_assert_cmpfloat (json_object_get_double_member (stage, "y"), ==, -40.0);
  g_assert_cmpfloat (json_object_get_double_member (metadata, "focus_position"), ==, 101.5);
  g_assert_cmpfloat (json_object_get_double_member (metadata, "exposure"), ==, 12.0);
  g_assert_cmpfloat (json_object_get_double_member (metadata, "gain"), ==, 6.0);
  g_assert_cmpfloat (json_object_get_double_member (metadata, "pixel_size"), ==, 0.5);
  g_assert_cmpstr (json_object_get_string_member (metadata, "timestamp"), ==,
                   json_object_get_string_member (result, "timestamp"));

  /* and the TIFF tags, where they fit */
  tif = TIFFOpen (expected, "r");
  g_assert_nonnull (tif);
  TIFFGetField (tif, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetField (tif, TIFFTAG_SAMPLESPERPIXEL, &samples);
  g_assert_cmpuint (bits, ==, 16);
  g_assert_cmpuint (samples, ==, 1);
  g_assert_true (TIFFGetField (tif, TIFFTAG_RESOLUTIONUNIT, &unit));
  g_assert_cmpuint (unit, ==, RESUNIT_CENTIMETER);
  g_assert_true (TIFFGetField (tif, TIFFTAG_XRESOLUTION, &x_resolution));
  g_assert_true (TIFFGetField (tif, TIFFTAG_YRESOLUTION, &y_resolution));
  /* 0.5 µm per pixel: 20 000 pixels per cm */
  g_assert_cmpfloat_with_epsilon (x_resolution, 20000.0, 0.5);
  g_assert_cmpfloat_with_epsilon (y_resolution, 20000.0, 0.5);
  g_assert_true (TIFFGetField (tif, TIFFTAG_DATETIME, &date));
  g_assert_cmpuint (strlen (date), ==, 19);
  g_assert_true (TIFFGetField (tif, TIFFTAG_SOFTWARE, &software));
  g_assert_true (g_str_has_prefix (software, "Engine Manager"));
  g_assert_true (TIFFGetField (tif, TIFFTAG_IMAGEDESCRIPTION, &description));
  {
    g_autoptr(JsonNode) node = json_from_string (description, &error);

    g_assert_no_error (error);
    g_assert_cmpfloat (json_object_get_double_member (json_node_get_object (node), "focus_position"), ==, 101.5);
  }
  TIFFClose (tif);

  em_test_scope_clear (&scope);
}

/* the stage and focus go elsewhere once the camera has handed its frame over,
 * before the capture gets to write it: as when the main loop is busy while
 * another task moves the stage */
static void
moved_after_frame_cb (GObject *camera, GParamSpec *pspec, EmTestScope *scope)
{
  const EmStagePosition elsewhere = { 900.0, 700.0, 0.0 };

  if (em_camera_is_capturing (EM_CAMERA (camera)))
    return;
  em_stage_update_position (scope->stage, &elsewhere);
  em_focus_update_position (scope->focus, 50.0);
}

/* the metadata says where the sample was when the frame came in */
static void
test_capture_positions_of_frame (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_capture_image_action_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) result = NULL;
  JsonObject *stage;
  gulong handler;

  em_test_scope_init (&scope, NULL, 160, 120);
  em_test_scope_move_stage (&scope, 250.0, -40.0);
  em_test_scope_move_focus (&scope, 101.5);
  handler = g_signal_connect (scope.camera, "notify::capturing", G_CALLBACK (moved_after_frame_cb), &scope);

  result = em_test_scope_run_action (&scope, action, "shot", "{\"exposure\": 2}", 2.0, NULL, &error);
  g_assert_no_error (error);
  stage = json_object_get_object_member (result, "stage_position");
  g_assert_cmpfloat (json_object_get_double_member (stage, "x"), ==, 250.0);
  g_assert_cmpfloat (json_object_get_double_member (stage, "y"), ==, -40.0);
  g_assert_cmpfloat (json_object_get_double_member (result, "focus_position"), ==, 101.5);

  g_signal_handler_disconnect (scope.camera, handler);
  em_test_scope_clear (&scope);
}

static void
done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
ignore_camera_warnings (const char     *log_domain,
                        GLogLevelFlags  log_level,
                        const char     *message,
                        gpointer        user_data)
{
  /* a missing camera is what this test expects to meet */
  return g_strcmp0 (log_domain, "em-devices") != 0;
}

static void
test_aravis (void)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find ("aravissrc");
  const char *name = g_getenv ("EM_TEST_ARAVIS_CAMERA");
  g_autofree char *description = NULL;
  g_autoptr(EmCamera) camera = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EmFrame) frame = NULL;
  gboolean applied = FALSE;
  gdouble exposure;

  if (factory == NULL)
    {
      g_test_skip ("the aravissrc GStreamer element is not installed (Aravis' GStreamer plugin); "
                   "no GenICam camera can be tried");
      return;
    }

  description = name != NULL ? g_strdup_printf ("aravissrc camera-name=\"%s\"", name)
                             : g_strdup ("aravissrc");
  g_test_log_set_fatal_handler (ignore_camera_warnings, NULL);
  camera = em_gst_camera_new (description, 320, 240);
  em_camera_capture_async (camera, 5.0, 0.0, NULL, NULL, NULL, done_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, 15000);
  frame = em_camera_capture_finish (camera, result, &error);
  if (frame == NULL)
    {
      g_autofree char *message =
        g_strdup_printf ("no Aravis camera could be reached (%s); name one from arv-tool-0.8 "
                         "in EM_TEST_ARAVIS_CAMERA, or start arv-fake-gv-camera-0.8", error->message);

      g_test_skip (message);
      return;
    }

  /* GenICam takes exposure and gain, and the frame says so */
  exposure = em_frame_get_exposure (frame, &applied);
  g_assert_cmpfloat (exposure, ==, 5.0);
  g_assert_true (applied);
  g_assert_cmpuint (em_frame_get_width (frame), ==, 320);
  g_assert_cmpuint (em_frame_get_height (frame), ==, 240);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/simscope/specimen/deterministic", test_specimen_deterministic);
  g_test_add_func ("/simscope/specimen/exposure-and-noise", test_specimen_exposure);
  g_test_add_func ("/simscope/specimen/tilt", test_specimen_tilt);
  g_test_add_func ("/simscope/specimen/far-away", test_specimen_far_away);
  g_test_add_func ("/simscope/element", test_element);
  g_test_add_func ("/simscope/camera/fov-shift", test_camera_fov_shift);
  g_test_add_func ("/simscope/camera/cropped-pixel-size", test_camera_cropped_pixel_size);
  g_test_add_func ("/simscope/camera/sharpness", test_camera_sharpness);
  g_test_add_func ("/simscope/camera/exposure", test_camera_exposure);
  g_test_add_func ("/simscope/camera/clamped-settings", test_camera_clamped_settings);
  g_test_add_func ("/simscope/camera/metadata", test_capture_metadata);
  g_test_add_func ("/simscope/camera/positions-of-frame", test_capture_positions_of_frame);
  g_test_add_func ("/simscope/aravis", test_aravis);

  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
