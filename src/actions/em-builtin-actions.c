#include "config.h"

#include "actions/em-builtin-actions.h"
#include "actions/em-adjust-focus-action.h"
#include "actions/em-autofocus-action.h"
#include "actions/em-capture-image-action.h"
#include "actions/em-move-stage-action.h"
#include "actions/em-tile-scan-action.h"
#include "actions/em-wait-action.h"

/* the one place built-in actions are listed; transports read the registry */
void
em_builtin_actions_register (EmActionRegistry *registry)
{
  g_autoptr(EmAction) capture = em_capture_image_action_new ();
  g_autoptr(EmAction) move = em_move_stage_action_new ();
  g_autoptr(EmAction) focus = em_adjust_focus_action_new ();
  g_autoptr(EmAction) wait = em_wait_action_new ();
  g_autoptr(EmAction) autofocus = em_autofocus_action_new ();
  g_autoptr(EmAction) tile_scan = em_tile_scan_action_new ();

  em_action_registry_add (registry, capture);
  em_action_registry_add (registry, move);
  em_action_registry_add (registry, focus);
  em_action_registry_add (registry, wait);
  em_action_registry_add (registry, autofocus);
  em_action_registry_add (registry, tile_scan);
}
