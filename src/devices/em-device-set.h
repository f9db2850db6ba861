#pragma once

#include "devices/em-camera.h"
#include "devices/em-focus.h"
#include "devices/em-stage.h"
#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_DEVICE_SET (em_device_set_get_type ())
G_DECLARE_FINAL_TYPE (EmDeviceSet, em_device_set, EM, DEVICE_SET, GObject)

/* the devices the engine hands to actions; any of them may be %NULL */
EmDeviceSet *em_device_set_new        (EmCamera    *camera,
                                       EmStage     *stage,
                                       EmFocus     *focus);

/* (transfer none) (nullable) */
EmCamera    *em_device_set_get_camera (EmDeviceSet *self);
EmStage     *em_device_set_get_stage  (EmDeviceSet *self);
EmFocus     *em_device_set_get_focus  (EmDeviceSet *self);

G_END_DECLS
