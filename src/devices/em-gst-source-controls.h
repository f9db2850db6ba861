#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * EmGstSourceControls:
 *
 * How our exposure and gain reach one GStreamer source element, worked out once
 * when the pipeline is built:
 *
 * - `emsimsrc`: its `exposure` (ms) and `gain` (dB) properties;
 * - `aravissrc` (GenICam): `exposure` in µs and `gain` in dB, automatic modes off;
 * - `v4l2src` (UVC): `extra-controls`, with the control names the driver offers
 *   (read from the device with VIDIOC_QUERYCTRL);
 * - anything else: nothing, and the capture says so.
 */
typedef struct _EmGstSourceControls EmGstSourceControls;

/* may open the source's device (v4l2src) to list its controls */
EmGstSourceControls *em_gst_source_controls_new        (GstElement          *source);
EmGstSourceControls *em_gst_source_controls_ref        (EmGstSourceControls *self);
void                 em_gst_source_controls_unref      (EmGstSourceControls *self);

/* at the start of each capture; may block on the device (an ioctl, a GenICam
 * network round trip), so never on the main context */
void                 em_gst_source_controls_apply      (EmGstSourceControls *self,
                                                        gdouble              exposure_ms,
                                                        gdouble              gain,
                                                        gboolean            *out_exposure_applied,
                                                        gboolean            *out_gain_applied);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmGstSourceControls, em_gst_source_controls_unref)

G_END_DECLS
