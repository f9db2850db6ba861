#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "engine/em-action.h"

G_BEGIN_DECLS

/**
 * EmTaskSpec:
 * @name: 1–256 characters of UTF-8
 * @action: a registered action name
 * @parameters: (nullable): the action's parameters
 * @priority: higher runs first; 0 by default
 * @depends_on: (nullable): ids of tasks that must complete first; inside a batch,
 *   `#<index>` names an earlier item of the same batch
 * @max_retries: how many times a failed run is tried again
 * @retry_delay: seconds before the first retry; doubles each time, up to a cap
 * @run_at: (nullable): not before this time
 * @delay: seconds from submission before it may start (exclusive with @run_at)
 * @timeout: seconds a run may take before it fails; 0 for no limit
 *
 * What a client asks for when it submits a task, before the engine accepts it.
 * Transports build one from their wire form; the engine validates and schedules it.
 */
typedef struct {
  char       *name;
  char       *action;
  JsonObject *parameters;
  gint        priority;
  GStrv       depends_on;
  guint       max_retries;
  gdouble     retry_delay;
  GDateTime  *run_at;
  gdouble     delay;
  gdouble     timeout;
} EmTaskSpec;

#define EM_TASK_NAME_MAX_CHARS 256
#define EM_TASK_MAX_RETRIES 100
#define EM_TASK_DEFAULT_RETRY_DELAY 1.0
/* a retry never waits longer than this, however often it doubled */
#define EM_TASK_RETRY_DELAY_CAP 600.0
#define EM_TASK_MAX_DELAY (366.0 * 24 * 3600)
#define EM_TASK_PRIORITY_LIMIT 1000000
/* the most items one batch may hold: all of them are created in one turn of
 * the main loop (all or nothing), which every client waits for */
#define EM_TASK_BATCH_MAX 5000

EmTaskSpec *em_task_spec_new         (const char  *name,
                                      const char  *action,
                                      JsonObject  *parameters);
/* the REST body: {"name", "action", "parameters"} plus the scheduling options;
 * unknown keys are refused */
EmTaskSpec *em_task_spec_from_json   (JsonNode    *node,
                                      GError     **error);
/* scheduling options only (priority, depends_on, max_retries, retry_delay,
 * run_at, delay, timeout), e.g. the D-Bus `options` dictionary */
gboolean    em_task_spec_set_options (EmTaskSpec  *self,
                                      JsonObject  *options,
                                      GError     **error);
/* a parameter @action declares, given as null, is one left out, as many
 * JSON clients write it; a null under a name @action does not know stays,
 * to be refused by name */
void        em_task_spec_drop_null_parameters (EmTaskSpec *self,
                                               EmAction   *action);
/* a batch of @n_tasks items has at least one and at most EM_TASK_BATCH_MAX;
 * the error names `tasks`. Any thread */
gboolean    em_task_spec_check_batch_size (guint    n_tasks,
                                           GError **error);
void        em_task_spec_free        (EmTaskSpec  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmTaskSpec, em_task_spec_free)

G_END_DECLS
