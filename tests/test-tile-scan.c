#include "config.h"

#include <libintl.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <png.h>

#include "actions/em-builtin-actions.h"
#include "actions/em-tile-scan-action.h"
#include "devices/em-gst-camera.h"
#include "engine/em-engine-manager.h"
#include "engine/em-task-spec.h"
#include "engine/em-error.h"
#include "em-test-schedule.h"
#include "em-test-scope.h"
#include "em-test-util.h"

/* the tile_scan action on the simulated microscope */

#define WIDTH  160
#define HEIGHT 120

static void
assert_png16 (const char *path)
{
  png_image image = { 0 };
  g_autofree guint16 *pixels = NULL;
  guint lit = 0;

  image.version = PNG_IMAGE_VERSION;
  g_assert_true (png_image_begin_read_from_file (&image, path));
  g_assert_cmpuint (image.width, ==, WIDTH);
  g_assert_cmpuint (image.height, ==, HEIGHT);
  g_assert_cmpuint (PNG_IMAGE_SAMPLE_CHANNELS (image.format), ==, 1);
  g_assert_cmpuint (PNG_IMAGE_SAMPLE_COMPONENT_SIZE (image.format), ==, 2);
  image.format = PNG_FORMAT_LINEAR_Y;
  pixels = g_malloc (PNG_IMAGE_SIZE (image));
  g_assert_true (png_image_finish_read (&image, NULL, pixels, 0, NULL));
  for (guint i = 0; i < WIDTH * HEIGHT; i++)
    lit += pixels[i] > 0;
  g_assert_cmpuint (lit, >, WIDTH * HEIGHT / 2);
}

static JsonObject *
read_json (const char *path)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
test_grid (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(GArray) progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *directory = NULL;
  EmStagePosition position;
  JsonArray *tiles;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 100, \"origin_y\": 50, \"step_x\": 40, \"step_y\": 30,"
                                     " \"nx\": 3, \"ny\": 2, \"exposure\": 5}",
                                     2.0, progress, &error);
  g_assert_no_error (error);

  directory = g_build_filename (scope.data_dir, "images", "scan", NULL);
  g_assert_cmpstr (json_object_get_string_member (result, "directory"), ==, directory);
  g_assert_cmpint (json_object_get_int_member (result, "count"), ==, 6);
  g_assert_cmpint (json_object_get_int_member (result, "no_contrast"), ==, 0);
  tiles = json_object_get_array_member (result, "tiles");
  g_assert_cmpuint (json_array_get_length (tiles), ==, 6);

  for (guint i = 0; i < 6; i++)
    {
      JsonObject *tile = json_array_get_object_element (tiles, i);
      guint row = i / 3;
      /* serpentine: the second row runs backwards */
      guint column = row == 0 ? i : 2 - i % 3;
      g_autofree char *name = g_strdup_printf ("tile-r%03u-c%03u.png", row, column);
      g_autofree char *path = g_build_filename (directory, name, NULL);
      g_autoptr(JsonObject) sidecar = NULL;
      JsonObject *stage;

      g_assert_cmpint (json_object_get_int_member (tile, "index"), ==, i);
      g_assert_cmpint (json_object_get_int_member (tile, "row"), ==, row);
      g_assert_cmpint (json_object_get_int_member (tile, "column"), ==, column);
      g_assert_cmpfloat (json_object_get_double_member (tile, "x"), ==, 100.0 + 40.0 * column);
      g_assert_cmpfloat (json_object_get_double_member (tile, "y"), ==, 50.0 + 30.0 * row);
      g_assert_false (json_object_get_boolean_member (tile, "refocused"));
      g_assert_cmpstr (json_object_get_string_member (tile, "focus"), ==, "kept");
      g_assert_false (json_object_has_member (tile, "focus_reason"));
      g_assert_cmpstr (json_object_get_string_member (tile, "path"), ==, path);
      g_assert_cmpint (json_object_get_int_member (tile, "bit_depth"), ==, 16);

      /* the file decodes, and its sidecar says where the stage was */
      assert_png16 (path);
      sidecar = read_json (json_object_get_string_member (tile, "metadata_path"));
      stage = json_object_get_object_member (sidecar, "stage_position");
      g_assert_cmpfloat (json_object_get_double_member (stage, "x"), ==, 100.0 + 40.0 * column);
      g_assert_cmpfloat (json_object_get_double_member (stage, "y"), ==, 50.0 + 30.0 * row);
      g_assert_cmpfloat (json_object_get_double_member (sidecar, "exposure"), ==, 5.0);
    }

  /* the stage ends on the last tile: row 1, column 0 */
  em_stage_get_position (scope.stage, &position);
  g_assert_cmpfloat (position.x, ==, 100.0);
  g_assert_cmpfloat (position.y, ==, 80.0);

  /* progress per tile, rising to 1 */
  g_assert_cmpuint (progress->len, >=, 6);
  for (guint i = 1; i < progress->len; i++)
    g_assert_cmpfloat (g_array_index (progress, gdouble, i), >=, g_array_index (progress, gdouble, i - 1));
  g_assert_cmpfloat (g_array_index (progress, gdouble, progress->len - 1), ==, 1.0);

  em_test_scope_clear (&scope);
}

