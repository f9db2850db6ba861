#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "actions/em-autofocus.h"
#include "actions/em-capture-to-file.h"
#include "actions/em-image-dir.h"
#include "actions/em-tile-scan-action.h"
#include "devices/em-device-set.h"
#include "engine/em-error.h"

#define MAX_EXPOSURE_MS 60000.0
#define MAX_TILES       10000

/* the progress of one tile: the move, then the autofocus when due, then the capture */
#define MOVE_SHARE      0.3
#define AUTOFOCUS_SHARE 0.4

struct _EmTileScanAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmTileScanAction, em_tile_scan_action, EM_TYPE_ACTION)

static const char *format_choices[] = { "png", "tiff", NULL };
static const char *metric_choices[] = { "laplacian", "brenner", NULL };

static const EmParamSpec tile_scan_params[] = {
  {
    .name = "origin_x",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Stage x of the first tile; the current x when absent"),
  },
  {
    .name = "origin_y",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Stage y of the first tile; the current y when absent"),
  },
  {
    .name = "step_x",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Distance between columns"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
    .required = TRUE,
  },
  {
    .name = "step_y",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Distance between rows; step_x when absent"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
  },
  {
    .name = "nx",
    .type = EM_PARAM_INTEGER,
    .description = N_("Number of columns"),
    .has_minimum = TRUE,
    .minimum = 1,
    .has_maximum = TRUE,
    .maximum = MAX_TILES,
    .default_value = "1",
  },
  {
    .name = "ny",
    .type = EM_PARAM_INTEGER,
    .description = N_("Number of rows"),
    .has_minimum = TRUE,
    .minimum = 1,
    .has_maximum = TRUE,
    .maximum = MAX_TILES,
    .default_value = "1",
  },
  {
    .name = "serpentine",
    .type = EM_PARAM_BOOLEAN,
    .description = N_("Whether every other row runs backwards, to travel less"),
    .default_value = "true",
  },
  {
    .name = "exposure",
    .type = EM_PARAM_NUMBER,
    .unit = "ms",
    .description = N_("Exposure time of each tile"),
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
    .description = N_("Sensor gain, in the camera's own unit"),
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
  {
    .name = "speed",
    .type = EM_PARAM_NUMBER,
    .unit = "µm/s",
    .description = N_("Stage speed; the stage's default speed when absent"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
  },
  {
    .name = "autofocus_every",
    .type = EM_PARAM_INTEGER,
    .unit = "tiles",
    .description = N_("Autofocus before the first tile and then every this many tiles; 0 never"),
    .has_minimum = TRUE,
    .minimum = 0,
    .default_value = "0",
  },
  {
    .name = "autofocus_range",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Full width of each autofocus search, around the current focus"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
    .has_maximum = TRUE,
    .maximum = EM_AUTOFOCUS_MAX_RANGE,
    .default_value = "20",
  },
  {
    .name = "autofocus_step",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Coarse step of each autofocus search"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
    .default_value = "4",
  },
  {
    .name = "autofocus_tolerance",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Tolerance of each autofocus search"),
    .has_minimum = TRUE,
    .minimum = 0.01,
    .default_value = "0.5",
  },
  {
    .name = "autofocus_metric",
    .type = EM_PARAM_STRING,
    .description = N_("Sharpness score of each autofocus search"),
    .choices = metric_choices,
    .default_value = "\"brenner\"",
  },
  {
    .name = "autofocus_min_contrast",
    .type = EM_PARAM_NUMBER,
    .unit = "× noise",
    .description = N_("How many times the camera's noise the sharpest frame of each autofocus search must "
                      "stand above the rest; a lower peak leaves that tile at the focus it had"),
    .has_minimum = TRUE,
    .minimum = EM_AUTOFOCUS_MIN_MIN_CONTRAST,
    .has_maximum = TRUE,
    .maximum = EM_AUTOFOCUS_MAX_MIN_CONTRAST,
    .default_value = "5",
  },
};

typedef struct
{
  EmActionContext     *context;
  EmDeviceSet         *devices;
  char                *images_dir;
  char                *directory;
  EmImageFormat        format;
  gdouble              exposure_ms;
  gdouble              gain;
  gdouble              speed;
  guint                nx;
  guint                ny;
  gboolean             serpentine;
  gdouble              origin_x;
  gdouble              origin_y;
  gdouble              step_x;
  gdouble              step_y;
  gdouble              z;
  guint                autofocus_every;
  EmAutofocusSettings  autofocus;

  guint                index;
  gboolean             refocused;
  /* the tile in hand: "found", "no_contrast" (with the autofocus's message)
   * or "kept" when no refocus was due */
  const char          *focus_state;
  char                *focus_reason;
  guint                no_contrast;
  JsonObject          *focus_result;
  JsonArray           *tiles;
  GError              *error;
} Scan;

static void
scan_free (gpointer data)
{
  Scan *scan = data;

  g_clear_object (&scan->devices);
  g_free (scan->images_dir);
  g_free (scan->directory);
  g_free (scan->focus_reason);
  g_clear_pointer (&scan->focus_result, json_object_unref);
  g_clear_pointer (&scan->tiles, json_array_unref);
  g_clear_error (&scan->error);
  g_free (scan);
}

/* the far edge of the grid along one axis: a step that large is a slip of
 * the unit, and the corner check that names the axis cannot say which
 * parameter overflowed */
static gboolean
check_extent (EmAction    *action,
              JsonObject  *parameters,
              const char  *origin_key,
              const char  *step_key,
              const char  *count_key,
              GError     **error)
{
  /* step_y defaults to step_x */
  const char *step_name = em_action_param_has (parameters, step_key) ? step_key : "step_x";
  gdouble count = em_action_param_double (action, parameters, count_key);
  gdouble step = em_action_param_double (action, parameters, step_name);
  gdouble origin = em_action_param_has (parameters, origin_key)
                     ? em_action_param_double (action, parameters, origin_key) : 0.0;

  if (isfinite (origin + (count - 1) * step))
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("parameters.%s is too large: parameters.%s + (parameters.%s − 1) × parameters.%s "
                 "lies past any stage position"),
               step_name, origin_key, count_key, step_name);
  return FALSE;
}

static gboolean
em_tile_scan_action_validate (EmAction    *action,
                              JsonObject  *parameters,
                              GError     **error)
{
  gdouble nx = em_action_param_double (action, parameters, "nx");
  gdouble ny = em_action_param_double (action, parameters, "ny");
  gdouble range = em_action_param_double (action, parameters, "autofocus_range");
  gdouble step = em_action_param_double (action, parameters, "autofocus_step");
  gdouble tolerance = em_action_param_double (action, parameters, "autofocus_tolerance");

  if (nx * ny > MAX_TILES)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.nx × parameters.ny must be at most %d tiles"), MAX_TILES);
      return FALSE;
    }
  if (!check_extent (action, parameters, "origin_x", "step_x", "nx", error) ||
      !check_extent (action, parameters, "origin_y", "step_y", "ny", error))
    return FALSE;
  return em_autofocus_check_search (range, step, tolerance, "autofocus_range", "autofocus_step",
                                    "autofocus_tolerance", error);
}

