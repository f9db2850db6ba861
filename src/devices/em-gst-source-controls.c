#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>

#include "devices/em-gst-source-controls.h"

static gboolean
has_property (GstElement *element, const char *name, GType type)
{
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (element), name);

  return pspec != NULL && (pspec->flags & G_PARAM_WRITABLE) != 0 &&
         (type == G_TYPE_INVALID || g_type_is_a (pspec->value_type, type));
}

/* aravissrc (GenICam): exposure in µs, gain in dB; automatic modes off so they stick */
static void
apply_aravis (GstElement *source,
              gdouble     exposure_ms,
              gdouble     gain,
              gboolean   *exposure_applied,
              gboolean   *gain_applied)
{
  if (has_property (source, "exposure", G_TYPE_DOUBLE))
    {
      if (has_property (source, "exposure-auto", G_TYPE_ENUM))
        gst_util_set_object_arg (G_OBJECT (source), "exposure-auto", "off");
      g_object_set (source, "exposure", exposure_ms * 1000.0, NULL);
      *exposure_applied = TRUE;
    }
  if (has_property (source, "gain", G_TYPE_DOUBLE))
    {
      if (has_property (source, "gain-auto", G_TYPE_ENUM))
        gst_util_set_object_arg (G_OBJECT (source), "gain-auto", "off");
      g_object_set (source, "gain", gain, NULL);
      *gain_applied = TRUE;
    }
}

/* v4l2src (UVC): V4L2 controls through extra-controls, which v4l2src applies at
 * once while the device is open; exposure_time_absolute counts 100 µs units and
 * auto_exposure 1 is manual mode */
static void
apply_v4l2 (GstElement *source,
            gdouble     exposure_ms,
            gdouble     gain,
            gboolean   *exposure_applied,
            gboolean   *gain_applied)
{
  GstStructure *current = NULL;
  g_autoptr(GstStructure) controls = NULL;

  if (!has_property (source, "extra-controls", GST_TYPE_STRUCTURE))
    return;

  g_object_get (source, "extra-controls", &current, NULL);
  controls = current != NULL ? current : gst_structure_new_empty ("controls");

  gst_structure_set (controls,
                     "auto_exposure", G_TYPE_INT, 1,
                     "exposure_time_absolute", G_TYPE_INT, (gint) MAX (1, lround (exposure_ms * 10.0)),
                     "gain", G_TYPE_INT, (gint) lround (gain),
                     NULL);
  g_object_set (source, "extra-controls", controls, NULL);
  *exposure_applied = TRUE;
  *gain_applied = TRUE;
}

void
em_gst_source_apply_settings (GstElement *source,
                              gdouble     exposure_ms,
                              gdouble     gain,
                              gboolean   *out_exposure_applied,
                              gboolean   *out_gain_applied)
{
  GstElementFactory *factory;
  const char *name = NULL;
  gboolean exposure_applied = FALSE;
  gboolean gain_applied = FALSE;

  if (source != NULL && (factory = gst_element_get_factory (source)) != NULL)
    name = gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory));

  if (g_strcmp0 (name, "aravissrc") == 0)
    apply_aravis (source, exposure_ms, gain, &exposure_applied, &gain_applied);
  else if (g_strcmp0 (name, "v4l2src") == 0)
    apply_v4l2 (source, exposure_ms, gain, &exposure_applied, &gain_applied);
  else
    g_debug ("source %s has no exposure or gain controls we know of", name != NULL ? name : "(none)");

  if (out_exposure_applied != NULL)
    *out_exposure_applied = exposure_applied;
  if (out_gain_applied != NULL)
    *out_gain_applied = gain_applied;
}