static void
test_autofocus (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
  JsonArray *tiles;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  /* the focus starts at the plane of the origin; 2 mm along x the tilted slide
   * is sharp 4 µm higher, so each tile has to refocus */
  em_test_scope_move_focus (&scope, em_test_scope_focal_plane (&scope, 0.0, 0.0));
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 2000, \"origin_y\": 0, \"step_x\": 500,"
                                     " \"nx\": 2, \"autofocus_every\": 1, \"autofocus_range\": 16,"
                                     " \"format\": \"tiff\"}",
                                     2.0, progress, &error);
  g_assert_no_error (error);

  /* the refocus plans more frames as it refines: the scan's progress still
   * only rises */
  for (guint i = 1; i < progress->len; i++)
    {
      if (g_array_index (progress, gdouble, i) < g_array_index (progress, gdouble, i - 1))
        g_test_message ("progress %u: %g after %g", i, g_array_index (progress, gdouble, i),
                        g_array_index (progress, gdouble, i - 1));
      g_assert_cmpfloat (g_array_index (progress, gdouble, i), >=, g_array_index (progress, gdouble, i - 1));
    }
  g_assert_cmpfloat (g_array_index (progress, gdouble, progress->len - 1), ==, 1.0);

  tiles = json_object_get_array_member (result, "tiles");
  g_assert_cmpuint (json_array_get_length (tiles), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *tile = json_array_get_object_element (tiles, i);
      gdouble x = json_object_get_double_member (tile, "x");
      gdouble plane = em_test_scope_focal_plane (&scope, x, 0.0);
      gdouble focus = json_object_get_double_member (tile, "focus_position");

      g_test_message ("tile at x = %g µm: focus %.3f µm, plane %.3f µm", x, focus, plane);
      g_assert_true (json_object_get_boolean_member (tile, "refocused"));
      g_assert_cmpstr (json_object_get_string_member (tile, "focus"), ==, "found");
      g_assert_cmpfloat (fabs (focus - plane), <, 1.0);
      g_assert_true (g_file_test (json_object_get_string_member (tile, "path"), G_FILE_TEST_IS_REGULAR));
    }

  em_test_scope_clear (&scope);
}

/* a period longer than the scan refocuses before the first tile only, however
 * long: values past 32 bits once wrapped to "never" or to "every tile" */