static void
tile_position (Scan *scan, guint index, guint *out_row, guint *out_column, EmStagePosition *out_position)
{
  guint row = index / scan->nx;
  guint column = index % scan->nx;

  if (scan->serpentine && row % 2 == 1)
    column = scan->nx - 1 - column;
  *out_row = row;
  *out_column = column;
  out_position->x = scan->origin_x + column * scan->step_x;
  out_position->y = scan->origin_y + row * scan->step_y;
  out_position->z = scan->z;
}

static gboolean
autofocus_due (Scan *scan)
{
  return scan->autofocus_every > 0 && scan->index % scan->autofocus_every == 0;
}

static void
report (Scan *scan, gdouble within_tile)
{
  gdouble total = scan->nx * scan->ny;

  em_action_context_report_progress (scan->context, MIN ((scan->index + within_tile) / total, 1.0));
}

static void
move_progress_cb (gdouble fraction, gpointer user_data)
{
  report (user_data, fraction * MOVE_SHARE);
}

static void
autofocus_progress_cb (gdouble fraction, gpointer user_data)
{
  report (user_data, MOVE_SHARE + fraction * AUTOFOCUS_SHARE);
}

static void
capture_progress_cb (gdouble fraction, gpointer user_data)
{
  Scan *scan = user_data;
  gdouble start = autofocus_due (scan) ? MOVE_SHARE + AUTOFOCUS_SHARE : MOVE_SHARE;

  report (scan, start + fraction * (1.0 - start));
}

