#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* µm per pixel of the frames that reach the pipeline's appsink, from
 * @source_pixel_size at @source's src pad: a crop or a turn (videocrop,
 * videobox, aspectratiocrop, videoflip) keeps it, a square videoscale scales
 * it; 0 (unknown) when anything else changes the geometry, a scale makes
 * pixels non-square, or the path is not one plain chain. Any thread. */
gdouble em_gst_pixel_size_at_sink (GstElement *source,
                                   gdouble     source_pixel_size);

G_END_DECLS