static void
test_autofocus_long_period (void)
{
  const char *periods[] = { "3", "4294967296", "4294967297", "9007199254740993" };

  for (guint p = 0; p < G_N_ELEMENTS (periods); p++)
    {
      EmTestScope scope;
      g_autoptr(EmAction) action = em_tile_scan_action_new ();
      g_autoptr(JsonObject) result = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *json = g_strdup_printf ("{\"step_x\": 50, \"nx\": 2,"
                                               " \"autofocus_every\": %s, \"autofocus_range\": 8}",
                                               periods[p]);
      JsonArray *tiles;

      em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
      em_test_scope_move_focus (&scope, em_test_scope_focal_plane (&scope, 0.0, 0.0));
      result = em_test_scope_run_action (&scope, action, "scan", json, 2.0, NULL, &error);
      g_assert_no_error (error);

      tiles = json_object_get_array_member (result, "tiles");
      g_assert_cmpuint (json_array_get_length (tiles), ==, 2);
      g_test_message ("autofocus_every %s", periods[p]);
      g_assert_true (json_object_get_boolean_member (json_array_get_object_element (tiles, 0), "refocused"));
      g_assert_false (json_object_get_boolean_member (json_array_get_object_element (tiles, 1), "refocused"));
      em_test_scope_clear (&scope);
    }
}

/* a refocus far off the focal plane finds nothing but the camera's noise:
 * rather than drift to wherever the noise peaked, the focus stays where it
 * started, and the scan goes on there, saying which refocus found nothing */
static void
test_autofocus_no_contrast (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  gdouble start;
  JsonArray *tiles;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  /* the slide is sharp near 100 µm; the focus starts 80 µm below */
  start = em_test_scope_focal_plane (&scope, 0.0, 0.0) - 80.0;
  em_test_scope_move_focus (&scope, start);
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 50, \"nx\": 3,"
                                     " \"autofocus_every\": 2}",
                                     2.0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (result, "count"), ==, 3);
  /* the first and the third tile refocused, in vain */
  g_assert_cmpint (json_object_get_int_member (result, "no_contrast"), ==, 2);
  tiles = json_object_get_array_member (result, "tiles");
  for (guint i = 0; i < 3; i++)
    {
      JsonObject *tile = json_array_get_object_element (tiles, i);

      g_assert_false (json_object_get_boolean_member (tile, "refocused"));
      g_assert_false (json_object_has_member (tile, "autofocus_score"));
      g_assert_cmpfloat (json_object_get_double_member (tile, "focus_position"), ==, start);
      g_assert_true (g_file_test (json_object_get_string_member (tile, "path"), G_FILE_TEST_IS_REGULAR));
      if (i == 1)
        {
          g_assert_cmpstr (json_object_get_string_member (tile, "focus"), ==, "kept");
          g_assert_false (json_object_has_member (tile, "focus_reason"));
          continue;
        }
      g_assert_cmpstr (json_object_get_string_member (tile, "focus"), ==, "no_contrast");
      g_test_message ("%s", json_object_get_string_member (tile, "focus_reason"));
      g_assert_true (g_str_has_prefix (json_object_get_string_member (tile, "focus_reason"),
                                       "Autofocus found no contrast: "));
    }
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, start);

  em_test_scope_clear (&scope);
}

/* autofocus_min_contrast reaches each refocus: a peak that passes the
 * default 5 does not pass 1000, and those tiles keep the focus they had */
static void
test_autofocus_min_contrast (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *tile;
  gdouble start;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  start = em_test_scope_focal_plane (&scope, 0.0, 0.0) - 3.0;
  em_test_scope_move_focus (&scope, start);
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 50,"
                                     " \"autofocus_every\": 1, \"autofocus_min_contrast\": 1000}",
                                     2.0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (result, "no_contrast"), ==, 1);
  tile = json_array_get_object_element (json_object_get_array_member (result, "tiles"), 0);
  g_assert_cmpstr (json_object_get_string_member (tile, "focus"), ==, "no_contrast");
  g_test_message ("%s", json_object_get_string_member (tile, "focus_reason"));
  g_assert_nonnull (strstr (json_object_get_string_member (tile, "focus_reason"), "where 1000 are needed"));
  g_assert_cmpfloat (em_focus_get_position (scope.focus), ==, start);
  em_test_scope_clear (&scope);
}

