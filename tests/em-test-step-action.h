#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

/*
 * An action named "step" that claims no device, reports progress 0.25 and 0.5
 * as soon as it starts (so the second waits behind the progress rate limit),
 * and ends after `duration` ms: completed, or failed when `fail` is true.
 */
#define EM_TYPE_TEST_STEP_ACTION (em_test_step_action_get_type ())
G_DECLARE_FINAL_TYPE (EmTestStepAction, em_test_step_action, EM, TEST_STEP_ACTION, EmAction)

EmAction *em_test_step_action_new (void);

G_END_DECLS