static void next_tile (GTask *task);

static void
cleaned_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Scan *scan = g_task_get_task_data (task);

  em_image_dir_remove_empty_finish (result);
  g_task_return_error (task, g_steal_pointer (&scan->error));
}

/* takes @task and @error; a scan that wrote no tile leaves no empty directory,
 * as a failed capture_image leaves no file; the file system is the worker's */
static void
fail (GTask *task, GError *error)
{
  Scan *scan = g_task_get_task_data (task);

  /* "Camera error: …" alone does not say which of thousands of tiles */
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && scan->index < scan->nx * scan->ny)
    {
      guint row, column;
      EmStagePosition position;

      tile_position (scan, scan->index, &row, &column, &position);
      g_prefix_error (&error, _("Tile at row %u, column %u (%u of %u): "), row, column,
                      scan->index + 1, scan->nx * scan->ny);
    }

  if (json_array_get_length (scan->tiles) > 0)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  scan->error = error;
  em_image_dir_remove_empty_async (scan->directory, cleaned_cb, task);
}

static void
captured_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Scan *scan = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  JsonObject *tile = em_capture_to_file_finish (result, &error);
  guint row, column;
  EmStagePosition position;

  if (tile == NULL)
    {
      fail (g_steal_pointer (&task), g_steal_pointer (&error));
      return;
    }

  tile_position (scan, scan->index, &row, &column, &position);
  json_object_set_int_member (tile, "index", scan->index);
  json_object_set_int_member (tile, "row", row);
  json_object_set_int_member (tile, "column", column);
  json_object_set_double_member (tile, "x", position.x);
  json_object_set_double_member (tile, "y", position.y);
  json_object_set_boolean_member (tile, "refocused", scan->refocused);
  json_object_set_string_member (tile, "focus", scan->focus_state);
  if (scan->focus_reason != NULL)
    json_object_set_string_member (tile, "focus_reason", scan->focus_reason);
  if (scan->refocused && scan->focus_result != NULL)
    json_object_set_double_member (tile, "autofocus_score",
                                   json_object_get_double_member (scan->focus_result, "best_score"));
  json_array_add_object_element (scan->tiles, tile);

  scan->index++;
  report (scan, 0.0);
  next_tile (g_steal_pointer (&task));
}

char *
em_tile_scan_tile_name (guint row, guint column, guint nx, guint ny, const char *extension)
{
  guint largest = MAX (MAX (nx, ny), 1) - 1;
  int width = 3;

  for (guint limit = 1000; largest >= limit && width < 10; limit *= 10)
    width++;
  return g_strdup_printf ("tile-r%0*u-c%0*u.%s", width, row, width, column, extension);
}

static void
capture_tile (GTask *task)
{
  Scan *scan = g_task_get_task_data (task);
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  guint row, column;
  EmStagePosition position;

  tile_position (scan, scan->index, &row, &column, &position);
  name = em_tile_scan_tile_name (row, column, scan->nx, scan->ny,
                                 em_image_format_to_string (scan->format));
  path = g_build_filename (scan->directory, name, NULL);
  em_capture_to_file_async (scan->devices, scan->exposure_ms, scan->gain, scan->format,
                            scan->images_dir, path,
                            g_task_get_cancellable (task), capture_progress_cb, scan,
                            captured_cb, task);
}

static void
focused_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Scan *scan = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  g_clear_pointer (&scan->focus_result, json_object_unref);
  scan->focus_result = em_autofocus_run_finish (result, &error);
  if (scan->focus_result == NULL)
    {
      /* an empty field, or one too far from the focus: the autofocus has put
       * the focus back where the search began. Any other failure (a device,
       * a cancellation, a range outside the travel) ends the scan */
      if (!em_autofocus_found_no_contrast (result))
        {
          fail (g_steal_pointer (&task), g_steal_pointer (&error));
          return;
        }
      /* one empty field does not end a scan of thousands: the tile is taken
       * at the focus it had before, the last one found or the starting one,
       * and the result says which tiles those were */
      g_debug ("tile_scan: tile %u of %u: %s", scan->index + 1, scan->nx * scan->ny, error->message);
      scan->focus_state = "no_contrast";
      scan->focus_reason = g_strdup (error->message);
      scan->no_contrast++;
      capture_tile (g_steal_pointer (&task));
      return;
    }
  scan->refocused = TRUE;
  scan->focus_state = "found";
  capture_tile (g_steal_pointer (&task));
}

