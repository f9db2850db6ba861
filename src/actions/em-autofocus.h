#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "actions/em-focus-metric.h"
#include "devices/em-camera.h"
#include "devices/em-focus.h"

G_BEGIN_DECLS

/* the widest search and the most coarse frames a request may ask for, the
 * same for the autofocus action and the one tile_scan runs */
#define EM_AUTOFOCUS_MAX_RANGE         10000.0
#define EM_AUTOFOCUS_MAX_COARSE_STEPS  1000

/* how many times the camera's noise the sharpest frame must stand above the
 * rest of the sweep, by default and at the least and most a request may ask */
#define EM_AUTOFOCUS_DEFAULT_MIN_CONTRAST  5.0
#define EM_AUTOFOCUS_MIN_MIN_CONTRAST      1.0
#define EM_AUTOFOCUS_MAX_MIN_CONTRAST      1000.0

/**
 * EmAutofocusSettings:
 * @center: middle of the search, µm
 * @range: full width of the search, µm, clipped to the drive's travel
 * @coarse_step: spacing of the first sweep, µm
 * @tolerance: the refinement stops once the step is at most this, µm
 * @metric: the sharpness score
 * @exposure_ms: exposure of each frame
 * @gain: gain of each frame
 * @speed: focus speed in µm/s, 0 for the drive's default
 * @min_contrast: how many times the camera's noise the sharpest frame must
 *   stand above the rest of the coarse sweep; 0 for
 *   EM_AUTOFOCUS_DEFAULT_MIN_CONTRAST
 */
typedef struct {
  gdouble       center;
  gdouble       range;
  gdouble       coarse_step;
  gdouble       tolerance;
  EmFocusMetric metric;
  gdouble       exposure_ms;
  gdouble       gain;
  gdouble       speed;
  gdouble       min_contrast;
} EmAutofocusSettings;

/**
 * em_autofocus_run_async:
 * @progress: (nullable): the share of the planned frames taken, on the main context
 *
 * Fails at once, without moving, when the range clipped to the focus travel
 * is narrower than the tolerance (one position, or positions too close to
 * tell apart, have nothing to compare: EM_ERROR_FAILED). Otherwise sweeps
 * the focus over the range in coarse steps, capturing a frame at each
 * and scoring it in a worker thread; then takes the best position again in a
 * few frames to measure the camera's noise, and fails with the focus back at
 * the start unless the peak stands @min_contrast times that noise above the
 * rest (EM_ERROR_FAILED, "no contrast"); then halves the step around the best position until it is
 * within the tolerance, and moves the focus to the peak (a parabola through
 * the best three samples). Cancelling stops the move or capture in flight; the
 * focus stays where it stopped.
 *
 * The result: `best_position` (µm), `best_score`, `metric`, `start_position`,
 * `range` { `min`, `max` } as searched, `samples`, and `curve`, every sample
 * as { `position`, `score` } in order of position.
 */
void        em_autofocus_run_async  (EmCamera                  *camera,
                                     EmFocus                   *focus,
                                     const EmAutofocusSettings *settings,
                                     GCancellable              *cancellable,
                                     EmProgressFunc             progress,
                                     gpointer                   progress_data,
                                     GAsyncReadyCallback        callback,
                                     gpointer                   user_data);
/* Returns: (transfer full): the result, or %NULL with @error set */
JsonObject *em_autofocus_run_finish (GAsyncResult              *result,
                                     GError                   **error);
/* whether the search failed for want of contrast (no frame stood out of the
 * noise, an empty field), rather than for a device, a cancellation or its range */
gboolean    em_autofocus_found_no_contrast (GAsyncResult      *result);

/* whether a search of @range in steps of @step down to @tolerance is one to
 * run (the step within the range, at most EM_AUTOFOCUS_MAX_COARSE_STEPS
 * frames, the tolerance within the step); the error names the parameters
 * by the keys given, as each action calls them */
gboolean    em_autofocus_check_search (gdouble      range,
                                       gdouble      step,
                                       gdouble      tolerance,
                                       const char  *range_key,
                                       const char  *step_key,
                                       const char  *tolerance_key,
                                       GError     **error);

G_END_DECLS
