#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * EmTaskSpec:
 * @name: 1–256 characters of UTF-8
 * @action: a registered action name
 * @parameters: (nullable): the action's parameters
 *
 * What a client asks for when it submits a task, before the engine accepts it.
 * Transports build one from their wire form; the engine validates and schedules it.
 */
typedef struct {
  char       *name;
  char       *action;
  JsonObject *parameters;
} EmTaskSpec;

#define EM_TASK_NAME_MAX_CHARS 256

EmTaskSpec *em_task_spec_new       (const char  *name,
                                    const char  *action,
                                    JsonObject  *parameters);
/* the REST body: {"name", "action", "parameters"}; unknown keys are refused */
EmTaskSpec *em_task_spec_from_json (JsonNode    *node,
                                    GError     **error);
void        em_task_spec_free      (EmTaskSpec  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmTaskSpec, em_task_spec_free)

G_END_DECLS
