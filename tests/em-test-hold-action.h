#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

/*
 * An action for scheduler tests: it claims the devices it is built with, holds
 * them for `duration` ms (or fails at the end when `fail` is true), and records
 * any moment two runs hold the same device.
 */
#define EM_TYPE_TEST_HOLD_ACTION (em_test_hold_action_get_type ())
G_DECLARE_FINAL_TYPE (EmTestHoldAction, em_test_hold_action, EM, TEST_HOLD_ACTION, EmAction)

EmAction *em_test_hold_action_new (const char   *name,
                                   EmDeviceKind  claims,
                                   gboolean      retry_safe);

/* shared by every hold action in the process */
guint     em_test_hold_get_overlaps (void);
gboolean  em_test_hold_device_in_use (EmDeviceKind device);
void      em_test_hold_reset        (void);

G_END_DECLS
