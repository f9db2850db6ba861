#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "engine/em-arena.h"
#include "engine/em-finished-cache.h"
#include "engine/em-task.h"
#include "engine/em-task-query.h"

G_BEGIN_DECLS

/*
 * The durable record: tasks and the event log in SQLite, fronted by an
 * append-only journal (em-store-journal.h). The main context hands rows
 * (already serialized) and requests to a journal thread, which appends the
 * rows and answers syncs, then passes everything on to a writer thread owning
 * the one SQLite connection; answers come back on the main context. Opening
 * (with the replay of the journal) and loading are synchronous and happen
 * once, at startup, before anything is served.
 */
typedef struct _EmStore EmStore;

/* one task's state as of the events handed over with it */
typedef struct {
  char       *id;              /* id and action share the row's block; so do created_at
                                * and json, unless rendered from @snapshot */
  guint64     serial;
  const char *status;          /* static */
  char       *action;
  char       *created_at;
  gint64      created_us;
  gint64      finished_us;     /* 0 while unfinished */
  guint       batch_state;     /* the engine's, opaque here; 0 outside an exclusive batch */
  guint64     scheduled_seq;
  char       *json;            /* for a row made from @snapshot, NULL until rendered */
  const EmTaskSnapshot *snapshot; /* (nullable) what created_at and json are rendered
                                   * from, in the row's arena */
  GBytes     *shared;          /* (nullable) a large result @snapshot points into */
  gboolean    in_arena;        /* freed with its arena */
} EmStoreTaskRow;

typedef struct {
  guint64     seq;
  const char *type;            /* static */
  char       *task_id;         /* (nullable) */
  gint64      timestamp_us;
  const char *json;            /* the frame, in the row's block or arena */
  gsize       json_length;
  GBytes     *frame;           /* (nullable) a large frame @json points into, shared,
                                * not copied */
  gboolean    in_arena;
} EmStoreEventRow;

typedef struct {
  guint64     serial;
  guint       batch_state;     /* as written in EmStoreTaskRow */
  JsonObject *task;            /* the em_task_to_json() form */
  gsize       size;            /* about the bytes it takes in memory: its stored
                                * JSON, as text and as @task */
} EmStoreLoadedTask;

typedef struct {
  GPtrArray  *active;          /* EmStoreLoadedTask, pending and running, oldest first */
  GPtrArray  *recent;          /* EmStoreLoadedTask, the newest finished, oldest first:
                                * as many as fit both bounds em_store_load() was given */
  EmFinishedCache *finished;   /* the newest finished tasks beyond @recent, and those
                                * @active still waits on, pinned */
  guint64     last_seq;
  guint64     oldest_seq;      /* 0 when the log is empty */
  guint64     last_serial;
  guint64     log_id;          /* the event log's identity, kept with the file */
  gboolean    paused;          /* the queue's last event was queue_paused */
} EmStoreSnapshot;

/* called on the main context when events up to @seq are durable */
typedef void (*EmStoreCommittedFunc) (guint64 seq, gpointer user_data);

EmStore    *em_store_open               (const char            *path,
                                         GError               **error);
const char *em_store_get_path           (EmStore               *self);
/* loads the active tasks, the @n_recent newest finished ones (fewer when
 * they take more than @max_recent_bytes in memory all told, by their size)
 * and the final status of the @n_finished before those */
gboolean    em_store_load               (EmStore               *self,
                                         guint                  n_recent,
                                         guint64                max_recent_bytes,
                                         guint                  n_finished,
                                         EmStoreSnapshot       *out,
                                         GError               **error);
void        em_store_snapshot_clear     (EmStoreSnapshot       *snapshot);
/* starts the writer thread; answers and @func run on the thread-default context */
void        em_store_start              (EmStore               *self,
                                         EmStoreCommittedFunc   func,
                                         gpointer               user_data);
/* past this many bytes of writes not yet committed and freed, the store is
 * backlogged: the engine starts no more tasks until it has caught up */
#define EM_STORE_BACKLOG_BYTES ((gsize) 32 * 1024 * 1024)
/* whether it is; if so, @func of em_store_set_drained_func() runs on the main
 * context once the backlog is down to half the bound. Never waits, nor locks */
gboolean    em_store_is_backlogged      (EmStore               *self);
/* @func gets the store and @user_data */
void        em_store_set_drained_func   (EmStore               *self,
                                         GFunc                  func,
                                         gpointer               user_data);
/* flushes, stops the thread and closes the file; pending answers are delivered */
void        em_store_free               (EmStore               *self);
/* FALSE, with the reason naming the file, once the journal or the database
 * has failed a write; from any thread */
gboolean    em_store_check              (EmStore               *self,
                                         GError               **error);
/* whether queries, lookups and event reads see every row handed over so far,
 * as the database would have had its commits succeeded: always, but once a
 * commit has failed and the in-memory overlay that takes the database's
 * place could not take some rows; from any thread */
gboolean    em_store_reads_complete     (EmStore               *self);

/* @tasks: (transfer full) (element-type EmStoreTaskRow)
 * @events: (transfer full) (element-type EmStoreEventRow)
 * @arena: (transfer full) (nullable): where rows of either are, freed after them */
