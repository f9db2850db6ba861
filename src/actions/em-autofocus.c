#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "actions/em-autofocus.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"

/* positions closer than this are the same sample */
#define SAME_POSITION 1e-6
/* frames taken again near the best coarse position to measure the noise; a
 * short sweep shows too little of the noise itself, so it takes more */
#define N_REPEATS        2
#define N_REPEATS_SHORT  4
#define SHORT_SWEEP      8

typedef struct {
  gdouble position;
  gdouble score;
} Sample;

typedef struct {
  EmCamera            *camera;
  EmFocus             *focus;
  EmAutofocusSettings  settings;
  EmProgressFunc       progress;
  gpointer             progress_data;

  gdouble              start_position;
  gdouble              low;
  gdouble              high;
  gdouble              step;
  GArray              *todo;      /* gdouble: positions still to sample */
  GArray              *samples;   /* Sample */
  gdouble              target;
  gboolean             checked;   /* the coarse peak was weighed against the noise */
  GArray              *repeats;   /* gdouble: scores of the frames taken again */
  gdouble              ratio;     /* peak over noise, once checked */
  gboolean             no_contrast; /* failed because no frame stood out */
  gboolean             repeating; /* the frame in flight is a repeat */
  guint                n_repeats;
  gdouble              final_position;
  guint                done;
  guint                planned;
} Autofocus;

static void
autofocus_free (gpointer data)
{
  Autofocus *af = data;

  g_clear_object (&af->camera);
  g_clear_object (&af->focus);
  g_array_unref (af->todo);
  g_array_unref (af->samples);
  g_array_unref (af->repeats);
  g_free (af);
}

static gboolean
already_sampled (Autofocus *af, gdouble position)
{
  for (guint i = 0; i < af->samples->len; i++)
    if (fabs (g_array_index (af->samples, Sample, i).position - position) < SAME_POSITION)
      return TRUE;
  return FALSE;
}

static const Sample *
best_sample (Autofocus *af)
{
  const Sample *best = NULL;

  for (guint i = 0; i < af->samples->len; i++)
    {
      const Sample *sample = &g_array_index (af->samples, Sample, i);

      if (best == NULL || sample->score > best->score)
        best = sample;
    }
  return best;
}

static const Sample *
sample_at (Autofocus *af, gdouble position)
{
  for (guint i = 0; i < af->samples->len; i++)
    {
      const Sample *sample = &g_array_index (af->samples, Sample, i);

      if (fabs (sample->position - position) < SAME_POSITION)
        return sample;
    }
  return NULL;
}

static void
queue (Autofocus *af, gdouble position)
{
  if (position < af->low - SAME_POSITION || position > af->high + SAME_POSITION ||
      already_sampled (af, position))
    return;
  position = CLAMP (position, af->low, af->high);
  g_array_append_val (af->todo, position);
}

/* the peak of the parabola through the best sample and its neighbours at ±step,
 * kept within ±step: the true peak lies there */
static gdouble
peak_position (Autofocus *af)
{
  const Sample *best = best_sample (af);
  const Sample *below;
  const Sample *above;
  gdouble curvature;
  gdouble offset;

  if (best == NULL)
    return af->settings.center;
  below = sample_at (af, best->position - af->step);
  above = sample_at (af, best->position + af->step);
  if (below == NULL || above == NULL)
    return best->position;
  curvature = below->score - 2.0 * best->score + above->score;
  if (curvature >= 0.0)
    return best->position;
  offset = 0.5 * af->step * (below->score - above->score) / curvature;
  return best->position + CLAMP (offset, -af->step, af->step);
}

static gint
compare_samples (gconstpointer a, gconstpointer b)
{
  gdouble pa = ((const Sample *) a)->position;
  gdouble pb = ((const Sample *) b)->position;

  return (pa > pb) - (pa < pb);
}

static JsonObject *
build_result (Autofocus *af)
{
  JsonObject *result = json_object_new ();
  JsonObject *range = json_object_new ();
  JsonArray *curve = json_array_new ();
  const Sample *best = best_sample (af);
  g_autoptr(GArray) sorted = g_array_copy (af->samples);

  g_array_sort (sorted, compare_samples);
  for (guint i = 0; i < sorted->len; i++)
    {
      const Sample *sample = &g_array_index (sorted, Sample, i);
      JsonObject *point = json_object_new ();

      json_object_set_double_member (point, "position", sample->position);
      json_object_set_double_member (point, "score", sample->score);
      json_array_add_object_element (curve, point);
    }

  json_object_set_double_member (result, "best_position", af->final_position);
  json_object_set_double_member (result, "best_score", best != NULL ? best->score : 0.0);
  json_object_set_string_member (result, "metric", em_focus_metric_to_string (af->settings.metric));
  json_object_set_double_member (result, "start_position", af->start_position);
  json_object_set_double_member (range, "min", af->low);
  json_object_set_double_member (range, "max", af->high);
  json_object_set_object_member (result, "range", range);
  json_object_set_int_member (result, "samples", af->samples->len);
  json_object_set_array_member (result, "curve", curve);
  return result;
}

