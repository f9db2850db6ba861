#pragma once

#include <gio/gio.h>

#include "engine/em-action-registry.h"
#include "engine/em-event.h"
#include "engine/em-task.h"
#include "engine/em-task-query.h"
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
 * - `events-committed` (guint64 seq): with a store, every event up to @seq is
 *   durable, in the journal or the database (at most once per main-loop turn)
 *
 * Properties: `paused` (gboolean), `max-concurrent` (guint, 0 = no limit),
 * `keep-finished` (guint: with a store, how many finished tasks stay in memory
 * besides the store), `keep-finished-bytes` (guint64: and at most how many
 * bytes their parameters, results and errors take all told, as trees and
 * text; without a store, those past either limit are gone), `retention-max-tasks` (guint, 0 = no limit: stored rows
 * beyond which the oldest finished tasks are pruned), `retention-max-age`
 * (gdouble seconds, 0 = no limit: finished tasks older than this are pruned),
 * `max-pending` (guint, 0 = no limit: pending tasks beyond which submissions are
 * refused with EM_ERROR_UNAVAILABLE).
 */

/* how many tasks may run at once unless told otherwise; devices limit it further */
#define EM_ENGINE_DEFAULT_MAX_CONCURRENT 4
/* with a store, finished tasks kept in memory for the synchronous getters */
#define EM_ENGINE_DEFAULT_KEEP_FINISHED 1000
/* and no more than this much memory: a thousand large results (tile scans)
 * kept gigabytes resident */
#define EM_ENGINE_DEFAULT_KEEP_FINISHED_BYTES (G_GUINT64_CONSTANT (64) * 1024 * 1024)
/* beyond those, the final status of this many more, for depends_on without a
 * query (about 100 bytes each); older ones are looked up in the store */
#define EM_ENGINE_FINISHED_CACHE_SIZE 100000
/* pending tasks beyond which new submissions are refused: a queue this long is a
 * runaway client, and every pending task costs memory and a row */
#define EM_ENGINE_DEFAULT_MAX_PENDING 100000

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
/* the event log's identity, 16 hex digits: a seq means something only with
 * it. Kept in the task database across restarts; a new one for every run
 * without a store and for every new database */
const char       *em_engine_manager_get_event_log_id (EmEngineManager *self);

/* running tasks finish; nothing new starts until resumed */
void              em_engine_manager_pause          (EmEngineManager  *self);
void              em_engine_manager_resume         (EmEngineManager  *self);
gboolean          em_engine_manager_get_paused     (EmEngineManager  *self);
/* (nullable): what holds back ready tasks that the queue, neither paused nor
 * at max-concurrent, would start: "store" while the task store catches up
 * with its writes (EM_STORE_BACKLOG_BYTES); notified as "held" */
const char       *em_engine_manager_get_held       (EmEngineManager  *self);
guint             em_engine_manager_get_max_concurrent (EmEngineManager *self);
void              em_engine_manager_set_max_concurrent (EmEngineManager *self,
                                                        guint            max_concurrent);

guint             em_engine_manager_get_max_pending (EmEngineManager *self);
void              em_engine_manager_set_max_pending (EmEngineManager *self,
                                                     guint            max_pending);
/* whether @n_tasks more pending tasks fit under `max-pending`; if not, fails with
 * EM_ERROR_UNAVAILABLE, "the queue is full: …", as _schedule_task() and
 * _schedule_batch() would (transports that answer "too many requests" check first) */
gboolean          em_engine_manager_check_capacity  (EmEngineManager *self,
                                                     guint            n_tasks,
                                                     GError         **error);

/* cancels pending and running work and refuses new tasks; used at shutdown.
 * A cancelled action still has to return: wait while em_engine_manager_is_busy(). */
void              em_engine_manager_shutdown       (EmEngineManager  *self);
gboolean          em_engine_manager_is_busy        (EmEngineManager  *self);
/* an acknowledgement (em_engine_manager_sync_async()) has not been answered
 * yet: its caller, and the engine, wait on the store */
