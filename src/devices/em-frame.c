#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include "devices/em-frame.h"

struct _EmFrame
{
  gatomicrefcount ref_count;
  EmPixelFormat   format;
  guint           width;
  guint           height;
  gsize           stride;
  GBytes         *data;
  gint64          timestamp;
  gdouble         exposure_ms;
  gboolean        exposure_applied;
  gdouble         gain;
  gboolean        gain_applied;
  gdouble         pixel_size;
  gboolean        has_stage_position;
  gdouble         stage_position[3];
  gboolean        has_focus_position;
  gdouble         focus_position;
};

G_DEFINE_BOXED_TYPE (EmFrame, em_frame, em_frame_ref, em_frame_unref)

guint
em_pixel_format_get_channels (EmPixelFormat format)
{
  switch (format)
    {
    case EM_PIXEL_FORMAT_RGB8:
    case EM_PIXEL_FORMAT_RGB16:
      return 3;
    case EM_PIXEL_FORMAT_GRAY8:
    case EM_PIXEL_FORMAT_GRAY16:
    default:
      return 1;
    }
}

guint
em_pixel_format_get_bit_depth (EmPixelFormat format)
{
  switch (format)
    {
    case EM_PIXEL_FORMAT_GRAY16:
    case EM_PIXEL_FORMAT_RGB16:
      return 16;
    case EM_PIXEL_FORMAT_GRAY8:
    case EM_PIXEL_FORMAT_RGB8:
    default:
      return 8;
    }
}

/**
 * em_frame_new:
 * @stride: bytes from one row to the next, at least width × channels × bytes per component
 * @data: at least @stride × @height bytes
 */
EmFrame *
em_frame_new (EmPixelFormat  format,
              guint          width,
              guint          height,
              gsize          stride,
              GBytes        *data)
{
  EmFrame *self;
  gsize row = (gsize) width * em_pixel_format_get_channels (format) *
              (em_pixel_format_get_bit_depth (format) / 8);

  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (stride >= row, NULL);
  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (data) >= stride * (height - 1) + row, NULL);

  self = g_new0 (EmFrame, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->format = format;
  self->width = width;
  self->height = height;
  self->stride = stride;
  self->data = g_bytes_ref (data);
  self->timestamp = g_get_real_time ();
  return self;
}

EmFrame *
em_frame_ref (EmFrame *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
em_frame_unref (EmFrame *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_bytes_unref (self->data);
  g_free (self);
}

EmPixelFormat
em_frame_get_format (EmFrame *self)
{
  return self->format;
}

guint
em_frame_get_width (EmFrame *self)
{
  return self->width;
}

guint
em_frame_get_height (EmFrame *self)
{
  return self->height;
}

gsize
em_frame_get_stride (EmFrame *self)
{
  return self->stride;
}

/* (transfer none) */
GBytes *
em_frame_get_data (EmFrame *self)
{
  return self->data;
}

guint
em_frame_get_channels (EmFrame *self)
{
  return em_pixel_format_get_channels (self->format);
}

guint
em_frame_get_bit_depth (EmFrame *self)
{
  return em_pixel_format_get_bit_depth (self->format);
}

gint64
em_frame_get_timestamp (EmFrame *self)
{
  return self->timestamp;
}

gdouble
em_frame_get_exposure (EmFrame *self, gboolean *out_applied)
{
  if (out_applied != NULL)
    *out_applied = self->exposure_applied;
  return self->exposure_ms;
}

gdouble
em_frame_get_gain (EmFrame *self, gboolean *out_applied)
{
  if (out_applied != NULL)
    *out_applied = self->gain_applied;
  return self->gain;
}

void
em_frame_set_timestamp (EmFrame *self, gint64 timestamp)
{
  self->timestamp = timestamp;
}

void
em_frame_set_exposure (EmFrame *self, gdouble exposure_ms, gboolean applied)
{
  self->exposure_ms = exposure_ms;
  self->exposure_applied = applied;
}

void
em_frame_set_gain (EmFrame *self, gdouble gain, gboolean applied)
{
  self->gain = gain;
  self->gain_applied = applied;
}

/* µm per pixel at the sample, 0 when the camera does not know */
gdouble
em_frame_get_pixel_size (EmFrame *self)
{
  return self->pixel_size;
}

void
em_frame_set_pixel_size (EmFrame *self, gdouble um_per_pixel)
{
  self->pixel_size = um_per_pixel > 0.0 ? um_per_pixel : 0.0;
}

gboolean
em_frame_get_stage_position (EmFrame *self, gdouble *out_x, gdouble *out_y, gdouble *out_z)
{
  if (!self->has_stage_position)
    return FALSE;
  *out_x = self->stage_position[0];
  *out_y = self->stage_position[1];
  *out_z = self->stage_position[2];
  return TRUE;
}

void
em_frame_set_stage_position (EmFrame *self, gdouble x, gdouble y, gdouble z)
{
  self->has_stage_position = TRUE;
  self->stage_position[0] = x;
  self->stage_position[1] = y;
  self->stage_position[2] = z;
}

gboolean
em_frame_get_focus_position (EmFrame *self, gdouble *out_position)
{
  if (!self->has_focus_position)
    return FALSE;
  *out_position = self->focus_position;
  return TRUE;
}

void
em_frame_set_focus_position (EmFrame *self, gdouble position)
{
  self->has_focus_position = TRUE;
  self->focus_position = position;
}
