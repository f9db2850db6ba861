#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* GStreamer sources that expose camera controls, and how our settings map to them */
void em_gst_source_apply_settings (GstElement *source,
                                   gdouble     exposure_ms,
                                   gdouble     gain,
                                   gboolean   *out_exposure_applied,
                                   gboolean   *out_gain_applied);

G_END_DECLS
