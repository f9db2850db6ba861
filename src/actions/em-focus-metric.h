#pragma once

#include <gio/gio.h>

#include "devices/em-frame.h"

G_BEGIN_DECLS

/**
 * EmFocusMetric:
 * @EM_FOCUS_METRIC_LAPLACIAN: variance of the 4-neighbour Laplacian
 * @EM_FOCUS_METRIC_BRENNER: Brenner gradient, the mean squared difference of
 *   pixels two apart, horizontally and vertically
 *
 * Sharpness scores: higher is sharper. Both work on the luminance scaled to
 * 0..1, so scores do not depend on the bit depth.
 */
typedef enum {
  EM_FOCUS_METRIC_LAPLACIAN,
  EM_FOCUS_METRIC_BRENNER,
} EmFocusMetric;

/* "laplacian" or "brenner" */
const char *em_focus_metric_to_string      (EmFocusMetric        metric);
gboolean    em_focus_metric_from_string    (const char          *text,
                                            EmFocusMetric       *out_metric);

/* blocks for a few ms on a large frame: workers only */
gdouble     em_focus_metric_compute        (EmFocusMetric        metric,
                                            EmFrame             *frame);

/* the same in a worker thread */
void        em_focus_metric_compute_async  (EmFocusMetric        metric,
                                            EmFrame             *frame,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
gboolean    em_focus_metric_compute_finish (GAsyncResult        *result,
                                            gdouble             *out_score,
                                            GError             **error);

G_END_DECLS
