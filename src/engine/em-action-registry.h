#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_ACTION_REGISTRY (em_action_registry_get_type ())
G_DECLARE_FINAL_TYPE (EmActionRegistry, em_action_registry, EM, ACTION_REGISTRY, GObject)

EmActionRegistry *em_action_registry_new      (void);
void              em_action_registry_add      (EmActionRegistry *self,
                                               EmAction         *action);
EmAction         *em_action_registry_lookup   (EmActionRegistry *self,
                                               const char       *name);
/* sorted by name; (element-type EmAction) (transfer container) */
GPtrArray        *em_action_registry_list     (EmActionRegistry *self);
/* %NULL-terminated, sorted; (transfer full) */
char            **em_action_registry_get_names (EmActionRegistry *self);

G_END_DECLS