/* only a search that found no contrast lets the scan go on: one whose range,
 * clipped to the focus travel, leaves nothing to compare still fails it */
static void
test_autofocus_clipped_fails (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  em_test_scope_move_focus (&scope, 10000.0);
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 50,"
                                     " \"autofocus_every\": 1, \"autofocus_range\": 0.4,"
                                     " \"autofocus_step\": 0.4, \"autofocus_tolerance\": 0.4}",
                                     2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "narrower than the tolerance"));
  em_test_scope_clear (&scope);
}

/* the autofocus says "no contrast" in the service's language: in German too,
 * the scan goes on */
static void
test_autofocus_no_contrast_translated (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *po_dir = g_test_build_filename (G_TEST_BUILT, "..", "po", NULL);
  g_autofree char *locale_dir = NULL;
  g_autofree char *saved = g_strdup (setlocale (LC_MESSAGES, NULL));
  JsonObject *tile;

  bindtextdomain (GETTEXT_PACKAGE, po_dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  locale_dir = em_test_build_german_locale ();
  g_unsetenv ("LANGUAGE");
  g_assert_nonnull (setlocale (LC_MESSAGES, "de_DE.UTF-8"));

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  em_test_scope_move_focus (&scope, em_test_scope_focal_plane (&scope, 0.0, 0.0) - 80.0);
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 50,"
                                     " \"autofocus_every\": 1}",
                                     2.0, NULL, &error);
  setlocale (LC_MESSAGES, saved);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (result, "no_contrast"), ==, 1);
  tile = json_array_get_object_element (json_object_get_array_member (result, "tiles"), 0);
  g_assert_cmpstr (json_object_get_string_member (tile, "focus"), ==, "no_contrast");
  g_test_message ("%s", json_object_get_string_member (tile, "focus_reason"));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (tile, "focus_reason"),
                                   "Der Autofokus fand keinen Kontrast: "));

  em_test_scope_clear (&scope);
  em_test_rmdir (locale_dir);
}

/* a slide tilted so steeply that the right-hand column lies 80 µm above the
 * left, far outside each 20 µm search: those fields are as empty as blank
 * glass to the refocus. The scan keeps the last focus found for them, and
 * finds the plane again on the way back */
static void
test_autofocus_empty_tiles (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) source = NULL;
  const char *expected[] = { "found", "no_contrast", "no_contrast", "found" };
  gdouble first_focus;
  JsonArray *tiles;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  source = em_gst_camera_get_source (EM_GST_CAMERA (scope.camera));
  g_object_set (source, "tilt-x", 0.1, "tilt-y", 0.0, NULL);
  em_test_scope_move_focus (&scope, em_test_scope_focal_plane (&scope, 0.0, 0.0));
  g_assert_cmpfloat (em_test_scope_focal_plane (&scope, 800.0, 0.0) -
                     em_test_scope_focal_plane (&scope, 0.0, 0.0), ==, 80.0);

  /* serpentine: (0, 0), (800, 0), (800, 40), (0, 40) */
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 800, \"step_y\": 40,"
                                     " \"nx\": 2, \"ny\": 2, \"speed\": 20000, \"autofocus_every\": 1}",
                                     2.0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  g_assert_cmpint (json_object_get_int_member (result, "count"), ==, 4);
  g_assert_cmpint (json_object_get_int_member (result, "no_contrast"), ==, 2);

  tiles = json_object_get_array_member (result, "tiles");
  g_assert_cmpuint (json_array_get_length (tiles), ==, 4);
  first_focus = json_object_get_double_member (json_array_get_object_element (tiles, 0), "focus_position");
  for (guint i = 0; i < 4; i++)
    {
      JsonObject *tile = json_array_get_object_element (tiles, i);
      gdouble x = json_object_get_double_member (tile, "x");
      gdouble y = json_object_get_double_member (tile, "y");
      gdouble focus = json_object_get_double_member (tile, "focus_position");
      gboolean found = g_str_equal (expected[i], "found");

      g_test_message ("tile %u at (%g, %g): %s, focus %.3f µm, plane %.3f µm", i, x, y,
                      json_object_get_string_member (tile, "focus"), focus,
                      em_test_scope_focal_plane (&scope, x, y));
      g_assert_cmpstr (json_object_get_string_member (tile, "focus"), ==, expected[i]);
      g_assert_cmpint (json_object_get_boolean_member (tile, "refocused"), ==, found);
      g_assert_cmpint (json_object_has_member (tile, "autofocus_score"), ==, found);
      g_assert_cmpint (json_object_has_member (tile, "focus_reason"), ==, !found);
      g_assert_true (g_file_test (json_object_get_string_member (tile, "path"), G_FILE_TEST_IS_REGULAR));
      if (found)
        g_assert_cmpfloat (fabs (focus - em_test_scope_focal_plane (&scope, x, y)), <, 1.0);
      else
        /* the focus the first tile found, not wherever the search ended */
        g_assert_cmpfloat (focus, ==, first_focus);
    }

  em_test_scope_clear (&scope);
}