static void
moved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Scan *scan = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GError) error = NULL;
  EmFocus *focus = em_device_set_get_focus (scan->devices);

  if (!em_stage_move_finish (EM_STAGE (source), result, &error))
    {
      fail (g_steal_pointer (&task), g_steal_pointer (&error));
      return;
    }

  scan->refocused = FALSE;
  scan->focus_state = "kept";
  g_clear_pointer (&scan->focus_reason, g_free);
  if (autofocus_due (scan))
    {
      /* around where the focus is now: the slide's tilt moves the plane slowly */
      scan->autofocus.center = em_focus_get_position (focus);
      em_autofocus_run_async (em_device_set_get_camera (scan->devices), focus, &scan->autofocus,
                              cancellable, autofocus_progress_cb, scan,
                              focused_cb, g_steal_pointer (&task));
      return;
    }
  capture_tile (g_steal_pointer (&task));
}

static JsonObject *
build_result (Scan *scan)
{
  JsonObject *result = json_object_new ();

  json_object_set_string_member (result, "directory", scan->directory);
  json_object_set_int_member (result, "nx", scan->nx);
  json_object_set_int_member (result, "ny", scan->ny);
  json_object_set_int_member (result, "count", json_array_get_length (scan->tiles));
  json_object_set_int_member (result, "no_contrast", scan->no_contrast);
  json_object_set_array_member (result, "tiles", json_array_ref (scan->tiles));
  return result;
}

/* takes @task */
static void
next_tile (GTask *task)
{
  Scan *scan = g_task_get_task_data (task);
  EmStagePosition target;
  guint row, column;
  GError *error = NULL;

  /* between tiles: a cancel that arrived while a file was written stops here */
  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    {
      fail (task, error);
      return;
    }
  if (scan->index == scan->nx * scan->ny)
    {
      g_task_return_pointer (task, build_result (scan), (GDestroyNotify) json_object_unref);
      g_object_unref (task);
      return;
    }

  tile_position (scan, scan->index, &row, &column, &target);
  em_stage_move_async (em_device_set_get_stage (scan->devices), &target, scan->speed,
                       g_task_get_cancellable (task), move_progress_cb, scan,
                       moved_cb, task);
}

