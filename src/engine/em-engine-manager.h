#pragma once

#include <gio/gio.h>

#include "engine/em-action-registry.h"
#include "engine/em-event.h"
#include "engine/em-task.h"
#include "engine/em-task-spec.h"

G_BEGIN_DECLS

#define EM_TYPE_ENGINE_MANAGER (em_engine_manager_get_type ())
G_DECLARE_FINAL_TYPE (EmEngineManager, em_engine_manager, EM, ENGINE_MANAGER, GObject)

/**
 * EmEngineManager:
 *
 * Owns every task, the queue and the scheduler, on the main context. Signals, all
 * emitted on the main context, in this order for one event:
 *
 * - `task-scheduled`, `task-started`, `task-completed`, `task-failed`,
 *   `task-cancelled` (EmTask *task)
 * - `task-progress` (EmTask *task, gdouble fraction): at most 10 per second per
 *   task; the final value is always emitted
 * - `task-retrying` (EmTask *task, guint attempt, const char *error): an attempt
 *   failed and the task is pending again
 * - `queue-paused`, `queue-resumed` ()
 * - `event` (EmEvent *event): every one of the above, with its sequence number
 *
 * Properties: `paused` (gboolean), `max-concurrent` (guint, 0 = no limit).
 */

/* how many tasks may run at once unless told otherwise; devices limit it further */
#define EM_ENGINE_DEFAULT_MAX_CONCURRENT 4

EmEngineManager  *em_engine_manager_new            (EmActionRegistry *registry,
                                                    EmDeviceSet      *devices,
                                                    const char       *data_dir);

EmActionRegistry *em_engine_manager_get_registry   (EmEngineManager  *self);
EmDeviceSet      *em_engine_manager_get_devices    (EmEngineManager  *self);
const char       *em_engine_manager_get_data_dir   (EmEngineManager  *self);

/* validates @spec fully; returns (transfer none) the pending task */
EmTask           *em_engine_manager_schedule_task  (EmEngineManager  *self,
                                                    EmTaskSpec       *spec,
                                                    GError          **error);
/**
 * em_engine_manager_schedule_batch:
 * @specs: (element-type EmTaskSpec): the items; `depends_on` may name an earlier
 *   item as `#<index>`
 * @exclusive: hold the union of the items' devices from the first start until the
 *   last item finishes, so no other task can slip in between
 *
 * Validates every item before creating any: all or nothing.
 *
 * Returns: (transfer container) (element-type EmTask): the tasks, in order
 */
GPtrArray        *em_engine_manager_schedule_batch (EmEngineManager  *self,
                                                    GPtrArray        *specs,
                                                    gboolean          exclusive,
                                                    GError          **error);
/* NOT_FOUND for an unknown id, CONFLICT when the task already finished */
gboolean          em_engine_manager_cancel_task    (EmEngineManager  *self,
                                                    const char       *id,
                                                    GError          **error);
/* (transfer none) (nullable) */
EmTask           *em_engine_manager_get_task       (EmEngineManager  *self,
                                                    const char       *id);

/**
 * em_engine_manager_list_tasks:
 * @status: (nullable): only tasks with this status, or every task
 * @offset: how many matching tasks to skip, oldest first
 * @limit: at most this many; 0 means no limit
 * @out_total: (out) (optional): how many tasks match in all
 *
 * Uses per-status indexes: the cost is O(log n + limit), never a walk over
 * every task.
 *
 * Returns: (transfer container) (element-type EmTask): oldest first
 */
GPtrArray        *em_engine_manager_list_tasks     (EmEngineManager  *self,
                                                    const EmTaskStatus *status,
                                                    guint             offset,
                                                    guint             limit,
                                                    guint            *out_total);
guint             em_engine_manager_count_tasks    (EmEngineManager  *self,
                                                    const EmTaskStatus *status);
guint64           em_engine_manager_get_last_event_seq (EmEngineManager *self);

/* running tasks finish; nothing new starts until resumed */
void              em_engine_manager_pause          (EmEngineManager  *self);
void              em_engine_manager_resume         (EmEngineManager  *self);
gboolean          em_engine_manager_get_paused     (EmEngineManager  *self);
guint             em_engine_manager_get_max_concurrent (EmEngineManager *self);
void              em_engine_manager_set_max_concurrent (EmEngineManager *self,
                                                        guint            max_concurrent);

/* cancels pending and running work and refuses new tasks; used at shutdown.
 * A cancelled action still has to return: wait while em_engine_manager_is_busy(). */
void              em_engine_manager_shutdown       (EmEngineManager  *self);
gboolean          em_engine_manager_is_busy        (EmEngineManager  *self);

G_END_DECLS