/* a cancel during a refocus is no empty field: the scan stops there */
static void
test_cancel_during_autofocus (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *directory = NULL;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  em_test_scope_move_focus (&scope, em_test_scope_focal_plane (&scope, 0.0, 0.0));
  /* the first tile needs no move; its refocus is 30 % to 70 % of it, 15 % to
   * 35 % of the scan */
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 50, \"nx\": 2,"
                                     " \"autofocus_every\": 1}",
                                     0.25, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (em_focus_is_moving (scope.focus));
  directory = g_build_filename (scope.data_dir, "images", "scan", NULL);
  g_assert_false (g_file_test (directory, G_FILE_TEST_EXISTS));

  em_test_scope_clear (&scope);
}

static void
test_cancel_during_move (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  EmStagePosition position;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  /* 400 µm at 400 µm/s between tiles; the move is the first 30 % of a tile's
   * progress, so this cancels about half-way to the second tile */
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 400, \"nx\": 3,"
                                     " \"speed\": 400, \"exposure\": 2}",
                                     1.0 / 3.0 + 0.05, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* the stage stopped where it was, on the way to the second tile */
  g_assert_false (em_stage_is_moving (scope.stage));
  g_assert_false (em_camera_is_capturing (scope.camera));
  em_stage_get_position (scope.stage, &position);
  g_test_message ("stopped at x = %g µm", position.x);
  g_assert_cmpfloat (position.x, >, 0.0);
  g_assert_cmpfloat (position.x, <, 400.0);
  em_test_run_for (100);
  g_assert_false (em_stage_is_moving (scope.stage));

  first = g_build_filename (scope.data_dir, "images", "scan", "tile-r000-c000.png", NULL);
  second = g_build_filename (scope.data_dir, "images", "scan", "tile-r000-c001.png", NULL);
  g_assert_true (g_file_test (first, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (second, G_FILE_TEST_EXISTS));

  em_test_scope_clear (&scope);
}

/* a cancel while a tile is exposed: that tile leaves neither image nor
 * sidecar, the ones before stay */
static void
test_cancel_during_capture (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *directory = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;
  guint files = 0;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  /* a long exposure: the capture is 70 % of each tile, 10 % to 33 % of the
   * scan for the first, 43 % to 67 % for the second */
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 0, \"origin_y\": 0, \"step_x\": 40, \"nx\": 3,"
                                     " \"speed\": 10000, \"exposure\": 300}",
                                     0.5, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (em_camera_is_capturing (scope.camera));
  em_test_run_for (200);

  directory = g_build_filename (scope.data_dir, "images", "scan", NULL);
  dir = g_dir_open (directory, 0, NULL);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_test_message ("%s", name);
      g_assert_true (g_str_has_prefix (name, "tile-r000-c000."));
      files++;
    }
  /* the image and its sidecar */
  g_assert_cmpuint (files, ==, 2);

  em_test_scope_clear (&scope);
}