static void
em_tile_scan_action_run_async (EmAction            *action,
                               EmActionContext     *context,
                               JsonObject          *parameters,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (action, cancellable, callback, user_data);
  EmDeviceSet *devices = em_action_context_get_devices (context);
  const char *data_dir = em_action_context_get_data_dir (context);
  EmStage *stage = devices != NULL ? em_device_set_get_stage (devices) : NULL;
  EmFocus *focus = devices != NULL ? em_device_set_get_focus (devices) : NULL;
  EmStagePosition current;
  Scan *scan;

  g_task_set_source_tag (task, em_tile_scan_action_run_async);

  if (devices == NULL || em_device_set_get_camera (devices) == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No camera is configured"));
      return;
    }
  if (stage == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No stage is configured"));
      return;
    }
  if (data_dir == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE,
                               _("No data directory is configured for images"));
      return;
    }

  scan = g_new0 (Scan, 1);
  g_task_set_task_data (task, scan, scan_free);
  scan->context = context;
  scan->devices = g_object_ref (devices);
  scan->images_dir = g_build_filename (data_dir, "images", NULL);
  scan->directory = g_build_filename (scan->images_dir, em_action_context_get_task_id (context), NULL);
  scan->tiles = json_array_new ();
  if (!em_image_format_from_string (em_action_param_string (action, parameters, "format"), &scan->format))
    scan->format = EM_IMAGE_FORMAT_PNG;
  scan->exposure_ms = em_action_param_double (action, parameters, "exposure");
  scan->gain = em_action_param_double (action, parameters, "gain");
  if (em_action_param_has (parameters, "speed"))
    scan->speed = em_action_param_double (action, parameters, "speed");
  scan->nx = (guint) em_action_param_double (action, parameters, "nx");
  scan->ny = (guint) em_action_param_double (action, parameters, "ny");
  scan->serpentine = em_action_param_boolean (action, parameters, "serpentine");

  em_stage_get_position (stage, &current);
  scan->origin_x = em_action_param_has (parameters, "origin_x")
                     ? em_action_param_double (action, parameters, "origin_x") : current.x;
  scan->origin_y = em_action_param_has (parameters, "origin_y")
                     ? em_action_param_double (action, parameters, "origin_y") : current.y;
  scan->z = current.z;
  scan->step_x = em_action_param_double (action, parameters, "step_x");
  scan->step_y = em_action_param_has (parameters, "step_y")
                   ? em_action_param_double (action, parameters, "step_y") : scan->step_x;

  /* no upper bound is documented: a period of at least the tile count means
   * before the first tile only, and converting more would wrap */
  scan->autofocus_every = (guint) MIN (em_action_param_double (action, parameters, "autofocus_every"),
                                       MAX_TILES);
  scan->autofocus.range = em_action_param_double (action, parameters, "autofocus_range");
  scan->autofocus.coarse_step = em_action_param_double (action, parameters, "autofocus_step");
  scan->autofocus.tolerance = em_action_param_double (action, parameters, "autofocus_tolerance");
  if (!em_focus_metric_from_string (em_action_param_string (action, parameters, "autofocus_metric"),
                                    &scan->autofocus.metric))
    scan->autofocus.metric = EM_FOCUS_METRIC_BRENNER;
  scan->autofocus.min_contrast = em_action_param_double (action, parameters, "autofocus_min_contrast");
  scan->autofocus.exposure_ms = scan->exposure_ms;
  scan->autofocus.gain = scan->gain;

  if (scan->autofocus_every > 0 && focus == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No focus drive is configured"));
      return;
    }

  /* a scan that would run off the travel fails before it moves at all */
  for (guint corner = 0; corner < 4; corner++)
    {
      g_autoptr(GError) error = NULL;
      EmStagePosition target = {
        .x = scan->origin_x + ((corner & 1) ? (scan->nx - 1) * scan->step_x : 0.0),
        .y = scan->origin_y + ((corner & 2) ? (scan->ny - 1) * scan->step_y : 0.0),
        .z = scan->z,
      };

      if (!em_stage_check_target (stage, &target, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
    }

  next_tile (g_steal_pointer (&task));
}


/* without an origin the grid starts where the stage is: run again after
 * failing part-way, it would start where the stage stopped, another grid,
 * and write its tiles over the first one's under the same names. Each
 * refocus searches around where the focus is, so a retry would begin its
 * first search wherever the failed attempt left the focus */
static gboolean
em_tile_scan_action_is_retry_safe (EmAction *action, JsonObject *parameters, GError **error)
{
  gboolean has_x = em_action_param_has (parameters, "origin_x");
  gboolean has_y = em_action_param_has (parameters, "origin_y");

  if (!has_x && !has_y)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("parameters.origin_x and parameters.origin_y are needed: without "
                             "them a retry starts its grid where the stage stopped"));
      return FALSE;
    }
  if (!has_x || !has_y)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s is needed: without it a retry starts its grid where the stage stopped"),
                   !has_x ? "parameters.origin_x" : "parameters.origin_y");
      return FALSE;
    }
  if (em_action_param_double (action, parameters, "autofocus_every") != 0)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("parameters.autofocus_every must be 0: a retry would refocus "
                             "around where the focus stopped"));
      return FALSE;
    }
  return TRUE;
}

static void
em_tile_scan_action_class_init (EmTileScanActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->validate = em_tile_scan_action_validate;
  action_class->run_async = em_tile_scan_action_run_async;
  action_class->is_retry_safe = em_tile_scan_action_is_retry_safe;
}

static void
em_tile_scan_action_init (EmTileScanAction *self)
{
  em_action_set_info (EM_ACTION (self), "tile_scan",
                      N_("Image a grid of tiles: move the stage to each, optionally refocus, and capture"),
                      EM_DEVICE_KIND_STAGE | EM_DEVICE_KIND_CAMERA | EM_DEVICE_KIND_FOCUS,
                      tile_scan_params, G_N_ELEMENTS (tile_scan_params));
}

EmAction *
em_tile_scan_action_new (void)
{
  return g_object_new (EM_TYPE_TILE_SCAN_ACTION, NULL);
}