void        em_store_write              (EmStore               *self,
                                         GPtrArray             *tasks,
                                         GPtrArray             *events,
                                         EmArena               *arena);
/* em_store_write() and then em_store_sync_async(), as one request; finished
 * with em_store_sync_finish() */
void        em_store_write_and_sync_async (EmStore             *self,
                                           GPtrArray           *tasks,
                                           GPtrArray           *events,
                                           EmArena             *arena,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
/* a row with copies of the strings in its own block, the rest zeroed: one
 * allocation however many fields (rows are made for every state change) */
EmStoreTaskRow  *em_store_task_row_new  (const char            *id,
                                         const char            *action,
                                         const char            *created_at,
                                         const char            *json,
                                         gsize                  json_length);
/* a row in @arena whose created_at and json are rendered from @snapshot (in
 * the same arena) later, by em_store_task_row_render(), off the main loop */
EmStoreTaskRow  *em_store_task_row_new_in (EmArena               *arena,
                                           const char            *id,
                                           const char            *action,
                                           const EmTaskSnapshot  *snapshot);
/* fills in created_at and json from the snapshot, if not done yet, in @into,
 * which the row must not outlive; @scratch is any empty or reusable buffer */
void        em_store_task_row_render    (EmStoreTaskRow        *row,
                                         GString               *scratch,
                                         EmArena               *into);
void        em_store_task_row_free      (EmStoreTaskRow        *row);
/* @task_id: (nullable); the row holds copies of it and of @json */
EmStoreEventRow *em_store_event_row_new (const char            *task_id,
                                         const char            *json,
                                         gsize                  json_length);
EmStoreEventRow *em_store_event_row_new_in (EmArena            *arena,
                                            const char         *task_id,
                                            const char         *json,
                                            gsize               json_length);
/* a large frame shared, not copied: its last reference dropped on another
 * thread frees it there, but once for many bytes */
EmStoreEventRow *em_store_event_row_new_sharing (EmArena      *arena,
                                                 const char   *task_id,
                                                 GBytes       *frame);
/* a row in an arena waits for its arena */
void        em_store_event_row_free     (EmStoreEventRow       *row);

/* everything written before the call survives a crash of the service: it is
 * in the journal, and in the database soon after */
void        em_store_sync_async         (EmStore               *self,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
gboolean    em_store_sync_finish        (EmStore               *self,
                                         GAsyncResult          *result,
                                         GError               **error);
/* (element-type JsonNode) sealed task objects, oldest first */
void        em_store_query_tasks_async  (EmStore               *self,
                                         const EmTaskQuery     *query,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
/* @out_serials: (out) (optional) (transfer full): the tasks' serials, in the
 * same order; @out_next: the serial to list after for the next page, 0 on
 * the last */
GPtrArray  *em_store_query_tasks_finish (EmStore               *self,
                                         GAsyncResult          *result,
                                         guint                 *out_total,
                                         GArray               **out_serials,
                                         guint64               *out_next,
                                         GError               **error);
/* NOT_FOUND when no such task is stored */
void        em_store_lookup_task_async  (EmStore               *self,
                                         const char            *id,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
JsonNode   *em_store_lookup_task_finish (EmStore               *self,
                                         GAsyncResult          *result,
                                         GError               **error);
/* deletes the matching tasks (the caller restricts it to finished ones)
 * but those in @keep (nullable); returns (transfer full) the deleted ids.
 * UNAVAILABLE once the store has failed a write (em_store_check()) */
void        em_store_delete_tasks_async (EmStore               *self,
                                         const EmTaskQuery     *query,
                                         const char * const    *keep,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
GStrv       em_store_delete_tasks_finish (EmStore              *self,
                                          GAsyncResult         *result,
                                          GError              **error);
/* (element-type GBytes) frames with @after_seq < seq <= @max_seq, in seq
 * order: a reader passes what it announced as durable, since once the
 * database has failed the store also holds events that may never be. At
 * most @limit (0: no limit), and the read stops once the frames pass
 * @max_bytes (0: no limit), with at least one */
void        em_store_read_events_async  (EmStore               *self,
                                         guint64                after_seq,
                                         guint64                max_seq,
                                         guint                  limit,
                                         gsize                  max_bytes,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
/* @out_cut: (optional): whether @max_bytes stopped the read with events left
 * before @limit and @max_seq: a read that returns fewer than @limit events
 * has reached the end only if not */
GPtrArray  *em_store_read_events_finish (EmStore               *self,
                                         GAsyncResult          *result,
                                         guint64               *out_oldest_seq,
                                         gboolean              *out_cut,
                                         GError               **error);
/* retention: finished tasks but those in @keep (nullable) beyond @max_tasks
 * rows or finished more than @max_age_us ago (0: no limit), then the events
 * older than every remaining task; returns (transfer full) the pruned task
 * ids. UNAVAILABLE as deletion is */
void        em_store_prune_async        (EmStore               *self,
                                         guint                  max_tasks,
                                         gint64                 max_age_us,
                                         const char * const    *keep,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
GStrv       em_store_prune_finish       (EmStore               *self,
                                         GAsyncResult          *result,
                                         guint64               *out_oldest_seq,
                                         GError               **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmStore, em_store_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EmStoreSnapshot, em_store_snapshot_clear)

G_END_DECLS
