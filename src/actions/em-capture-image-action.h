#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_CAPTURE_IMAGE_ACTION (em_capture_image_action_get_type ())
G_DECLARE_FINAL_TYPE (EmCaptureImageAction, em_capture_image_action, EM, CAPTURE_IMAGE_ACTION, EmAction)

EmAction *em_capture_image_action_new (void);

G_END_DECLS