/* a disk that takes no more: the first tile cannot be written, and the scan
 * leaves no empty directory of its own behind */
static void
test_first_tile_fails (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *images = NULL;
  g_autofree char *directory = NULL;
  g_autoptr(GDir) dir = NULL;
  struct rlimit saved, full;
  void (*saved_handler) (int);

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  images = g_build_filename (scope.data_dir, "images", NULL);
  directory = g_build_filename (images, "scan", NULL);

  /* writes past 1 KiB fail with EFBIG, as a full disk's do with ENOSPC */
  saved_handler = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  full = saved;
  full.rlim_cur = 1024;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &full), ==, 0);
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"step_x\": 40, \"nx\": 3, \"exposure\": 2}",
                                     2.0, NULL, &error);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  signal (SIGXFSZ, saved_handler);

  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  /* which tile, and the reason after it */
  g_assert_true (g_str_has_prefix (error->message, "Tile at row 0, column 0 (1 of 3): Cannot write image "));
  g_assert_false (g_file_test (directory, G_FILE_TEST_EXISTS));
  /* nor anything else: no sidecar, no temporary file */
  dir = g_dir_open (images, 0, NULL);
  g_assert_true (dir == NULL || g_dir_read_name (dir) == NULL);

  em_test_scope_clear (&scope);
}

/* a link another user planted where the scan's directory goes, or as
 * images/ itself above it (@data: the link, below the data directory): the
 * scan fails, saying so, and writes nothing where the link points. Only root
 * can make a link owned by another user */
static void
test_foreign_link (gconstpointer data)
{
  const char *link_name = data;
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *link = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *elsewhere = NULL;
  g_autoptr(GDir) dir = NULL;

  if (geteuid () != 0)
    {
      g_test_skip ("making a link owned by another user needs root");
      return;
    }
  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  link = g_build_filename (scope.data_dir, link_name, NULL);
  parent = g_path_get_dirname (link);
  elsewhere = g_build_filename (scope.data_dir, "elsewhere", NULL);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0750), ==, 0);
  g_assert_cmpint (g_mkdir (elsewhere, 0750), ==, 0);
  g_assert_cmpint (symlink (elsewhere, link), ==, 0);
  g_assert_cmpint (lchown (link, 65534, 65534), ==, 0);

  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"step_x\": 40, \"nx\": 2, \"exposure\": 2}",
                                     2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "symbolic link"));
  g_assert_nonnull (strstr (error->message, link));
  dir = g_dir_open (elsewhere, 0, NULL);
  g_assert_nonnull (dir);
  g_assert_null (g_dir_read_name (dir));

  em_test_scope_clear (&scope);
}

/* images/ linked to another disk by the service's own user: followed */
static void
test_directory_is_own_link (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *images = NULL;
  g_autofree char *elsewhere = NULL;
  g_autofree char *written = NULL;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  images = g_build_filename (scope.data_dir, "images", NULL);
  elsewhere = g_build_filename (scope.data_dir, "other-disk", NULL);
  g_assert_cmpint (g_mkdir (elsewhere, 0750), ==, 0);
  g_assert_cmpint (symlink (elsewhere, images), ==, 0);

  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"step_x\": 40, \"nx\": 2, \"exposure\": 2}",
                                     2.0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  written = g_build_filename (elsewhere, "scan", NULL);
  g_assert_true (g_file_test (written, G_FILE_TEST_IS_DIR));

  em_test_scope_clear (&scope);
}

