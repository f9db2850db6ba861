#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_ADJUST_FOCUS_ACTION (em_adjust_focus_action_get_type ())
G_DECLARE_FINAL_TYPE (EmAdjustFocusAction, em_adjust_focus_action, EM, ADJUST_FOCUS_ACTION, EmAction)

EmAction *em_adjust_focus_action_new (void);

G_END_DECLS
