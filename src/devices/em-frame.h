#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * EmPixelFormat:
 * @EM_PIXEL_FORMAT_GRAY8: one 8-bit component
 * @EM_PIXEL_FORMAT_RGB8: three 8-bit components
 * @EM_PIXEL_FORMAT_GRAY16: one 16-bit component, host byte order
 * @EM_PIXEL_FORMAT_RGB16: three 16-bit components, host byte order
 */
typedef enum {
  EM_PIXEL_FORMAT_GRAY8,
  EM_PIXEL_FORMAT_RGB8,
  EM_PIXEL_FORMAT_GRAY16,
  EM_PIXEL_FORMAT_RGB16,
} EmPixelFormat;

guint em_pixel_format_get_channels  (EmPixelFormat format);
guint em_pixel_format_get_bit_depth (EmPixelFormat format);

/**
 * EmFrame:
 *
 * One captured image and the settings it was taken with. Refcounted and
 * immutable once the camera hands it over, so any thread may read it (the
 * encoder runs in a worker).
 */
typedef struct _EmFrame EmFrame;

#define EM_TYPE_FRAME (em_frame_get_type ())
GType          em_frame_get_type       (void) G_GNUC_CONST;

EmFrame       *em_frame_new            (EmPixelFormat  format,
                                        guint          width,
                                        guint          height,
                                        gsize          stride,
                                        GBytes        *data);
EmFrame       *em_frame_ref            (EmFrame       *self);
void           em_frame_unref          (EmFrame       *self);

EmPixelFormat  em_frame_get_format     (EmFrame       *self);
guint          em_frame_get_width      (EmFrame       *self);
guint          em_frame_get_height     (EmFrame       *self);
gsize          em_frame_get_stride     (EmFrame       *self);
GBytes        *em_frame_get_data       (EmFrame       *self);
guint          em_frame_get_channels   (EmFrame       *self);
guint          em_frame_get_bit_depth  (EmFrame       *self);

/* wall-clock time the frame arrived, in µs since the epoch (g_get_real_time) */
gint64         em_frame_get_timestamp  (EmFrame       *self);
gdouble        em_frame_get_exposure   (EmFrame       *self,
                                        gboolean      *out_applied);
gdouble        em_frame_get_gain       (EmFrame       *self,
                                        gboolean      *out_applied);
/* µm per pixel at the sample, 0 when unknown */
gdouble        em_frame_get_pixel_size (EmFrame       *self);
/* where the stage (x, y, z in µm) and the focus (µm) were when the frame
 * arrived; FALSE when the camera did not record it */
gboolean       em_frame_get_stage_position (EmFrame   *self,
                                            gdouble   *out_x,
                                            gdouble   *out_y,
                                            gdouble   *out_z);
gboolean       em_frame_get_focus_position (EmFrame   *self,
                                            gdouble   *out_position);

/* for cameras, before they hand the frame over */
void           em_frame_set_timestamp  (EmFrame       *self,
                                        gint64         timestamp);
void           em_frame_set_exposure   (EmFrame       *self,
                                        gdouble        exposure_ms,
                                        gboolean       applied);
void           em_frame_set_gain       (EmFrame       *self,
                                        gdouble        gain,
                                        gboolean       applied);
void           em_frame_set_pixel_size (EmFrame       *self,
                                        gdouble        um_per_pixel);
void           em_frame_set_stage_position (EmFrame   *self,
                                            gdouble    x,
                                            gdouble    y,
                                            gdouble    z);
void           em_frame_set_focus_position (EmFrame   *self,
                                            gdouble    position);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmFrame, em_frame_unref)

G_END_DECLS
