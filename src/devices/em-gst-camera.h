#pragma once

#include <gst/gst.h>

#include "devices/em-camera.h"

G_BEGIN_DECLS

/* the simulated microscope (emsimsrc, registered by the camera itself), so the
 * service runs with no camera attached */
#define EM_GST_CAMERA_DEFAULT_SOURCE "emsimsrc"
#define EM_GST_CAMERA_DEFAULT_WIDTH  640
#define EM_GST_CAMERA_DEFAULT_HEIGHT 480

#define EM_TYPE_GST_CAMERA (em_gst_camera_get_type ())
G_DECLARE_FINAL_TYPE (EmGstCamera, em_gst_camera, EM, GST_CAMERA, EmCamera)

/* never fails: a pipeline that cannot be built or started fails each capture
 * with GStreamer's message, and is rebuilt by the next one */
EmCamera    *em_gst_camera_new                    (const char  *source_description,
                                                   guint        width,
                                                   guint        height);

const char  *em_gst_camera_get_source_description (EmGstCamera *self);
void         em_gst_camera_set_source_description (EmGstCamera *self,
                                                   const char  *description);
guint        em_gst_camera_get_width              (EmGstCamera *self);
guint        em_gst_camera_get_height             (EmGstCamera *self);
/* the source element once its pipeline has started, (transfer full) (nullable):
 * %NULL while the worker builds and starts it, and after an error */
GstElement  *em_gst_camera_get_source             (EmGstCamera *self);

G_END_DECLS
