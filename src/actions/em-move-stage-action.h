#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_MOVE_STAGE_ACTION (em_move_stage_action_get_type ())
G_DECLARE_FINAL_TYPE (EmMoveStageAction, em_move_stage_action, EM, MOVE_STAGE_ACTION, EmAction)

EmAction *em_move_stage_action_new (void);

G_END_DECLS