static void
test_outside_travel (void)
{
  EmTestScope scope;
  g_autoptr(EmAction) action = em_tile_scan_action_new ();
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  EmStagePosition position;

  em_test_scope_init (&scope, NULL, WIDTH, HEIGHT);
  /* the last column would be past the end of x: refused before any move */
  result = em_test_scope_run_action (&scope, action, "scan",
                                     "{\"origin_x\": 49900, \"step_x\": 100, \"nx\": 3}",
                                     2.0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s", error->message);
  em_stage_get_position (scope.stage, &position);
  g_assert_cmpfloat (position.x, ==, 0.0);

  em_test_scope_clear (&scope);
}

/* a step so large that the grid's far edge is no number: refused at
 * submission, naming the step, not "x is not a finite number" at run time */
static void
test_grid_past_any_position (void)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmEngineManager) manager = NULL;
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autoptr(GError) wide = NULL;
  g_autoptr(GError) tall = NULL;
  g_autoptr(GError) far_origin = NULL;
  g_autoptr(GError) large = NULL;

  em_builtin_actions_register (registry);
  manager = em_engine_manager_new (registry, NULL, data_dir);

  wide = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\","
                                  " \"parameters\": {\"step_x\": 1e308, \"nx\": 3}}");
  g_assert_error (wide, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s", wide->message);
  g_assert_true (g_str_has_prefix (wide->message, "parameters.step_x is too large"));
  /* step_y defaults to step_x: that is the one to change */
  tall = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\","
                                  " \"parameters\": {\"step_x\": 1e308, \"ny\": 3}}");
  g_assert_error (tall, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (tall->message, "parameters.step_x is too large"));
  g_assert_nonnull (strstr (tall->message, "parameters.ny"));
  far_origin = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\","
                                        " \"parameters\": {\"step_x\": 1, \"step_y\": 1e308,"
                                        " \"origin_y\": 1e308, \"ny\": 2}}");
  g_assert_error (far_origin, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (far_origin->message, "parameters.step_y is too large"));
  /* merely outside the travel is the run's to say */
  large = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\","
                                   " \"parameters\": {\"step_x\": 1e300, \"nx\": 3}}");
  g_assert_no_error (large);
}

static void
test_claims (void)
{
  g_autoptr(EmAction) action = em_tile_scan_action_new ();

  g_assert_cmpstr (em_action_get_name (action), ==, "tile_scan");
  /* the whole run holds every device it touches */
  g_assert_cmpint (em_action_get_claims (action), ==,
                   EM_DEVICE_KIND_STAGE | EM_DEVICE_KIND_CAMERA | EM_DEVICE_KIND_FOCUS);
}

/* a grid that starts where the stage is would start, run again after failing
 * part-way, where the stage stopped: retries need an origin, and no refocus */
static void
test_retry_needs_origin (void)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmEngineManager) manager = NULL;
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autoptr(GError) no_origin = NULL;
  g_autoptr(GError) half_origin = NULL;
  g_autoptr(GError) with_origin = NULL;
  g_autoptr(GError) with_autofocus = NULL;
  g_autoptr(GError) no_autofocus = NULL;

  em_builtin_actions_register (registry);
  manager = em_engine_manager_new (registry, NULL, data_dir);

  no_origin = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\", \"max_retries\": 2,"
                                       " \"parameters\": {\"step_x\": 40, \"nx\": 3}}");
  g_assert_error (no_origin, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (no_origin->message, "max_retries"));
  g_assert_nonnull (strstr (no_origin->message, "parameters.origin_x and parameters.origin_y are needed"));
  half_origin = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\", \"max_retries\": 2,"
                                         " \"parameters\": {\"step_x\": 40, \"nx\": 3, \"origin_x\": 0}}");
  g_assert_error (half_origin, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (half_origin->message, "parameters.origin_y is needed"));
  with_origin = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\", \"max_retries\": 2,"
                                         " \"parameters\": {\"step_x\": 40, \"nx\": 3,"
                                         " \"origin_x\": 0, \"origin_y\": 0}}");
  g_assert_no_error (with_origin);
  /* every refocus is centred on the focus's position, wherever a failed
   * attempt left it */
  with_autofocus = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\", \"max_retries\": 2,"
                                            " \"parameters\": {\"step_x\": 40, \"nx\": 3,"
                                            " \"origin_x\": 0, \"origin_y\": 0, \"autofocus_every\": 2}}");
  g_assert_error (with_autofocus, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (with_autofocus->message, "max_retries"));
  g_assert_nonnull (strstr (with_autofocus->message, "parameters.autofocus_every must be 0"));
  no_autofocus = em_test_schedule_error (manager, "{\"name\": \"s\", \"action\": \"tile_scan\", \"max_retries\": 2,"
                                          " \"parameters\": {\"step_x\": 40, \"nx\": 3,"
                                          " \"origin_x\": 0, \"origin_y\": 0, \"autofocus_every\": 0}}");
  g_assert_no_error (no_autofocus);

  em_engine_manager_shutdown (manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (manager), 5000);
  g_clear_object (&manager);
  em_test_rmdir (data_dir);
}