gboolean          em_engine_manager_is_acknowledging (EmEngineManager *self);
/* a history query, lookup, deletion, pruning or event read has not been
 * answered by the store yet: its request holds the engine until then */
gboolean          em_engine_manager_has_store_requests (EmEngineManager *self);

/* --- the durable record (see README, "Storage") --- */

/**
 * em_engine_manager_open_store:
 *
 * Opens `<data-dir>/tasks.db` (creating or migrating it), takes its lock and
 * restores the tasks it holds: pending tasks resume with their priorities,
 * dependencies, delays and batches; a task that was running fails with
 * "interrupted: the service stopped while it was running", or is queued again
 * when it has retries left. Sequence numbers and serials continue. Call once,
 * at startup, before serving: it is the one call that reads the file on the
 * calling thread. A corrupt, locked, read-only or unwritable file fails with a
 * message naming it, and nothing is written.
 *
 * With a store, em_engine_manager_shutdown() leaves pending tasks pending and
 * running ones running in the record (they are settled at the next start), and
 * memory holds active tasks plus the `keep-finished` most recent finished ones
 * (fewer when they hold more than `keep-finished-bytes`):
 * em_engine_manager_get_task() and _list_tasks() see only those, the _async
 * queries below see everything.
 */
gboolean          em_engine_manager_open_store     (EmEngineManager  *self,
                                                    GError          **error);
gboolean          em_engine_manager_has_store      (EmEngineManager  *self);
/* FALSE, with the reason, once the store can no longer write (a full disk, an
 * I/O error): submissions are refused from then on, until a restart */
gboolean          em_engine_manager_check_store    (EmEngineManager  *self,
                                                    GError          **error);

/**
 * em_engine_manager_sync_async:
 *
 * Completes once every event emitted before the call, and the task state it
 * describes, is durable: appended to the store's journal, which the database
 * replays after a crash (at once without a store). Transports
 * acknowledge a submission (HTTP 201, the D-Bus reply) only from its callback,
 * so an acknowledged task survives a crash of the service. Fails (EM_ERROR_FAILED)
 * when the store can no longer write.
 */
