#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_TILE_SCAN_ACTION (em_tile_scan_action_get_type ())
G_DECLARE_FINAL_TYPE (EmTileScanAction, em_tile_scan_action, EM, TILE_SCAN_ACTION, EmAction)

EmAction *em_tile_scan_action_new (void);
/* "tile-r001-c012.png": row and column padded alike, to three digits or as
 * many as the grid's largest index needs, so that names sort as the grid */
char     *em_tile_scan_tile_name  (guint        row,
                                   guint        column,
                                   guint        nx,
                                   guint        ny,
                                   const char  *extension);

G_END_DECLS
