#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_TILE_SCAN_ACTION (em_tile_scan_action_get_type ())
G_DECLARE_FINAL_TYPE (EmTileScanAction, em_tile_scan_action, EM, TILE_SCAN_ACTION, EmAction)

EmAction *em_tile_scan_action_new (void);

G_END_DECLS
