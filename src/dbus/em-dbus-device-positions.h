#pragma once

#include "devices/em-device-set.h"
#include "em-dbus-generated.h"

G_BEGIN_DECLS

/* at most this often a position property changes on the bus during a move */
#define EM_DBUS_POSITION_INTERVAL_MS 100

#define EM_TYPE_DBUS_DEVICE_POSITIONS (em_dbus_device_positions_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusDevicePositions, em_dbus_device_positions, EM, DBUS_DEVICE_POSITIONS, GObject)

/* mirrors the stage's and the focus drive's positions into the StagePosition
 * and FocusPosition properties of @iface, rate-limited, with the position
 * where a move ends always published; @devices: (nullable) */
EmDbusDevicePositions *em_dbus_device_positions_new (EmDeviceSet          *devices,
                                                     EmDBusEngineManager1 *iface);
/* publishes at once a position the rate limit holds back, so that the end of
 * a task that moved a device comes after the position where it stopped */
void                   em_dbus_device_positions_flush (EmDbusDevicePositions *self);

G_END_DECLS