static void next_step (GTask *task);

/* a dark or blank field scores the same everywhere: no position is sharper */
static gboolean
curve_is_flat (Autofocus *af)
{
  if (af->samples->len < 2)
    return FALSE;
  for (guint i = 1; i < af->samples->len; i++)
    if (g_array_index (af->samples, Sample, i).score != g_array_index (af->samples, Sample, 0).score)
      return FALSE;
  return TRUE;
}

static gint
compare_doubles (gconstpointer a, gconstpointer b)
{
  gdouble da = *(const gdouble *) a;
  gdouble db = *(const gdouble *) b;

  return (da > db) - (da < db);
}

/* sorts @values */
static gdouble
median (GArray *values)
{
  guint n = values->len;

  g_array_sort (values, compare_doubles);
  if (n == 0)
    return 0.0;
  if (n % 2 == 1)
    return g_array_index (values, gdouble, n / 2);
  return 0.5 * (g_array_index (values, gdouble, n / 2 - 1) + g_array_index (values, gdouble, n / 2));
}

/* hundredths of the tolerance either side of the best coarse position: the
 * same picture to the search, yet a view of its own, so each frame carries
 * its own noise (the simulator draws the same noise for the same view) */
static gdouble
repeat_position (Autofocus *af, guint k)
{
  const Sample *sample = best_sample (af);
  gdouble best = sample != NULL ? sample->position : af->settings.center;
  gdouble offset = (k / 2 + 1) * af->settings.tolerance / 100.0;
  gdouble position = k % 2 == 0 ? best + offset : best - offset;

  /* at an end of the range, the other side */
  if (position > af->high || position < af->low)
    position = 2.0 * best - position;
  return CLAMP (position, af->low, af->high);
}

/* how far the best coarse frame and the frames taken again there stand above
 * the rest of the sweep, in units of the frame-to-frame noise of the score:
 * the spread of those frames, or (when larger) the spread the sweep shows away
 * from the peak. Noise alone gives a best frame whose repeats fall back. */
static gdouble
peak_over_noise (Autofocus *af)
{
  g_autoptr(GArray) sorted = g_array_copy (af->samples);
  g_autoptr(GArray) others = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GArray) curvature = g_array_new (FALSE, FALSE, sizeof (gdouble));
  gdouble best_score, mean = 0.0, variance = 0.0, repeated = 0.0, noise, rise;
  guint best = 0;
  guint n;

  g_array_sort (sorted, compare_samples);
  n = sorted->len;
  for (guint i = 1; i < n; i++)
    if (g_array_index (sorted, Sample, i).score > g_array_index (sorted, Sample, best).score)
      best = i;
  best_score = g_array_index (sorted, Sample, best).score;
  for (guint i = 0; i < n; i++)
    if (i != best)
      g_array_append_val (others, g_array_index (sorted, Sample, i).score);

  /* the best frame and its repeats: one score, measured several times */
  mean = best_score;
  for (guint k = 0; k < af->repeats->len; k++)
    {
      repeated += g_array_index (af->repeats, gdouble, k);
      mean += g_array_index (af->repeats, gdouble, k);
    }
  repeated /= MAX (af->repeats->len, 1);
  mean /= af->repeats->len + 1;
  variance = (best_score - mean) * (best_score - mean);
  for (guint k = 0; k < af->repeats->len; k++)
    variance += pow (g_array_index (af->repeats, gdouble, k) - mean, 2.0);
  noise = af->repeats->len > 0 ? sqrt (variance / af->repeats->len) : 0.0;

  /* second differences clear of the peak see the noise, not a smooth curve;
   * their median absolute value is 0.6745 × √6 times the noise */
  for (guint i = 1; i + 1 < n; i++)
    if (i + 1 < best || i > best + 1)
      {
        gdouble d = g_array_index (sorted, Sample, i - 1).score - 2.0 * g_array_index (sorted, Sample, i).score +
                    g_array_index (sorted, Sample, i + 1).score;

        d = fabs (d);
        g_array_append_val (curvature, d);
      }
  if (curvature->len >= 3)
    noise = MAX (noise, median (curvature) / (0.6745 * sqrt (6.0)));

  rise = MIN (best_score, repeated) - median (others);
  g_debug ("autofocus: peak %g and repeats %g over the rest %g, noise %g: %.2f", best_score, repeated,
           median (others), noise, noise > 0.0 ? rise / noise : 0.0);
  if (noise == 0.0)
    return rise > 0.0 ? G_MAXDOUBLE : 0.0;
  return rise / noise;
}