/* a row of up to 10 000 tiles: names sort as the grid, and the usual grids
 * keep three digits */
static void
test_names_sort (void)
{
  g_autofree char *small = em_tile_scan_tile_name (2, 15, 3, 20, "png");
  g_autofree char *largest_small = em_tile_scan_tile_name (0, 999, 1000, 1, "png");
  g_autofree char *before = em_tile_scan_tile_name (0, 999, 1200, 1, "tiff");
  g_autofree char *thousandth = em_tile_scan_tile_name (0, 1000, 1200, 1, "tiff");
  g_autofree char *widest = em_tile_scan_tile_name (9999, 0, 1, 10000, "png");

  g_assert_cmpstr (small, ==, "tile-r002-c015.png");
  g_assert_cmpstr (largest_small, ==, "tile-r000-c999.png");
  g_assert_cmpstr (before, ==, "tile-r0000-c0999.tiff");
  g_assert_cmpstr (thousandth, ==, "tile-r0000-c1000.tiff");
  g_assert_cmpint (strcmp (before, thousandth), <, 0);
  g_assert_cmpstr (widest, ==, "tile-r9999-c0000.png");
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tile-scan/names-sort", test_names_sort);
  g_test_add_func ("/tile-scan/claims", test_claims);
  g_test_add_func ("/tile-scan/retry-needs-origin", test_retry_needs_origin);
  g_test_add_func ("/tile-scan/grid", test_grid);
  g_test_add_func ("/tile-scan/autofocus", test_autofocus);
  g_test_add_func ("/tile-scan/autofocus-long-period", test_autofocus_long_period);
  g_test_add_func ("/tile-scan/autofocus-no-contrast", test_autofocus_no_contrast);
  g_test_add_func ("/tile-scan/autofocus-min-contrast", test_autofocus_min_contrast);
  g_test_add_func ("/tile-scan/autofocus-clipped-fails", test_autofocus_clipped_fails);
  g_test_add_func ("/tile-scan/autofocus-no-contrast-translated", test_autofocus_no_contrast_translated);
  g_test_add_func ("/tile-scan/autofocus-empty-tiles", test_autofocus_empty_tiles);
  g_test_add_func ("/tile-scan/cancel-during-autofocus", test_cancel_during_autofocus);
  g_test_add_func ("/tile-scan/cancel-during-move", test_cancel_during_move);
  g_test_add_func ("/tile-scan/cancel-during-capture", test_cancel_during_capture);
  g_test_add_func ("/tile-scan/first-tile-fails", test_first_tile_fails);
  g_test_add_func ("/tile-scan/outside-travel", test_outside_travel);
  g_test_add_func ("/tile-scan/grid-past-any-position", test_grid_past_any_position);
  g_test_add_data_func ("/tile-scan/directory-is-foreign-link", "images/scan", test_foreign_link);
  g_test_add_func ("/tile-scan/directory-is-own-link", test_directory_is_own_link);
  g_test_add_data_func ("/tile-scan/images-is-foreign-link", "images", test_foreign_link);

  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
