#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_AUTOFOCUS_ACTION (em_autofocus_action_get_type ())
G_DECLARE_FINAL_TYPE (EmAutofocusAction, em_autofocus_action, EM, AUTOFOCUS_ACTION, EmAction)

EmAction *em_autofocus_action_new (void);

G_END_DECLS
