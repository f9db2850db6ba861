#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>

#include "devices/em-gst-source-controls.h"
#include "devices/em-sim-src.h"
#include "devices/em-v4l2-controls.h"

/* the simulated sensor's ranges: exposure in ms, gain in dB */
#define SIM_MIN_EXPOSURE 0.001
#define SIM_MAX_EXPOSURE 3600000.0
#define SIM_MAX_GAIN     48.0

typedef enum {
  KIND_NONE,
  KIND_SIM,
  KIND_ARAVIS,
  KIND_V4L2,
} Kind;

struct _EmGstSourceControls
{
  gatomicrefcount ref_count;
  Kind            kind;
  GstElement     *source;
  EmV4l2Controls *v4l2;
};

static gboolean
has_property (GstElement *element, const char *name, GType type)
{
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (element), name);

  return pspec != NULL && (pspec->flags & G_PARAM_WRITABLE) != 0 &&
         (type == G_TYPE_INVALID || g_type_is_a (pspec->value_type, type));
}

static const char *
factory_name (GstElement *source)
{
  GstElementFactory *factory = gst_element_get_factory (source);

  return factory != NULL ? gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory)) : NULL;
}

EmGstSourceControls *
em_gst_source_controls_new (GstElement *source)
{
  EmGstSourceControls *self = g_new0 (EmGstSourceControls, 1);
  const char *name;

  g_atomic_ref_count_init (&self->ref_count);
  if (source == NULL)
    return self;

  self->source = gst_object_ref (source);
  name = factory_name (source);

  if (EM_IS_SIM_SRC (source))
    {
      self->kind = KIND_SIM;
    }
  else if (g_strcmp0 (name, "aravissrc") == 0)
    {
      self->kind = KIND_ARAVIS;
    }
  else if (g_strcmp0 (name, "v4l2src") == 0 &&
           has_property (source, "extra-controls", GST_TYPE_STRUCTURE))
    {
      g_autofree char *device = NULL;
      g_autoptr(GError) error = NULL;

      self->kind = KIND_V4L2;
      g_object_get (source, "device", &device, NULL);
      if (device == NULL)
        device = g_strdup ("/dev/video0");
      self->v4l2 = em_v4l2_controls_query (device, &error);
      if (self->v4l2 == NULL)
        g_debug ("no controls for %s: %s", device, error->message);
    }
  else
    {
      g_debug ("source %s has no exposure or gain controls we know of", name != NULL ? name : "(none)");
    }
  return self;
}

EmGstSourceControls *
em_gst_source_controls_ref (EmGstSourceControls *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
em_gst_source_controls_unref (EmGstSourceControls *self)
{
  if (self == NULL || !g_atomic_ref_count_dec (&self->ref_count))
    return;
  gst_clear_object (&self->source);
  em_v4l2_controls_free (self->v4l2);
  g_free (self);
}

/* sets a double property within its declared range, which GObject would
 * otherwise refuse, keeping the old value; TRUE when it needed no clamping */
static gboolean
set_double_clamped (GstElement *source, const char *name, gdouble value)
{
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (source), name);
  gdouble clamped = value;

  if (G_IS_PARAM_SPEC_DOUBLE (pspec))
    clamped = CLAMP (value, G_PARAM_SPEC_DOUBLE (pspec)->minimum, G_PARAM_SPEC_DOUBLE (pspec)->maximum);
  if (clamped != value)
    g_debug ("%s = %g is outside what the source takes; %g instead", name, value, clamped);
  g_object_set (source, name, clamped, NULL);
  return clamped == value;
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
      *exposure_applied = set_double_clamped (source, "exposure", exposure_ms * 1000.0);
    }
  if (has_property (source, "gain", G_TYPE_DOUBLE))
    {
      if (has_property (source, "gain-auto", G_TYPE_ENUM))
        gst_util_set_object_arg (G_OBJECT (source), "gain-auto", "off");
      *gain_applied = set_double_clamped (source, "gain", gain);
    }
}

/* v4l2src applies extra-controls at once while the device is open */
static void
apply_v4l2 (EmGstSourceControls *self,
            gdouble              exposure_ms,
            gdouble              gain,
            gboolean            *exposure_applied,
            gboolean            *gain_applied)
{
  GstStructure *current = NULL;
  g_autoptr(GstStructure) controls = NULL;

  if (self->v4l2 == NULL)
    return;

  g_object_get (self->source, "extra-controls", &current, NULL);
  controls = current != NULL ? current : gst_structure_new_empty ("controls");
  em_v4l2_controls_map (self->v4l2, controls, exposure_ms, gain, exposure_applied, gain_applied);
  g_object_set (self->source, "extra-controls", controls, NULL);
}

void
em_gst_source_controls_apply (EmGstSourceControls *self,
                              gdouble              exposure_ms,
                              gdouble              gain,
                              gboolean            *out_exposure_applied,
                              gboolean            *out_gain_applied)
{
  gboolean exposure_applied = FALSE;
  gboolean gain_applied = FALSE;

  switch (self->kind)
    {
    case KIND_SIM:
      /* the simulated sensor takes gain in dB, like GenICam cameras */
      g_object_set (self->source,
                    "exposure", CLAMP (exposure_ms, SIM_MIN_EXPOSURE, SIM_MAX_EXPOSURE),
                    "gain", CLAMP (gain, 0.0, SIM_MAX_GAIN),
                    NULL);
      exposure_applied = exposure_ms >= SIM_MIN_EXPOSURE && exposure_ms <= SIM_MAX_EXPOSURE;
      gain_applied = gain >= 0.0 && gain <= SIM_MAX_GAIN;
      break;
    case KIND_ARAVIS:
      apply_aravis (self->source, exposure_ms, gain, &exposure_applied, &gain_applied);
      break;
    case KIND_V4L2:
      apply_v4l2 (self, exposure_ms, gain, &exposure_applied, &gain_applied);
      break;
    case KIND_NONE:
    default:
      break;
    }

  if (out_exposure_applied != NULL)
    *out_exposure_applied = exposure_applied;
  if (out_gain_applied != NULL)
    *out_gain_applied = gain_applied;
}