void              em_engine_manager_sync_async     (EmEngineManager     *self,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean          em_engine_manager_sync_finish    (EmEngineManager     *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
/* the highest seq known to be on disk; the last emitted one without a store */
guint64           em_engine_manager_get_committed_event_seq (EmEngineManager *self);

/**
 * em_engine_manager_query_tasks_async:
 * @query: filters (status mask, action, since ≤ created_at < until) and
 *   after/offset/limit, copied
 *
 * All of history, oldest first: from the store (after every write queued
 * before the call, so a task scheduled just before is seen), else from memory.
 * Tasks still in memory are answered in their live form.
 */
void              em_engine_manager_query_tasks_async  (EmEngineManager     *self,
                                                        const EmTaskQuery   *query,
                                                        GCancellable        *cancellable,
                                                        GAsyncReadyCallback  callback,
                                                        gpointer             user_data);
/* Returns: (transfer container) (element-type JsonNode): task objects, as
 * em_task_to_json(); @out_total: how many match in all; @out_next: the
 * query's `after` for the next page, 0 when no task follows this one */
GPtrArray        *em_engine_manager_query_tasks_finish (EmEngineManager     *self,
                                                        GAsyncResult        *result,
                                                        guint               *out_total,
                                                        guint64             *out_next,
                                                        GError             **error);
/* the same, with @out_serials: (transfer full) (element-type guint64) the
 * tasks' serials in the same order, for a caller that stops within a page
 * and continues after the last task it took */
GPtrArray        *em_engine_manager_query_tasks_finish_full (EmEngineManager  *self,
                                                             GAsyncResult     *result,
                                                             guint            *out_total,
                                                             guint64          *out_next,
                                                             GArray          **out_serials,
                                                             GError          **error);
/* one task by id, wherever it is; EM_ERROR_NOT_FOUND when it is nowhere */
void              em_engine_manager_lookup_task_async  (EmEngineManager     *self,
                                                        const char          *id,
                                                        GCancellable        *cancellable,
                                                        GAsyncReadyCallback  callback,
                                                        gpointer             user_data);
/* Returns: (transfer full): the task object */
JsonNode         *em_engine_manager_lookup_task_finish (EmEngineManager     *self,
                                                        GAsyncResult        *result,
                                                        GError             **error);
/* depends_on may name a task that finished long ago: its final status is then
 * in the store only. Scheduling refuses such an id as unknown, so a caller
 * checks first, and when this says FALSE, looks the ids up and schedules from
 * the callback. @specs: (element-type EmTaskSpec) */
gboolean          em_engine_manager_dependencies_known (EmEngineManager *self,
                                                        GPtrArray       *specs);
void              em_engine_manager_look_up_dependencies_async  (EmEngineManager     *self,
                                                                 GPtrArray           *specs,
                                                                 GCancellable        *cancellable,
                                                                 GAsyncReadyCallback  callback,
                                                                 gpointer             user_data);
gboolean          em_engine_manager_look_up_dependencies_finish (EmEngineManager     *self,
                                                                 GAsyncResult        *result,
                                                                 GError             **error);
/**
 * em_engine_manager_delete_tasks_async:
 * @query: status mask (finished statuses only; 0 means all three), action,
 *   since/until; offset and limit are ignored
 *
 * Removes finished history, from the store and from memory. A mask naming
 * pending or running fails with EM_ERROR_INVALID_ARGUMENT. Their events stay
 * in the event log until retention prunes it.
 */
void              em_engine_manager_delete_tasks_async  (EmEngineManager     *self,
                                                         const EmTaskQuery   *query,
                                                         GCancellable        *cancellable,
                                                         GAsyncReadyCallback  callback,
                                                         gpointer             user_data);
gboolean          em_engine_manager_delete_tasks_finish (EmEngineManager     *self,
                                                         GAsyncResult        *result,
                                                         guint               *out_count,
                                                         GError             **error);
/* applies the retention properties now (the engine also does every minute and
 * at startup); @out_count: how many tasks went */
void              em_engine_manager_prune_async    (EmEngineManager     *self,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean          em_engine_manager_prune_finish   (EmEngineManager     *self,
                                                    GAsyncResult        *result,
                                                    guint               *out_count,
                                                    GError             **error);

/**
 * em_engine_manager_read_events_async:
 * @after_seq: the last seq the client has; 0 for everything retained
 * @limit: at most this many; 0 means no limit (page through large gaps)
 * @max_bytes: a read from the store stops once its frames pass this many
 *   bytes, with at least one; 0 means no limit. The ring's frames are
 *   shared, not copied: its reads take @limit alone
 *
 * The events after @after_seq, as their exact WebSocket frames, in seq order:
 * from the in-memory ring of recent events when it reaches back far enough,
 * else from the store (after every queued write). Only durable events are
 * read: none past em_engine_manager_get_committed_event_seq() at the call,
 * from the ring or the store (which, once its database has failed, holds
 * events in memory that a restart may number again). The rest are not
 * included: follow them with an
 * EmDurableFeed created first, buffer, read, then drain the buffer skipping
 * seq ≤ the last one read.
 */
void              em_engine_manager_read_events_async  (EmEngineManager     *self,
                                                        guint64              after_seq,
                                                        guint                limit,
                                                        gsize                max_bytes,
                                                        GCancellable        *cancellable,
                                                        GAsyncReadyCallback  callback,
                                                        gpointer             user_data);
/* Returns: (transfer container) (element-type GBytes): frames without a
 * trailing nul. @out_oldest_available: the oldest seq still retained; when
 * @after_seq + 1 is older, events were lost and the client must resync.
 * @out_cut: (optional): whether @max_bytes stopped the read with events
 * left: fewer events than @limit are the end of the log only if not */
GPtrArray        *em_engine_manager_read_events_finish (EmEngineManager     *self,
                                                        GAsyncResult        *result,
                                                        guint64             *out_oldest_available,
                                                        gboolean            *out_cut,
                                                        GError             **error);
/* the oldest seq a client can still resume from; last seq + 1 when none is kept */
guint64           em_engine_manager_get_oldest_event_seq (EmEngineManager *self);

G_END_DECLS
