#pragma once

#include <json-glib/json-glib.h>

#include "devices/em-frame.h"
#include "devices/em-stage.h"

G_BEGIN_DECLS

/**
 * em_image_metadata_new:
 * @stage: (nullable): where the stage was when the frame arrived
 * @focus: (nullable): where the focus drive was
 *
 * What is known about a captured image, with the JSON names the results and
 * the sidecar files use: `timestamp` (RFC 3339), `width`, `height`, `bit_depth`,
 * `channels`, `exposure` (ms), `gain`, `applied` { `exposure`, `gain` },
 * `stage_position` { `x`, `y`, `z` } (µm) or null, `focus_position` (µm) or
 * null, `pixel_size` (µm per pixel at the sample) or null.
 *
 * Returns: (transfer full): a new object
 */
JsonObject *em_image_metadata_new (EmFrame               *frame,
                                   const EmStagePosition *stage,
                                   const gdouble         *focus);

G_END_DECLS
