#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include "dbus/em-dbus-device-positions.h"
#include "engine/em-rate-limit.h"

/* one rate-limited property: the publication reads the position when it
 * runs, so the final position of a move always goes out */
typedef struct {
  EmDbusDevicePositions *owner;
  GObject *device;
  void (*publish) (EmDbusDevicePositions *self);
  EmRateLimit limit;
} Mirror;

struct _EmDbusDevicePositions
{
  GObject parent_instance;

  EmDBusEngineManager1 *iface;
  Mirror stage;
  Mirror focus;
};

G_DEFINE_FINAL_TYPE (EmDbusDevicePositions, em_dbus_device_positions, G_TYPE_OBJECT)

static void
publish_stage (EmDbusDevicePositions *self)
{
  EmStagePosition position = { 0, 0, 0 };

  if (self->stage.device != NULL)
    em_stage_get_position (EM_STAGE (self->stage.device), &position);
  em_dbus_engine_manager1_set_stage_position (self->iface,
                                              g_variant_new ("(ddd)", position.x,
                                                             position.y, position.z));
}

static void
publish_focus (EmDbusDevicePositions *self)
{
  gdouble position = 0;

  if (self->focus.device != NULL)
    position = em_focus_get_position (EM_FOCUS (self->focus.device));
  em_dbus_engine_manager1_set_focus_position (self->iface, position);
}

static void
mirror_publish (gpointer user_data)
{
  Mirror *mirror = user_data;

  mirror->publish (mirror->owner);
}

/* device positions change on the main context (see em_stage_update_position) */
static void
position_notify_cb (GObject    *device,
                    GParamSpec *pspec,
                    gpointer    user_data)
{
  Mirror *mirror = user_data;

  em_rate_limit_poke (&mirror->limit);
}

static void
mirror_init (Mirror                *mirror,
             EmDbusDevicePositions *owner,
             gpointer               device,
             const char * const    *properties,
             void                 (*publish) (EmDbusDevicePositions *self))
{
  mirror->owner = owner;
  mirror->publish = publish;
  em_rate_limit_init (&mirror->limit, EM_DBUS_POSITION_INTERVAL_MS * G_TIME_SPAN_MILLISECOND,
                      "[em-dbus] position rate limit", mirror_publish, mirror);
  mirror->device = device != NULL ? g_object_ref (device) : NULL;
  for (guint i = 0; mirror->device != NULL && properties[i] != NULL; i++)
    {
      g_autofree char *signal = g_strconcat ("notify::", properties[i], NULL);

      g_signal_connect (mirror->device, signal, G_CALLBACK (position_notify_cb), mirror);
    }
  publish (owner);
}

static void
mirror_clear (Mirror *mirror)
{
  em_rate_limit_clear (&mirror->limit);
  if (mirror->device != NULL)
    g_signal_handlers_disconnect_by_data (mirror->device, mirror);
  g_clear_object (&mirror->device);
}

static void
em_dbus_device_positions_dispose (GObject *object)
{
  EmDbusDevicePositions *self = EM_DBUS_DEVICE_POSITIONS (object);

  mirror_clear (&self->stage);
  mirror_clear (&self->focus);
  g_clear_object (&self->iface);

  G_OBJECT_CLASS (em_dbus_device_positions_parent_class)->dispose (object);
}

static void
em_dbus_device_positions_class_init (EmDbusDevicePositionsClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = em_dbus_device_positions_dispose;
}

static void
em_dbus_device_positions_init (EmDbusDevicePositions *self)
{
}

EmDbusDevicePositions *
em_dbus_device_positions_new (EmDeviceSet          *devices,
                              EmDBusEngineManager1 *iface)
{
  static const char * const stage_properties[] = { "x", "y", "z", NULL };
  static const char * const focus_properties[] = { "position", NULL };
  EmDbusDevicePositions *self;

  g_return_val_if_fail (devices == NULL || EM_IS_DEVICE_SET (devices), NULL);
  g_return_val_if_fail (EM_DBUS_IS_ENGINE_MANAGER1 (iface), NULL);

  self = g_object_new (EM_TYPE_DBUS_DEVICE_POSITIONS, NULL);
  self->iface = g_object_ref (iface);
  mirror_init (&self->stage, self, devices != NULL ? em_device_set_get_stage (devices) : NULL,
               stage_properties, publish_stage);
  mirror_init (&self->focus, self, devices != NULL ? em_device_set_get_focus (devices) : NULL,
               focus_properties, publish_focus);

  return self;
}

void
em_dbus_device_positions_flush (EmDbusDevicePositions *self)
{
  g_return_if_fail (EM_IS_DBUS_DEVICE_POSITIONS (self));

  em_rate_limit_flush (&self->stage.limit);
  em_rate_limit_flush (&self->focus.limit);
}