static void
returned_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Autofocus *af = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  char low[G_ASCII_DTOSTR_BUF_SIZE];
  char high[G_ASCII_DTOSTR_BUF_SIZE];
  char start[G_ASCII_DTOSTR_BUF_SIZE];
  char score[G_ASCII_DTOSTR_BUF_SIZE];

  if (!em_focus_move_finish (EM_FOCUS (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (af->repeats->len > 0 && best_sample (af) != NULL)
    {
      const Sample *best = best_sample (af);
      gdouble lowest = best->score;
      char highest[G_ASCII_DTOSTR_BUF_SIZE];
      char ratio[G_ASCII_DTOSTR_BUF_SIZE];
      char needed[G_ASCII_DTOSTR_BUF_SIZE];

      for (guint i = 0; i < af->samples->len; i++)
        lowest = MIN (lowest, g_array_index (af->samples, Sample, i).score);
      af->no_contrast = TRUE;
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_FAILED,
                               _("Autofocus found no contrast: over the scores from %s to %s µm (%s to %s), "
                                 "the sharpest stands %s times the camera's noise above the rest where %s "
                                 "are needed; the focus is back at %s µm"),
                               em_json_format_double (low, af->low), em_json_format_double (high, af->high),
                               g_ascii_formatd (score, sizeof score, "%.3g", lowest),
                               g_ascii_formatd (highest, sizeof highest, "%.3g", best->score),
                               g_ascii_formatd (ratio, sizeof ratio, "%.1f", MAX (af->ratio, 0.0)),
                               em_json_format_double (needed, af->settings.min_contrast),
                               em_json_format_double (start, af->start_position));
      return;
    }
  /* the score as the result's curve gives it, with a point in any locale */
  af->no_contrast = TRUE;
  g_task_return_new_error (task, EM_ERROR, EM_ERROR_FAILED,
                           _("Autofocus found no contrast: every frame from %s to %s µm scored %s; "
                             "the focus is back at %s µm"),
                           em_json_format_double (low, af->low), em_json_format_double (high, af->high),
                           em_json_format_double (score, g_array_index (af->samples, Sample, 0).score),
                           em_json_format_double (start, af->start_position));
}

static void
report_progress (Autofocus *af)
{
  if (af->progress != NULL)
    af->progress (MIN ((gdouble) af->done / af->planned, 1.0), af->progress_data);
}

static void
final_move_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Autofocus *af = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!em_focus_move_finish (EM_FOCUS (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  af->done = af->planned;
  report_progress (af);
  g_task_return_pointer (task, build_result (af), (GDestroyNotify) json_object_unref);
}

static void
scored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Autofocus *af = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  Sample sample = { .position = af->target };

  if (!em_focus_metric_compute_finish (result, &sample.score, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_debug ("autofocus: %s at %.3f µm = %g", em_focus_metric_to_string (af->settings.metric),
           sample.position, sample.score);
  if (af->repeating)
    g_array_append_val (af->repeats, sample.score);
  else
    g_array_append_val (af->samples, sample);
  af->done++;
  report_progress (af);
  next_step (g_steal_pointer (&task));
}

static void
captured_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Autofocus *af = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(EmFrame) frame = em_camera_capture_finish (EM_CAMERA (source), result, &error);

  if (frame == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  em_focus_metric_compute_async (af->settings.metric, frame, cancellable,
                                 scored_cb, g_steal_pointer (&task));
}

static void
moved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Autofocus *af = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GError) error = NULL;

  if (!em_focus_move_finish (EM_FOCUS (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  em_camera_capture_async (af->camera, af->settings.exposure_ms, af->settings.gain,
                           cancellable, NULL, NULL,
                           captured_cb, g_steal_pointer (&task));
}

/* takes @task */
static void
next_step (GTask *task)
{
  Autofocus *af = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }

  /* after the coarse sweep, the best position again to measure the noise; a
   * peak no higher than the noise is nothing to focus on, and any position
   * would be a guess, so the focus goes back to where it was */
  if (af->todo->len == 0 && af->step == af->settings.coarse_step && !af->checked)
    {
      if (!curve_is_flat (af) && af->repeats->len < af->n_repeats)
        {
          af->repeating = TRUE;
          af->target = repeat_position (af, af->repeats->len);
          em_focus_move_async (af->focus, af->target, af->settings.speed, cancellable, NULL, NULL,
                               moved_cb, task);
          return;
        }
      af->repeating = FALSE;
      af->checked = TRUE;
      af->ratio = af->repeats->len > 0 ? peak_over_noise (af) : 0.0;
      if (!(af->ratio >= af->settings.min_contrast))
        {
          em_focus_move_async (af->focus, af->start_position, af->settings.speed, cancellable, NULL, NULL,
                               returned_cb, task);
          return;
        }
    }

  /* out of positions: halve the step around the best so far, until fine enough */
  while (af->todo->len == 0 && af->samples->len > 0 && af->step > af->settings.tolerance)
    {
      gdouble best = best_sample (af)->position;

      af->step /= 2.0;
      queue (af, best - af->step);
      queue (af, best + af->step);
    }

  if (af->todo->len > 0)
    {
      af->target = g_array_index (af->todo, gdouble, 0);
      g_array_remove_index (af->todo, 0);
      em_focus_move_async (af->focus, af->target, af->settings.speed, cancellable, NULL, NULL,
                           moved_cb, task);
      return;
    }

  af->final_position = CLAMP (peak_position (af), af->low, af->high);
  em_focus_move_async (af->focus, af->final_position, af->settings.speed, cancellable, NULL, NULL,
                       final_move_cb, task);
}

void
em_autofocus_run_async (EmCamera                  *camera,
                        EmFocus                   *focus,
                        const EmAutofocusSettings *settings,
                        GCancellable              *cancellable,
                        EmProgressFunc             progress,
                        gpointer                   progress_data,
                        GAsyncReadyCallback        callback,
                        gpointer                   user_data)
{
  g_autoptr(GTask) task = NULL;
  Autofocus *af;
  gdouble min, max;
  guint n_coarse;
  guint n_refine = 0;

  g_return_if_fail (EM_IS_CAMERA (camera));
  g_return_if_fail (EM_IS_FOCUS (focus));
  g_return_if_fail (settings != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_autofocus_run_async);

  if (!(settings->range > 0.0) || !(settings->coarse_step > 0.0) || !(settings->tolerance > 0.0))
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("The autofocus range, step and tolerance must be positive"));
      return;
    }

  af = g_new0 (Autofocus, 1);
  af->camera = g_object_ref (camera);
  af->focus = g_object_ref (focus);
  af->settings = *settings;
  /* how many times the frame-to-frame noise the peak must stand above the
   * rest of the sweep; at 5, noise alone passes a sweep of 11 frames about
   * once in 2000 */
  if (!(af->settings.min_contrast > 0.0))
    af->settings.min_contrast = EM_AUTOFOCUS_DEFAULT_MIN_CONTRAST;
  af->progress = progress;
  af->progress_data = progress_data;
  af->todo = g_array_new (FALSE, FALSE, sizeof (gdouble));
  af->samples = g_array_new (FALSE, FALSE, sizeof (Sample));
  af->repeats = g_array_new (FALSE, FALSE, sizeof (gdouble));
  af->start_position = em_focus_get_position (focus);
  af->step = settings->coarse_step;
  g_task_set_task_data (task, af, autofocus_free);

  em_focus_get_limits (focus, &min, &max);
  af->low = MAX (settings->center - settings->range / 2.0, min);
  af->high = MIN (settings->center + settings->range / 2.0, max);
  if (af->low > af->high)
    {
      char from[G_ASCII_DTOSTR_BUF_SIZE];
      char to[G_ASCII_DTOSTR_BUF_SIZE];
      char low[G_ASCII_DTOSTR_BUF_SIZE];
      char high[G_ASCII_DTOSTR_BUF_SIZE];

      /* every digit it takes: %g calls 10000.0001 "10000", inside the travel */
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_FAILED,
                               _("The autofocus range %s to %s µm is outside the focus travel (%s to %s µm)"),
                               em_json_format_double (from, settings->center - settings->range / 2.0),
                               em_json_format_double (to, settings->center + settings->range / 2.0),
                               em_json_format_double (low, min), em_json_format_double (high, max));
      return;
    }
  /* one position, or a few closer together than the tolerance, are the same
   * picture to the search: the sharpest of them is no focus, and the noise
   * check has no rest of the sweep to weigh it against */
  if (af->high - af->low < settings->tolerance)
    {
      char width[G_ASCII_DTOSTR_BUF_SIZE];
      char center[G_ASCII_DTOSTR_BUF_SIZE];
      char low[G_ASCII_DTOSTR_BUF_SIZE];
      char high[G_ASCII_DTOSTR_BUF_SIZE];
      char travel_min[G_ASCII_DTOSTR_BUF_SIZE];
      char travel_max[G_ASCII_DTOSTR_BUF_SIZE];
      char tolerance[G_ASCII_DTOSTR_BUF_SIZE];
      char start[G_ASCII_DTOSTR_BUF_SIZE];

      em_json_format_double (width, settings->range);
      em_json_format_double (center, settings->center);
      em_json_format_double (travel_min, min);
      em_json_format_double (travel_max, max);
      em_json_format_double (start, af->start_position);
      if (af->high - af->low <= SAME_POSITION)
        g_task_return_new_error (task, EM_ERROR, EM_ERROR_FAILED,
                                 _("The autofocus range of %s µm around the center %s µm leaves one position "
                                   "inside the focus travel (%s to %s µm), %s µm, and one frame has no other "
                                   "to compare its sharpness with: move the center or widen the range; "
                                   "the focus is still at %s µm"),
                                 width, center, travel_min, travel_max, em_json_format_double (low, af->low),
                                 start);
      else
        g_task_return_new_error (task, EM_ERROR, EM_ERROR_FAILED,
                                 _("The autofocus range of %s µm around the center %s µm leaves %s to %s µm "
                                   "inside the focus travel (%s to %s µm), narrower than the tolerance of %s µm, "
                                   "too little to compare sharpness over: move the center or widen the range; "
                                   "the focus is still at %s µm"),
                                 width, center, em_json_format_double (low, af->low),
                                 em_json_format_double (high, af->high), travel_min, travel_max,
                                 em_json_format_double (tolerance, settings->tolerance), start);
      return;
    }

  /* the coarse sweep starts from the end nearer the focus, to travel less */
  n_coarse = (guint) floor ((af->high - af->low) / settings->coarse_step + SAME_POSITION) + 1;
  for (guint k = 0; k < n_coarse; k++)
    {
      gdouble position = af->low + k * settings->coarse_step;

      if (fabs (af->high - af->start_position) < fabs (af->low - af->start_position))
        position = af->high - k * settings->coarse_step;
      g_array_append_val (af->todo, position);
    }
  if (af->high - af->low - (n_coarse - 1) * settings->coarse_step > SAME_POSITION)
    {
      gdouble other_end = g_array_index (af->todo, gdouble, 0) == af->low ? af->high : af->low;

      g_array_append_val (af->todo, other_end);
      n_coarse++;
    }

  for (gdouble step = settings->coarse_step; step > settings->tolerance; step /= 2.0)
    n_refine++;
  af->n_repeats = n_coarse < SHORT_SWEEP ? N_REPEATS_SHORT : N_REPEATS;
  /* every frame, the repeats, plus the final move */
  af->planned = n_coarse + af->n_repeats + 2 * n_refine + 1;

  next_step (g_steal_pointer (&task));
}

