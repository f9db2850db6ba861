#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_WAIT_ACTION (em_wait_action_get_type ())
G_DECLARE_FINAL_TYPE (EmWaitAction, em_wait_action, EM, WAIT_ACTION, EmAction)

EmAction *em_wait_action_new (void);

G_END_DECLS
