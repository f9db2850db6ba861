#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include "devices/em-device-set.h"

struct _EmDeviceSet
{
  GObject   parent_instance;

  EmCamera *camera;
  EmStage  *stage;
  EmFocus  *focus;
};

G_DEFINE_FINAL_TYPE (EmDeviceSet, em_device_set, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_CAMERA,
  PROP_STAGE,
  PROP_FOCUS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
em_device_set_dispose (GObject *object)
{
  EmDeviceSet *self = EM_DEVICE_SET (object);

  g_clear_object (&self->camera);
  g_clear_object (&self->stage);
  g_clear_object (&self->focus);

  G_OBJECT_CLASS (em_device_set_parent_class)->dispose (object);
}

static void
em_device_set_constructed (GObject *object)
{
  EmDeviceSet *self = EM_DEVICE_SET (object);

  G_OBJECT_CLASS (em_device_set_parent_class)->constructed (object);

  /* the camera looks through this stage and focus (the simulated one renders
   * what they point at): handed over here, so no device looks the others up */
  if (self->camera != NULL)
    em_camera_attach_devices (self->camera, self->stage, self->focus);
}

static void
em_device_set_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  EmDeviceSet *self = EM_DEVICE_SET (object);

  switch (prop_id)
    {
    case PROP_CAMERA:
      g_value_set_object (value, self->camera);
      break;
    case PROP_STAGE:
      g_value_set_object (value, self->stage);
      break;
    case PROP_FOCUS:
      g_value_set_object (value, self->focus);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_device_set_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  EmDeviceSet *self = EM_DEVICE_SET (object);

  switch (prop_id)
    {
    case PROP_CAMERA:
      g_set_object (&self->camera, g_value_get_object (value));
      break;
    case PROP_STAGE:
      g_set_object (&self->stage, g_value_get_object (value));
      break;
    case PROP_FOCUS:
      g_set_object (&self->focus, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_device_set_class_init (EmDeviceSetClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = em_device_set_constructed;
  object_class->dispose = em_device_set_dispose;
  object_class->get_property = em_device_set_get_property;
  object_class->set_property = em_device_set_set_property;

  properties[PROP_CAMERA] =
    g_param_spec_object ("camera", NULL, NULL, EM_TYPE_CAMERA,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STAGE] =
    g_param_spec_object ("stage", NULL, NULL, EM_TYPE_STAGE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FOCUS] =
    g_param_spec_object ("focus", NULL, NULL, EM_TYPE_FOCUS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_device_set_init (EmDeviceSet *self)
{
}

EmDeviceSet *
em_device_set_new (EmCamera *camera, EmStage *stage, EmFocus *focus)
{
  g_return_val_if_fail (camera == NULL || EM_IS_CAMERA (camera), NULL);
  g_return_val_if_fail (stage == NULL || EM_IS_STAGE (stage), NULL);
  g_return_val_if_fail (focus == NULL || EM_IS_FOCUS (focus), NULL);

  return g_object_new (EM_TYPE_DEVICE_SET,
                       "camera", camera,
                       "stage", stage,
                       "focus", focus,
                       NULL);
}

EmCamera *
em_device_set_get_camera (EmDeviceSet *self)
{
  g_return_val_if_fail (EM_IS_DEVICE_SET (self), NULL);
  return self->camera;
}

EmStage *
em_device_set_get_stage (EmDeviceSet *self)
{
  g_return_val_if_fail (EM_IS_DEVICE_SET (self), NULL);
  return self->stage;
}

EmFocus *
em_device_set_get_focus (EmDeviceSet *self)
{
  g_return_val_if_fail (EM_IS_DEVICE_SET (self), NULL);
  return self->focus;
}