JsonObject *
em_autofocus_run_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_autofocus_run_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
em_autofocus_found_no_contrast (GAsyncResult *result)
{
  Autofocus *af;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_autofocus_run_async), FALSE);

  af = g_task_get_task_data (G_TASK (result));
  return af != NULL && af->no_contrast;
}

gboolean
em_autofocus_check_search (gdouble      range,
                           gdouble      step,
                           gdouble      tolerance,
                           const char  *range_key,
                           const char  *step_key,
                           const char  *tolerance_key,
                           GError     **error)
{
  /* every digit it takes: %g calls a step of 10.0000001 "10", as the range */
  char a[G_ASCII_DTOSTR_BUF_SIZE];
  char b[G_ASCII_DTOSTR_BUF_SIZE];

  if (step > range)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s (%s µm) must not exceed parameters.%s (%s µm)"),
                   step_key, em_json_format_double (a, step), range_key, em_json_format_double (b, range));
      return FALSE;
    }
  /* a sweep of more steps than this is a mistake, not a search */
  if (range / step > EM_AUTOFOCUS_MAX_COARSE_STEPS)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s (%s µm) makes more than %d steps over parameters.%s (%s µm)"),
                   step_key, em_json_format_double (a, step), EM_AUTOFOCUS_MAX_COARSE_STEPS, range_key,
                   em_json_format_double (b, range));
      return FALSE;
    }
  if (tolerance > step)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s (%s µm) must not exceed parameters.%s (%s µm)"),
                   tolerance_key, em_json_format_double (a, tolerance), step_key,
                   em_json_format_double (b, step));
      return FALSE;
    }
  return TRUE;
}
