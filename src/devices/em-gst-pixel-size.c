#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>

#include <gst/app/gstappsink.h>

#include "devices/em-gst-pixel-size.h"

/* more elements than any camera description has: a bound, not a limit */
#define MAX_ELEMENTS 64

static gboolean
pad_size (GstPad *pad, gint *out_width, gint *out_height)
{
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  GstStructure *structure;

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return FALSE;
  structure = gst_caps_get_structure (caps, 0);
  return gst_structure_get_int (structure, "width", out_width) &&
         gst_structure_get_int (structure, "height", out_height) &&
         *out_width > 0 && *out_height > 0;
}

static gboolean
factory_is (GstElement *element, const char * const *names)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  const char *name = factory != NULL ? gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory)) : NULL;

  return name != NULL && g_strv_contains (names, name);
}

gdouble
em_gst_pixel_size_at_sink (GstElement *source, gdouble source_pixel_size)
{
  /* they cut, pad, flip or turn the picture but never resample it */
  static const char * const keepers[] = { "videocrop", "videobox", "aspectratiocrop", "videoflip", NULL };
  static const char * const scalers[] = { "videoscale", "videoconvertscale", NULL };
  g_autoptr(GstPad) out = NULL;
  gdouble pixel_size = source_pixel_size;

  g_return_val_if_fail (GST_IS_ELEMENT (source), 0.0);

  out = gst_element_get_static_pad (source, "src");
  for (guint k = 0; out != NULL && k < MAX_ELEMENTS; k++)
    {
      g_autoptr(GstPad) in = gst_pad_get_peer (out);
      g_autoptr(GstElement) element = in != NULL ? gst_pad_get_parent_element (in) : NULL;
      gint in_width, in_height, out_width, out_height;

      /* a bin's ghost pad, or nothing linked: the path cannot be followed */
      if (element == NULL || GST_IS_BIN (element))
        {
          g_debug ("pixel size unknown: the chain from the source cannot be followed");
          return 0.0;
        }
      if (GST_IS_APP_SINK (element))
        return pixel_size;

      g_clear_object (&out);
      out = gst_element_get_static_pad (element, "src");
      if (out == NULL || !pad_size (in, &in_width, &in_height) || !pad_size (out, &out_width, &out_height))
        {
          g_debug ("pixel size unknown: no single video output from %s", GST_ELEMENT_NAME (element));
          return 0.0;
        }
      if ((in_width == out_width && in_height == out_height) || factory_is (element, keepers))
        continue;
      /* square within the rounding of one pixel */
      if (!factory_is (element, scalers) ||
          fabs ((gdouble) in_height * out_width / in_width - out_height) > 1.0)
        {
          g_debug ("pixel size unknown: %s turns %d × %d into %d × %d", GST_ELEMENT_NAME (element),
                   in_width, in_height, out_width, out_height);
          return 0.0;
        }
      pixel_size *= (gdouble) in_width / out_width;
    }
  return 0.0;
}
