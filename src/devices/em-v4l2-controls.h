#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * EmV4l2Controls:
 *
 * The controls a V4L2 driver offers, as read with VIDIOC_QUERYCTRL, named the way
 * v4l2src's `extra-controls` spells them ("Exposure Time, Absolute" →
 * `exposure_time_absolute`), with their ranges.
 */
typedef struct _EmV4l2Controls EmV4l2Controls;

/* opens @device and lists its controls; blocks briefly, so call it where a
 * pipeline is built, not per capture */
EmV4l2Controls *em_v4l2_controls_query        (const char           *device,
                                               GError              **error);
EmV4l2Controls *em_v4l2_controls_new          (void);
void            em_v4l2_controls_free         (EmV4l2Controls       *self);
void            em_v4l2_controls_add          (EmV4l2Controls       *self,
                                               guint32               id,
                                               const char           *driver_name,
                                               gint64                minimum,
                                               gint64                maximum,
                                               gint64                step);
/* the extra-controls name of @id, or %NULL when the driver lacks it */
const char     *em_v4l2_controls_get_name     (const EmV4l2Controls *self,
                                               guint32               id);

/* "Exposure (Absolute)" → "exposure_absolute", as v4l2src and v4l2-ctl do */
char           *em_v4l2_normalise_control_name (const char          *driver_name);

/* adds our exposure (ms) and gain (the driver's unit) to @controls, an
 * extra-controls structure, with automatic modes off; a setting the driver has
 * no control for, that is outside the control's range (then clamped) or between
 * its steps (then rounded to the nearest: 100 µs units, whole gain units, and
 * the control's own step) is reported as not applied */
void            em_v4l2_controls_map          (const EmV4l2Controls *self,
                                               GstStructure         *controls,
                                               gdouble               exposure_ms,
                                               gdouble               gain,
                                               gboolean             *out_exposure_applied,
                                               gboolean             *out_gain_applied);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmV4l2Controls, em_v4l2_controls_free)

G_END_DECLS
