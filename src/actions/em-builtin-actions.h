#pragma once

#include "engine/em-action-registry.h"

G_BEGIN_DECLS

void em_builtin_actions_register (EmActionRegistry *registry);

G_END_DECLS
