#define G_LOG_DOMAIN "em-store"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-writer.h"
#include "engine/em-store-journal.h"
#include "engine/em-store-private.h"
#include "engine/em-trim.h"

/* how many queued requests one transaction may take: rows from many loop
 * iterations go into one commit while the previous commit is running */
#define MAX_BATCH 512
/* past this size a journal file hands appends over to the other, which then
 * waits to be emptied, and the writer stops spacing its commits until it is */
#define JOURNAL_TRIM_BYTES (4 * 1024 * 1024)
/* past this size of the file appends go to, while the other still holds
 * writes the database lacks, the journal waits for the database: it bounds
 * both the files and the work not yet in the database */
#define JOURNAL_MAX_BYTES (8 * 1024 * 1024)
/* once the database has failed, or a full journal file cannot be emptied,
 * the journal only grows, and the next start reads it whole to replay it:
 * past this size it takes no more, as if it could not be written (every
 * acknowledgement fails from then on) */
#define JOURNAL_FAILED_MAX_BYTES (64 * 1024 * 1024)
/* a commit takes no more than this many bytes of rows either: its writes are
 * freed only after it, and so are the large results they hold */
#define MAX_BATCH_BYTES (16 * 1024 * 1024)
/* the journal thread's buffer for rendering a task's row keeps no more room
 * than this between batches: rows this large are rare, and the time to
 * render one dwarfs that of growing the buffer again */
#define SCRATCH_MAX_BYTES (256 * 1024)

typedef enum {
  OP_WRITE,
  OP_SYNC,
  OP_QUERY,
  OP_LOOKUP,
  OP_DELETE,
  OP_EVENTS,
  OP_PRUNE,
  OP_STOP,
  OP_WAKE,      /* from the journal thread: end the writer's wait between commits */
} OpKind;

/* a request to the writer thread, and its answer */
typedef struct _Op {
  OpKind       kind;
  GTask       *task;        /* touched on the main context only */
  GPtrArray   *tasks;
  GPtrArray   *events;
  EmArena     *arena;       /* OP_WRITE: where its rows are, if anywhere */
  EmArena     *rendered;    /* OP_WRITE: the text of its task rows, made by the journal
                             * thread in its own malloc arena */
  struct _Op  *sync;        /* OP_WRITE: an OP_SYNC answered once it is journaled */
  EmTaskQuery  query;
  char        *id;
  GStrv        keep;        /* OP_DELETE, OP_PRUNE: ids left alone */
  guint64      write_no;    /* OP_WRITE: its number in the journal, from 1 */
  gsize        bytes;       /* OP_WRITE: what it counts in the backlog */
  gsize        large_bytes; /* OP_WRITE: of that, in rows and frames of EM_TRIM_LARGE_BYTES
                             * or more */
  guint64      after_seq;
  guint64      max_seq;     /* OP_EVENTS */
  guint        limit;
  gsize        max_bytes;   /* OP_EVENTS */
  gboolean     cut;         /* OP_EVENTS: max_bytes stopped the read */
  guint        max_tasks;
  gint64       max_age_us;

  GError      *error;
  GPtrArray   *items;
  JsonNode    *node;
  guint        total;
  guint64      next;        /* OP_QUERY: the cursor of the next page */
  GArray      *serials;     /* OP_QUERY: those of @items */
  guint64      oldest_seq;
  GStrv        ids;
} Op;

static void op_free (Op *op);

/*
 * Two threads: requests go to the journal thread, which appends each write to
 * the journal and answers syncs as soon as their writes are there, then hands
 * every request on, in order, to the writer thread, which commits the writes
 * to SQLite and answers the queries.
 */
struct _EmStore
{
  EmStoreDb             conn;
  EmStoreJournal       *journal;
  GThread              *journal_thread;
  GThread              *thread;
  GAsyncQueue          *queue;          /* to the journal thread */
  GAsyncQueue          *writer_queue;   /* from the journal thread to the writer */
  GMainContext         *context;
  EmStoreCommittedFunc  committed_func;
  gpointer              committed_data;

  GMutex                lock;
  GCond                 applied_cond;
  GPtrArray            *done;           /* answered Op, under lock */
  GPtrArray            *spent;          /* under lock: committed writes, for the main
                                         * context to free */
  GSource              *wake;           /* under lock */
  guint64               committed_seq;  /* under lock */
  guint64               applied_writes; /* under lock: committed to SQLite */
  gboolean              writer_failed;  /* under lock */
  gboolean              journal_failed; /* under lock; journal_error is set before it */
  gboolean              reads_stale;    /* under lock: after a failed commit, the overlay
                                         * could not take some rows */
  guint64               notified_seq;

  /* journal thread only */
  GError               *journal_error;  /* sticky: an unwritten record cannot be acknowledged */
  guint64               forwarded_writes;
  guint64               last_write_no;  /* set at open, before the thread starts */
  gboolean              release_failed; /* the sealed file could not be emptied: tried
                                         * again with every batch, said once */

  /* writer thread only */
  sqlite3_stmt         *upsert_task;
  sqlite3_stmt         *insert_event;
  sqlite3_stmt         *set_meta;
  sqlite3_stmt         *select_status;
  sqlite3_stmt         *add_count;
  sqlite3_stmt         *overlay_task;   /* once a commit has failed (em_store_sql_start_overlay) */
  sqlite3_stmt         *overlay_event;
  GError               *write_error;    /* sticky: after a failed commit nothing more is
                                         * committed, so the journal replays it all */
  int                   wal_frames;     /* in the WAL since its last checkpoint */
  int                   checkpoint_frames;      /* CHECKPOINT_BYTES in frames */
  int                   checkpoint_frames_max;
  gint64                last_commit_us;

  gint                  catch_up;       /* atomic: a sealed journal file waits to be emptied */

  /* bytes of writes handed over and not yet committed and handed back to be
   * freed: atomic, so that the engine reads it at every task start without
   * the lock */
  gsize                 backlog;
  gsize                 backlog_bound;  /* set before the writer starts */
  gint                  backlog_watched; /* atomic: the main context waits for it to
                                          * drop, and hears of it in deliver_cb; who
                                          * clears it (compare-and-exchange) wakes it */
  gboolean              drained;        /* under lock */
  gboolean              writer_held;    /* under lock: em_store_hold_writer() */
  guint                 writer_steps;   /* under lock: batches it may commit while held */
  guint                 writer_stops;   /* under lock: times it stopped, held */
  GCond                 writer_cond;
  GFunc                 drained_func;   /* main context only */
  gpointer              drained_data;
};

/* the least time between two commits while writes keep coming: a commit
 * writes every page it touched whole, and a task's id lands on a page of its
 * index at random, so few large commits write far less than many small ones
 * (over REST, 100 ms instead of 20 took the store's threads from 25-28 to
 * 22-24 µs of CPU per request) */
#define COMMIT_INTERVAL_US (100 * 1000)
/* but a commit takes no more rows than this, past which the journal, whose
 * full file is emptied only once the database has its writes, grows towards
 * its limit (store-bench, at ~100 000 tasks/s, fell from 0.57 to 0.33-0.41 of
 * the rate without a store with 100 ms and no such bound). Not much less
 * either: past ~100 000 tasks of history every commit rewrites nearly all of
 * the random id index, so its cost per task falls with the tasks it carries
 * (8 192 rows, ~2 000 tasks: the writer fell behind, store-bench of 200 000
 * tasks 0.69-0.76; now 0.87-0.91) */
#define MAX_BATCH_ROWS 32768
/* SQLite's own checkpoint runs inside COMMIT, before the batch's
 * acknowledgements; this one runs after them, when nothing else waits, once
 * the WAL holds this much (in frames of the file's own page size) */
#define CHECKPOINT_BYTES (4 * 1024 * 1024)
/* under load that never pauses, the WAL is still checkpointed at this size */
#define CHECKPOINT_BYTES_MAX (32 * 1024 * 1024)

static void
op_free (Op *op)
{
  g_clear_object (&op->task);
  g_clear_pointer (&op->tasks, g_ptr_array_unref);
  g_clear_pointer (&op->events, g_ptr_array_unref);
  /* after the rows */
  g_clear_pointer (&op->arena, em_arena_free);
  g_clear_pointer (&op->rendered, em_arena_free);
  g_clear_pointer (&op->sync, op_free);
  em_task_query_clear (&op->query);
  g_free (op->id);
  g_strfreev (op->keep);
  g_clear_error (&op->error);
  g_clear_pointer (&op->items, g_ptr_array_unref);
  g_clear_pointer (&op->serials, g_array_unref);
  g_clear_pointer (&op->node, json_node_unref);
  g_strfreev (op->ids);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Op, op_free)

/* copies @text to @at and returns where the next string goes */
static char *
put_string (char **field, char *at, const char *text, gsize length)
{
  memcpy (at, text, length + 1);
  *field = at;
  return at + length + 1;
}

EmStoreTaskRow *
em_store_task_row_new (const char *id,
                       const char *action,
                       const char *created_at,
                       const char *json,
                       gsize       json_length)
{
  gsize id_length = strlen (id), action_length = strlen (action);
  gsize created_length = strlen (created_at);
  EmStoreTaskRow *row = g_malloc0 (sizeof *row + id_length + action_length + created_length +
                                   json_length + 4);
  char *at = (char *) (row + 1);

  at = put_string (&row->id, at, id, id_length);
  at = put_string (&row->action, at, action, action_length);
  at = put_string (&row->created_at, at, created_at, created_length);
  memcpy (at, json, json_length);
  at[json_length] = '\0';
  row->json = at;
  return row;
}

EmStoreTaskRow *
em_store_task_row_new_in (EmArena              *arena,
                          const char           *id,
                          const char           *action,
                          const EmTaskSnapshot *snapshot)
{
  gsize id_length = strlen (id), action_length = strlen (action);
  EmStoreTaskRow *row = em_arena_alloc0 (arena, sizeof *row + id_length + action_length + 2);
  char *at = (char *) (row + 1);

  at = put_string (&row->id, at, id, id_length);
  put_string (&row->action, at, action, action_length);
  row->snapshot = snapshot;
  row->in_arena = TRUE;
  return row;
}

void
em_store_task_row_render (EmStoreTaskRow *row, GString *scratch, EmArena *into)
{
  if (row->json != NULL)
    return;
  g_string_truncate (scratch, 0);
  em_task_snapshot_write_json (row->snapshot, scratch);
  row->created_at = em_arena_alloc (into, EM_JSON_TIME_SIZE);
  em_json_format_time_us_into (row->snapshot->created_us, row->created_at);
  row->json = em_arena_memdup (into, scratch->str, scratch->len + 1);
}

void
em_store_task_row_free (EmStoreTaskRow *row)
{
  if (row == NULL)
    return;
  g_clear_pointer (&row->shared, g_bytes_unref);
  if (!row->in_arena)
    g_free (row);
}

/* the task id and the frame after the row, in one block */
static EmStoreEventRow *
event_row_init (EmStoreEventRow *row, const char *task_id, gsize id_length, const char *json,
                gsize json_length)
{
  char *at = (char *) (row + 1);

  if (task_id != NULL)
    at = put_string (&row->task_id, at, task_id, id_length);
  memcpy (at, json, json_length);
  at[json_length] = '\0';
  row->json = at;
  row->json_length = json_length;
  return row;
}

EmStoreEventRow *
em_store_event_row_new (const char *task_id, const char *json, gsize json_length)
{
  gsize id_length = task_id != NULL ? strlen (task_id) : 0;
  EmStoreEventRow *row = g_malloc0 (sizeof *row + id_length + 1 + json_length + 1);

  return event_row_init (row, task_id, id_length, json, json_length);
}

EmStoreEventRow *
em_store_event_row_new_in (EmArena *arena, const char *task_id, const char *json, gsize json_length)
{
  gsize id_length = task_id != NULL ? strlen (task_id) : 0;
  EmStoreEventRow *row = em_arena_alloc0 (arena, sizeof *row + id_length + 1 + json_length + 1);

  row->in_arena = TRUE;
  return event_row_init (row, task_id, id_length, json, json_length);
}

EmStoreEventRow *
em_store_event_row_new_sharing (EmArena *arena, const char *task_id, GBytes *frame)
{
  gsize id_length = task_id != NULL ? strlen (task_id) : 0;
  EmStoreEventRow *row = em_arena_alloc0 (arena, sizeof *row + id_length + 1);

  row->in_arena = TRUE;
  if (task_id != NULL)
    put_string (&row->task_id, (char *) (row + 1), task_id, id_length);
  row->frame = g_bytes_ref (frame);
  row->json = g_bytes_get_data (frame, &row->json_length);
  return row;
}

void
em_store_event_row_free (EmStoreEventRow *row)
{
  if (row == NULL)
    return;
  g_clear_pointer (&row->frame, g_bytes_unref);
  if (!row->in_arena)
    g_free (row);
}

void
em_store_loaded_task_free (EmStoreLoadedTask *loaded)
{
  /* the engine may have let go of it already */
  g_clear_pointer (&loaded->task, json_object_unref);
  g_free (loaded);
}

const char *
em_store_get_path (EmStore *self)
{
  return self->conn.path;
}

static gboolean prepare_writes (EmStore *self, GError **error);

/* the checkpoint sizes in frames of this file's pages (an older file has
 * smaller ones than a new one) */
static gboolean
set_checkpoint_size (EmStore *self, GError **error)
{
  gint64 page_size = 0;

  if (!em_store_sql_load_int (&self->conn, "PRAGMA page_size", &page_size, error))
    return FALSE;
  page_size = MAX (page_size, 512);
  self->checkpoint_frames = (int) (CHECKPOINT_BYTES / page_size);
  self->checkpoint_frames_max = (int) (CHECKPOINT_BYTES_MAX / page_size);
  return TRUE;
}

static gboolean replay_journal (EmStore *self, GError **error);

EmStore *
em_store_open (const char *path, GError **error)
{
  g_autofree char *journal_path = NULL;
  EmStore *self;
  sqlite3 *db = em_store_schema_open (path, error);

  if (db == NULL)
    return NULL;

  self = g_new0 (EmStore, 1);
  self->conn.path = g_strdup (path);
  self->conn.db = db;
  self->queue = g_async_queue_new ();
  self->writer_queue = g_async_queue_new ();
  self->done = g_ptr_array_new ();
  self->spent = g_ptr_array_new ();
  g_mutex_init (&self->lock);
  g_cond_init (&self->applied_cond);
  g_cond_init (&self->writer_cond);
  self->backlog_bound = EM_STORE_BACKLOG_BYTES;

  /* the database lock is held: nobody else appends to the journal */
  journal_path = em_store_journal_path_for (path);
  if (!set_checkpoint_size (self, error) ||
      !prepare_writes (self, error) ||
      (self->journal = em_store_journal_open (journal_path, error)) == NULL ||
      !replay_journal (self, error))
    {
      em_store_free (self);
      return NULL;
    }
  return self;
}

/* --- loading, at startup --- */

void
em_store_snapshot_clear (EmStoreSnapshot *snapshot)
{
  g_clear_pointer (&snapshot->active, g_ptr_array_unref);
  g_clear_pointer (&snapshot->recent, g_ptr_array_unref);
  g_clear_pointer (&snapshot->finished, em_finished_cache_free);
}

/* pruning keeps the log from the first event of the oldest remaining task,
 * its task_scheduled (scheduled_seq). A task from a schema 1 file has none,
 * and MIN() passed over it: a pending or running one would lose the events
 * of its story so far. It gets its first event in the log, or, with none
 * yet, the next one */
static const char fill_scheduled_seq[] =
  "UPDATE tasks SET scheduled_seq = COALESCE ("
  "  (SELECT MIN (seq) FROM events WHERE events.task_id = tasks.id),"
  "  1 + MAX ((SELECT COALESCE (MAX (seq), 0) FROM events),"
  "           (SELECT COALESCE ((SELECT value FROM meta WHERE key = 'last_seq'), 0))))"
  " WHERE scheduled_seq IS NULL AND status IN ('pending', 'running')";

gboolean
em_store_load (EmStore *self, guint n_recent, guint64 max_recent_bytes, guint n_finished,
               EmStoreSnapshot *out, GError **error)
{
  gint64 meta_seq = 0, max_seq = 0, oldest_seq = 0, meta_serial = 0, max_serial = 0;
  gint64 paused_seq = 0, resumed_seq = 0, log_id = 0;

  g_return_val_if_fail (self->thread == NULL, FALSE);

  memset (out, 0, sizeof *out);
  out->active = g_ptr_array_new_with_free_func ((GDestroyNotify) em_store_loaded_task_free);
  out->recent = g_ptr_array_new_with_free_func ((GDestroyNotify) em_store_loaded_task_free);
  out->finished = em_finished_cache_new (n_finished);

  if (!em_store_exec (self->conn.db, self->conn.path, fill_scheduled_seq, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT value FROM meta WHERE key = 'last_seq'", &meta_seq, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT COALESCE (MAX (seq), 0) FROM events", &max_seq, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT COALESCE (MIN (seq), 0) FROM events", &oldest_seq, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT value FROM meta WHERE key = 'last_serial'", &meta_serial, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT COALESCE (MAX (serial), 0) FROM tasks", &max_serial, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT COALESCE ((SELECT value FROM meta WHERE key = 'paused_seq'), 0)",
                              &paused_seq, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT COALESCE ((SELECT value FROM meta WHERE key = 'resumed_seq'), 0)",
                              &resumed_seq, error) ||
      !em_store_sql_load_int (&self->conn, "SELECT value FROM meta WHERE key = 'log_id'", &log_id, error) ||
      !em_store_sql_load_tasks (&self->conn, "SELECT serial, batch_exclusive, json FROM tasks "
                         "WHERE status IN ('pending', 'running') ORDER BY serial",
                   out->active, error) ||
      !em_store_sql_load_recent (&self->conn, n_recent, max_recent_bytes, out->recent, error) ||
      !em_store_sql_load_finished (&self->conn, out->recent->len, out->finished, error) ||
      !em_store_sql_load_waited_on (&self->conn, out->active, out->finished, error))
    {
      em_store_snapshot_clear (out);
      return FALSE;
    }

  out->last_seq = MAX (meta_seq, max_seq);
  out->oldest_seq = oldest_seq;
  out->last_serial = MAX (meta_serial, max_serial);
  out->paused = paused_seq > resumed_seq;
  out->log_id = (guint64) log_id;
  self->committed_seq = self->notified_seq = out->last_seq;
  return TRUE;
}

/* --- the writer thread --- */

static gboolean
step_done (EmStore *self, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->conn.db, self->conn.path, rc);
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_task_with (EmStore *self, sqlite3_stmt *stmt, EmStoreTaskRow *row, GError **error)
{
  sqlite3_bind_text (stmt, 1, row->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) row->serial);
  sqlite3_bind_text (stmt, 3, row->status, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, row->action, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, row->created_at, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, row->created_us);
  if (row->finished_us != 0)
    sqlite3_bind_int64 (stmt, 7, row->finished_us);
  else
    sqlite3_bind_null (stmt, 7);
  sqlite3_bind_int (stmt, 8, (int) row->batch_state);
  if (row->scheduled_seq != 0)
    sqlite3_bind_int64 (stmt, 9, (sqlite3_int64) row->scheduled_seq);
  else
    sqlite3_bind_null (stmt, 9);
  sqlite3_bind_text (stmt, 10, row->json, -1, SQLITE_STATIC);
  return step_done (self, stmt, error);
}

/* the highest of each in what one transaction writes, and how it changes the
 * number of tasks in each status */
typedef struct {
  guint64 seq;
  guint64 serial;
  guint64 write;
  guint64 paused_seq;   /* the last queue_paused event */
  guint64 resumed_seq;  /* the last queue_resumed event */
  gint64  in_status[EM_TASK_STATUS_N_STATUSES];
} Counters;

/* the upsert counts tasks by status as it changes them: the row's status
 * before it, if any, loses one, and its new one gains one */
static gboolean
count_status_change (EmStore *self, EmStoreTaskRow *row, Counters *counters, GError **error)
{
  sqlite3_stmt *stmt = self->select_status;
  EmTaskStatus before, after;
  gboolean known_before = FALSE;
  int rc;

  sqlite3_bind_text (stmt, 1, row->id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    known_before = em_task_status_from_string ((const char *) sqlite3_column_text (stmt, 0), &before);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->conn.db, self->conn.path, rc);
      return FALSE;
    }
  if (!em_task_status_from_string (row->status, &after) || (known_before && before == after))
    return TRUE;
  if (known_before)
    counters->in_status[before]--;
  counters->in_status[after]++;
  return TRUE;
}

static gboolean
write_task (EmStore *self, EmStoreTaskRow *row, Counters *counters, GError **error)
{
  return count_status_change (self, row, counters, error) &&
         write_task_with (self, self->upsert_task, row, error);
}

static gboolean
write_event_with (EmStore *self, sqlite3_stmt *stmt, EmStoreEventRow *row, GError **error)
{
  sqlite3_bind_int64 (stmt, 1, (sqlite3_int64) row->seq);
  sqlite3_bind_text (stmt, 2, row->type, -1, SQLITE_STATIC);
  if (row->task_id != NULL)
    sqlite3_bind_text (stmt, 3, row->task_id, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, 3);
  sqlite3_bind_int64 (stmt, 4, row->timestamp_us);
  sqlite3_bind_text (stmt, 5, row->json, (int) row->json_length, SQLITE_STATIC);
  return step_done (self, stmt, error);
}

static gboolean
write_event (EmStore *self, EmStoreEventRow *row, GError **error)
{
  return write_event_with (self, self->insert_event, row, error);
}

static gboolean
write_meta (EmStore *self, const char *key, guint64 value, GError **error)
{
  sqlite3_bind_text (self->set_meta, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (self->set_meta, 2, (sqlite3_int64) value);
  return step_done (self, self->set_meta, error);
}

static gboolean
write_rows (EmStore   *self,
            GPtrArray *tasks,
            GPtrArray *events,
            Counters  *counters,
            GError   **error)
{
  for (guint t = 0; tasks != NULL && t < tasks->len; t++)
    {
      EmStoreTaskRow *row = g_ptr_array_index (tasks, t);

      if (!write_task (self, row, counters, error))
        return FALSE;
      counters->serial = MAX (counters->serial, row->serial);
    }
  for (guint e = 0; events != NULL && e < events->len; e++)
    {
      EmStoreEventRow *row = g_ptr_array_index (events, e);

      if (!write_event (self, row, error))
        return FALSE;
      counters->seq = MAX (counters->seq, row->seq);
      if (g_strcmp0 (row->type, "queue_paused") == 0)
        counters->paused_seq = MAX (counters->paused_seq, row->seq);
      else if (g_strcmp0 (row->type, "queue_resumed") == 0)
        counters->resumed_seq = MAX (counters->resumed_seq, row->seq);
    }
  return TRUE;
}

static gboolean
write_status_counts (EmStore *self, const Counters *counters, GError **error)
{
  for (guint s = 0; s < EM_TASK_STATUS_N_STATUSES; s++)
    {
      if (counters->in_status[s] == 0)
        continue;
      sqlite3_reset (self->add_count);
      sqlite3_bind_text (self->add_count, 1, em_task_status_to_string (s), -1, SQLITE_STATIC);
      sqlite3_bind_int64 (self->add_count, 2, counters->in_status[s]);
      if (!step_done (self, self->add_count, error))
        return FALSE;
    }
  return TRUE;
}

/* the counters move in the same transaction as the rows: last_write says which
 * journal records the database already has. The queue's state is kept as the
 * seq of its last pause and resume, since retention may prune those events */
static gboolean
write_counters (EmStore *self, const Counters *counters, GError **error)
{
  return write_status_counts (self, counters, error) &&
         (counters->seq == 0 || write_meta (self, "last_seq", counters->seq, error)) &&
         (counters->serial == 0 || write_meta (self, "last_serial", counters->serial, error)) &&
         (counters->write == 0 || write_meta (self, "last_write", counters->write, error)) &&
         (counters->paused_seq == 0 || write_meta (self, "paused_seq", counters->paused_seq, error)) &&
         (counters->resumed_seq == 0 || write_meta (self, "resumed_seq", counters->resumed_seq, error));
}

/* a batch's transaction: rows go in as their writes arrive, so that what is
 * left at the commit, which the queries and acknowledgements after the batch
 * wait for, is little. A row of an unfinished task waits for the commit
 * instead, and goes in only if no newer row of the task came meanwhile: a task
 * usually finishes within one batch, and one row is written instead of two.
 * A task may still get several rows in one commit, the last winning: the
 * columns the upsert keeps from the first never change */
typedef struct {
  gboolean    open;
  GError     *error;
  GHashTable *newest;    /* task id → its newest row in the batch */
  GPtrArray  *held;      /* rows of unfinished tasks */
  Counters    counters;
} Transaction;

static void
transaction_clear (Transaction *txn)
{
  g_clear_error (&txn->error);
  g_clear_pointer (&txn->newest, g_hash_table_unref);
  g_clear_pointer (&txn->held, g_ptr_array_unref);
}

static gboolean
row_is_final (const EmStoreTaskRow *row)
{
  return row->finished_us != 0;
}

static void
set_reads_stale (EmStore *self)
{
  g_mutex_lock (&self->lock);
  self->reads_stale = TRUE;
  g_mutex_unlock (&self->lock);
}

/* after a failed commit: a write's rows go into the overlay, in order, the
 * last row of a task replacing the one before */
static void
overlay_add (EmStore *self, Op *op)
{
  g_autoptr(GError) error = NULL;

  if (self->overlay_task == NULL)
    return;
  for (guint t = 0; op->tasks != NULL && t < op->tasks->len; t++)
    if (!write_task_with (self, self->overlay_task, g_ptr_array_index (op->tasks, t), &error))
      break;
  for (guint e = 0; error == NULL && op->events != NULL && e < op->events->len; e++)
    if (!write_event_with (self, self->overlay_event, g_ptr_array_index (op->events, e), &error))
      break;
  /* once: the engine keeps its finished tasks from then on */
  if (error != NULL && em_store_reads_complete (self))
    {
      g_warning ("%s", error->message);
      set_reads_stale (self);
    }
}

/* once a commit has failed: the overlay, with the rows of the batch that
 * failed; later writes go there as they arrive. FALSE if there is none */
static gboolean
start_overlay (EmStore *self, GPtrArray *batch)
{
  g_autoptr(GError) error = NULL;

  if (!em_store_sql_start_overlay (&self->conn, &error) ||
      !em_store_sql_prepare (&self->conn,
                             "INSERT OR REPLACE INTO overlay.tasks (id, serial, status, action, "
                             "created_at, created_us, finished_us, batch_exclusive, scheduled_seq, "
                             "json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                             &self->overlay_task, &error) ||
      !em_store_sql_prepare (&self->conn,
                             "INSERT OR REPLACE INTO overlay.events (seq, type, task_id, "
                             "timestamp_us, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                             &self->overlay_event, &error))
    {
      /* reads stay with what the database has */
      g_warning ("%s", error->message);
      self->conn.overlay = FALSE;
      g_clear_pointer (&self->overlay_task, sqlite3_finalize);
      return FALSE;
    }
  for (guint i = 0; i < batch->len; i++)
    if (((Op *) g_ptr_array_index (batch, i))->kind == OP_WRITE)
      overlay_add (self, g_ptr_array_index (batch, i));
  return TRUE;
}

/* the write's rows into the transaction, opened by the first write */
static void
transaction_add (EmStore *self, Transaction *txn, Op *op)
{
  if (self->write_error != NULL)
    {
      overlay_add (self, op);
      return;
    }
  if (txn->error != NULL)
    return;
  if (!txn->open)
    {
      if (!em_store_exec (self->conn.db, self->conn.path, "BEGIN IMMEDIATE", &txn->error))
        return;
      txn->open = TRUE;
      txn->newest = g_hash_table_new (g_str_hash, g_str_equal);
      txn->held = g_ptr_array_new ();
    }
  for (guint t = 0; op->tasks != NULL && t < op->tasks->len; t++)
    {
      EmStoreTaskRow *row = g_ptr_array_index (op->tasks, t);

      g_hash_table_insert (txn->newest, row->id, row);
      txn->counters.serial = MAX (txn->counters.serial, row->serial);
      if (!row_is_final (row))
        g_ptr_array_add (txn->held, row);
      else if (!write_task (self, row, &txn->counters, &txn->error))
        return;
    }
  if (!write_rows (self, NULL, op->events, &txn->counters, &txn->error))
    return;
  txn->counters.write = MAX (txn->counters.write, op->write_no);
}

/* the held rows still newest, the counters, and the commit */
static gboolean
transaction_commit (EmStore *self, Transaction *txn, GError **error)
{
  if (txn->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&txn->error));
      return FALSE;
    }
  for (guint i = 0; i < txn->held->len; i++)
    {
      EmStoreTaskRow *row = g_ptr_array_index (txn->held, i);

      if (g_hash_table_lookup (txn->newest, row->id) == row &&
          !write_task (self, row, &txn->counters, error))
        return FALSE;
    }
  return write_counters (self, &txn->counters, error) &&
         em_store_exec (self->conn.db, self->conn.path, "COMMIT", error);
}

typedef struct {
  EmStore *self;
  gint64   last_seq;     /* what the database had */
  gint64   last_write;
  Counters counters;
  guint    records;
} Replay;

/* a write's events are in seq order; 0 when it has none */
static guint64
last_event_seq (GPtrArray *events)
{
  if (events == NULL || events->len == 0)
    return 0;
  return ((EmStoreEventRow *) g_ptr_array_index (events, events->len - 1))->seq;
}

static gboolean
replay_record (guint64 write_no, GPtrArray *tasks, GPtrArray *events, gpointer user_data,
               GError **error)
{
  Replay *replay = user_data;
  guint64 record_seq = last_event_seq (events);

  /* committed before the crash: its commit moved last_write past it. A write
   * with rows but no events must be told by its number too, or its rows would
   * overwrite the newer ones committed after it */
  if (write_no != 0 && write_no <= (guint64) replay->last_write)
    return TRUE;
  /* a record from before writes were numbered: only its events tell */
  if (write_no == 0 && record_seq != 0 && record_seq <= (guint64) replay->last_seq)
    return TRUE;
  replay->records++;
  replay->counters.write = MAX (replay->counters.write, write_no);
  return write_rows (replay->self, tasks, events, &replay->counters, error);
}

/* at startup: what was acknowledged but not yet in the database goes in now,
 * in one transaction, and the journal starts over */
static gboolean
replay_journal (EmStore *self, GError **error)
{
  Replay replay = { self, 0, 0, { 0, }, 0 };

  /* the journal's numbers go on from the database's, so that a record
   * written now is never taken for one the database has */
  if (!em_store_sql_load_int (&self->conn,
                              "SELECT COALESCE ((SELECT value FROM meta WHERE key = 'last_write'), 0)",
                              &replay.last_write, error))
    return FALSE;
  self->last_write_no = (guint64) replay.last_write;
  if (em_store_journal_get_size (self->journal) == 0)
    return TRUE;
  if (!em_store_sql_load_int (&self->conn, "SELECT value FROM meta WHERE key = 'last_seq'", &replay.last_seq, error) ||
      !em_store_exec (self->conn.db, self->conn.path, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!em_store_journal_replay (self->journal, replay_record, &replay, error) ||
      !write_counters (self, &replay.counters, error) ||
      !em_store_exec (self->conn.db, self->conn.path, "COMMIT", error))
    {
      sqlite3_exec (self->conn.db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  if (replay.records > 0)
    g_message (_("Recovered %u writes from the task journal “%s”"), replay.records,
               em_store_journal_get_path (self->journal));
  self->last_write_no = MAX (self->last_write_no, replay.counters.write);
  return em_store_journal_truncate (self->journal, error);
}

static gboolean deliver_cb (gpointer user_data);

static void
wake_locked (EmStore *self)
{
  if (self->wake != NULL)
    return;
  self->wake = g_idle_source_new ();
  g_source_set_priority (self->wake, G_PRIORITY_DEFAULT);
  g_source_set_callback (self->wake, deliver_cb, self, NULL);
  g_source_set_static_name (self->wake, "[em-store] deliver");
  g_source_attach (self->wake, self->context);
  g_source_unref (self->wake);
}

/* hands an answer (or just news of a commit) back to the main context */
static void
deliver (EmStore *self, Op *op, guint64 committed_seq)
{
  g_mutex_lock (&self->lock);
  /* a commit's seq has mostly been reported by the journal already */
  if (op == NULL && committed_seq <= self->committed_seq && !self->drained)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  if (op != NULL)
    g_ptr_array_add (self->done, op);
  self->committed_seq = MAX (self->committed_seq, committed_seq);
  wake_locked (self);
  g_mutex_unlock (&self->lock);
}

/* The main context allocated the writes, so it frees them: freed here, each
 * free() of a block of its rows took the main thread's malloc arena lock, and
 * the main loop slept on that lock, for milliseconds whenever this thread was
 * preempted holding it. One wake-up per commit. */
static void
hand_back (EmStore *self, GPtrArray *spent)
{
  if (spent->len == 0)
    return;
  g_mutex_lock (&self->lock);
  for (guint i = 0; i < spent->len; i++)
    g_ptr_array_add (self->spent, g_ptr_array_index (spent, i));
  wake_locked (self);
  g_mutex_unlock (&self->lock);
}

static guint
count_writes (GPtrArray *batch)
{
  guint n = 0;

  for (guint i = 0; i < batch->len; i++)
    n += ((Op *) g_ptr_array_index (batch, i))->kind == OP_WRITE;
  return n;
}

static void
commit_batch (EmStore *self, GPtrArray *batch, Transaction *txn)
{
  g_autoptr(GError) error = NULL;
  gboolean overlay;

  /* after a failed commit, later ones would move last_seq past the lost rows
   * and hide them from the replay: the journal keeps them all instead */
  if (count_writes (batch) == 0 || self->write_error != NULL)
    return;
  if (!transaction_commit (self, txn, &error))
    {
      sqlite3_exec (self->conn.db, "ROLLBACK", NULL, NULL, NULL);
      g_warning ("%s", error->message);
      self->write_error = g_steal_pointer (&error);
      overlay = start_overlay (self, batch);
      g_mutex_lock (&self->lock);
      self->writer_failed = TRUE;
      self->reads_stale |= !overlay;
      g_cond_broadcast (&self->applied_cond);
      g_mutex_unlock (&self->lock);
      return;
    }
  g_mutex_lock (&self->lock);
  self->applied_writes += count_writes (batch);
  g_cond_broadcast (&self->applied_cond);
  g_mutex_unlock (&self->lock);
  if (txn->counters.seq > 0)
    deliver (self, NULL, txn->counters.seq);
}

static int
wal_hook_cb (gpointer user_data, sqlite3 *db, const char *name, int frames)
{
  EmStore *self = user_data;

  self->wal_frames = frames;
  return SQLITE_OK;
}

static void
maybe_checkpoint (EmStore *self)
{
  int rc;

  if (self->wal_frames < self->checkpoint_frames ||
      (self->wal_frames < self->checkpoint_frames_max && g_async_queue_length (self->queue) > 0))
    return;
  rc = sqlite3_wal_checkpoint_v2 (self->conn.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  if (rc != SQLITE_OK)
    g_debug ("checkpoint of %s: %s", self->conn.path, sqlite3_errstr (rc));
  self->wal_frames = 0;
}

static gboolean
prepare_writes (EmStore *self, GError **error)
{
  return em_store_sql_prepare (&self->conn,
                  "INSERT INTO tasks (id, serial, status, action, created_at, created_us, "
                  "finished_us, batch_exclusive, scheduled_seq, json) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                  "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
                  "finished_us = excluded.finished_us, batch_exclusive = excluded.batch_exclusive, "
                  "json = excluded.json",
                  &self->upsert_task, error) &&
         em_store_sql_prepare (&self->conn, "INSERT INTO events (seq, type, task_id, timestamp_us, json) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)",
                  &self->insert_event, error) &&
         em_store_sql_prepare (&self->conn, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                               "ON CONFLICT (key) DO UPDATE SET value = MAX (value, excluded.value)",
                  &self->set_meta, error) &&
         em_store_sql_prepare (&self->conn, "SELECT status FROM tasks WHERE id = ?1",
                               &self->select_status, error) &&
         em_store_sql_prepare (&self->conn, "INSERT INTO task_counts (status, n) VALUES (?1, ?2) "
                               "ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
                               &self->add_count, error);
}

/* after a failed commit the database lacks what the journal keeps for the
 * next start: tasks that finished since are pending or running in it, and
 * their rows come with the replay. A deletion would skip them and answer as
 * if it had not, so it waits for the restart, as after any failed write. */
static gboolean
check_deletable (EmStore *self, GError **error)
{
  g_autoptr(GError) failure = NULL;

  if (em_store_check (self, &failure))
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
               _("store: history cannot be deleted until the service restarts: %s"),
               failure->message);
  return FALSE;
}

/* a write is freed: once the backlog the main context waits on is down to
 * half its bound, it hears so. All of it sequentially consistent: either this
 * sees the watch that em_store_is_backlogged() set, or that sees what this
 * freed, so a wait always ends */
static void
release_backlog (EmStore *self, gsize bytes)
{
  gsize left = (gsize) g_atomic_pointer_add (&self->backlog, -(gssize) bytes) - bytes;

  if (left > self->backlog_bound / 2 || !g_atomic_int_get (&self->backlog_watched) ||
      !g_atomic_int_compare_and_exchange (&self->backlog_watched, TRUE, FALSE))
    return;
  g_mutex_lock (&self->lock);
  self->drained = TRUE;
  g_mutex_unlock (&self->lock);
  deliver (self, NULL, 0);
}

static gboolean
run_op (EmStore *self, Op *op, GPtrArray *spent)
{
  switch (op->kind)
    {
    case OP_WRITE:
      /* the journal thread's blocks: freed by any thread but the main one,
       * whose loop would otherwise wait on that thread's malloc arena */
      g_clear_pointer (&op->rendered, em_arena_free);
      g_ptr_array_add (spent, op);
      return TRUE;
    case OP_STOP:
      op_free (op);
      return FALSE;
    case OP_WAKE:
      op_free (op);
      return TRUE;
    case OP_QUERY:
      op->serials = g_array_new (FALSE, FALSE, sizeof (guint64));
      op->items = em_store_sql_query_tasks (&self->conn, &op->query, &op->total, op->serials,
                                            &op->next, &op->error);
      break;
    case OP_LOOKUP:
      op->node = em_store_sql_lookup_task (&self->conn, op->id, &op->error);
      break;
    case OP_DELETE:
      if (!check_deletable (self, &op->error))
        break;
      op->ids = em_store_sql_delete_tasks (&self->conn, &op->query,
                                           (const char * const *) op->keep, &op->error);
      break;
    case OP_EVENTS:
      op->items = em_store_sql_read_events (&self->conn, op->after_seq, op->max_seq, op->limit,
                                            op->max_bytes, &op->oldest_seq, &op->cut, &op->error);
      break;
    case OP_PRUNE:
      if (!check_deletable (self, &op->error))
        break;
      op->ids = em_store_sql_prune (&self->conn, op->max_tasks, op->max_age_us,
                                    (const char * const *) op->keep, &op->oldest_seq, &op->error);
      break;
    default:
      g_assert_not_reached ();
    }
  deliver (self, op, 0);
  return TRUE;
}

/* group commit: whatever queued up meanwhile shares one transaction, each
 * write's rows going in as it comes. Under load, writes also wait for
 * COMMIT_INTERVAL_US after the last commit, since a commit costs its pages
 * whatever it holds; anything but a write ends the wait. */
static GPtrArray *
collect_batch (EmStore *self, Transaction *txn)
{
  GPtrArray *batch = g_ptr_array_new ();
  gint64 deadline = g_atomic_int_get (&self->catch_up) ? 0
                                                       : self->last_commit_us + COMMIT_INTERVAL_US;
  Op *op = g_async_queue_pop (self->writer_queue);

  guint rows = 0;
  gsize bytes = 0;

  while (TRUE)
    {
      gint64 wait;

      g_ptr_array_add (batch, op);
      if (op->kind == OP_WRITE)
        {
          rows += (op->tasks != NULL ? op->tasks->len : 0) + (op->events != NULL ? op->events->len : 0);
          bytes += op->bytes;
          transaction_add (self, txn, op);
        }
      if (op->kind != OP_WRITE || batch->len >= MAX_BATCH || rows >= MAX_BATCH_ROWS ||
          bytes >= MAX_BATCH_BYTES)
        break;
      wait = deadline - g_get_monotonic_time ();
      op = wait > 0 ? g_async_queue_timeout_pop (self->writer_queue, (guint64) wait)
                    : g_async_queue_try_pop (self->writer_queue);
      if (op == NULL)
        break;
    }
  return batch;
}

static void
wait_while_held (EmStore *self)
{
  g_mutex_lock (&self->lock);
  if (self->writer_held && self->writer_steps == 0)
    {
      self->writer_stops++;
      g_cond_broadcast (&self->writer_cond);
    }
  while (self->writer_held && self->writer_steps == 0)
    g_cond_wait (&self->writer_cond, &self->lock);
  if (self->writer_held)
    self->writer_steps--;
  g_mutex_unlock (&self->lock);
}

static gpointer
thread_main (gpointer user_data)
{
  EmStore *self = user_data;
  gboolean running = TRUE;

  sqlite3_wal_hook (self->conn.db, wal_hook_cb, self);

  while (running)
    {
      Transaction txn = { 0, };
      g_autoptr(GPtrArray) batch = collect_batch (self, &txn);
      g_autoptr(GPtrArray) spent = g_ptr_array_new ();
      gsize spent_bytes = 0;

      wait_while_held (self);
      commit_batch (self, batch, &txn);
      transaction_clear (&txn);
      /* the spacing is between commits: a batch of queries commits nothing */
      if (count_writes (batch) > 0)
        self->last_commit_us = g_get_monotonic_time ();
      for (guint i = 0; i < batch->len; i++)
        running = run_op (self, g_ptr_array_index (batch, i), spent) && running;
      for (guint i = 0; i < spent->len; i++)
        spent_bytes += ((Op *) g_ptr_array_index (spent, i))->bytes;
      /* handed back before the backlog drops: the main context frees them
       * before it hears that the store has caught up, so the bound holds for
       * their memory too */
      hand_back (self, spent);
      release_backlog (self, spent_bytes);
      if (running)
        maybe_checkpoint (self);
    }
  return NULL;
}

/* Both failures are for good: after a failed append, later records would leave
 * a gap in the journal's events, and after a failed commit a later one would
 * hide the lost rows from the replay. Any thread. */
gboolean
em_store_check (EmStore *self, GError **error)
{
  gboolean journal_failed, writer_failed;

  g_mutex_lock (&self->lock);
  journal_failed = self->journal_failed;
  writer_failed = self->writer_failed;
  g_mutex_unlock (&self->lock);

  if (journal_failed)
    {
      g_propagate_error (error, g_error_copy (self->journal_error));
      return FALSE;
    }
  if (writer_failed)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("Cannot write the task database “%s”; see the service's log"), self->conn.path);
      return FALSE;
    }
  return TRUE;
}

gboolean
em_store_reads_complete (EmStore *self)
{
  gboolean stale;

  g_mutex_lock (&self->lock);
  stale = self->reads_stale;
  g_mutex_unlock (&self->lock);
  return !stale;
}

/* --- the journal thread --- */

static void
answer_sync (EmStore *self, Op *op, guint64 journaled_seq)
{
  em_store_check (self, &op->error);
  deliver (self, op, op->error == NULL ? journaled_seq : 0);
}

/* the writer stops spacing its commits until the sealed file is emptied */
static void
ask_catch_up (EmStore *self)
{
  Op *wake;

  if (g_atomic_int_get (&self->catch_up))
    return;
  /* it may be sitting out its interval between commits, with nothing more
   * coming while this thread waits: wake it */
  wake = g_new0 (Op, 1);
  wake->kind = OP_WAKE;
  g_atomic_int_set (&self->catch_up, TRUE);
  g_async_queue_push (self->writer_queue, wake);
}

/* Appends go to one of the journal's two files. Past JOURNAL_TRIM_BYTES the
 * other, empty, takes over, and the full one is emptied once the database has
 * all of its writes, while appends go on: acknowledgements wait for the
 * database only if the second file fills up (JOURNAL_MAX_BYTES) first */
static void
trim_journal (EmStore *self)
{
  g_autoptr(GError) error = NULL;
  guint64 mark;

  if (self->journal_error != NULL)
    return;
  if (em_store_journal_get_sealed (self->journal, &mark))
    {
      gsize active = em_store_journal_get_active_size (self->journal);
      gboolean applied;

      if (active >= JOURNAL_TRIM_BYTES)
        ask_catch_up (self);
      g_mutex_lock (&self->lock);
      while (active >= JOURNAL_MAX_BYTES && !self->writer_failed && self->applied_writes < mark)
        g_cond_wait (&self->applied_cond, &self->lock);
      /* once the database has failed nothing is emptied: the journal keeps
       * it all for the restart, up to JOURNAL_FAILED_MAX_BYTES */
      applied = !self->writer_failed && self->applied_writes >= mark;
      g_mutex_unlock (&self->lock);
      if (!applied)
        return;
      if (!em_store_journal_release_sealed (self->journal, &error))
        {
          if (!self->release_failed)
            g_warning ("%s", error->message);
          self->release_failed = TRUE;
          return;
        }
      self->release_failed = FALSE;
      g_atomic_int_set (&self->catch_up, FALSE);
    }
  if (em_store_journal_get_active_size (self->journal) >= JOURNAL_TRIM_BYTES)
    em_store_journal_rotate (self->journal, self->forwarded_writes);
}

/* FALSE, with the journal failed for good, when @length more bytes would
 * take it past its bound while nothing can empty it */
static gboolean
journal_has_room (EmStore *self, gsize length)
{
  gboolean writer_failed;

  g_mutex_lock (&self->lock);
  writer_failed = self->writer_failed;
  g_mutex_unlock (&self->lock);
  if ((!writer_failed && !self->release_failed) ||
      em_store_journal_get_size (self->journal) + length <= JOURNAL_FAILED_MAX_BYTES)
    return TRUE;
  if (writer_failed)
    g_set_error (&self->journal_error, EM_ERROR, EM_ERROR_FAILED,
                 _("The task journal “%s” has reached its limit of %u MiB while the task "
                   "database cannot be written; restart the service once it can"),
                 em_store_journal_get_path (self->journal),
                 (guint) (JOURNAL_FAILED_MAX_BYTES / (1024 * 1024)));
  else
    g_set_error (&self->journal_error, EM_ERROR, EM_ERROR_FAILED,
                 _("The task journal “%s” has reached its limit of %u MiB as one of its "
                   "files could not be emptied; restart the service once it can"),
                 em_store_journal_get_path (self->journal),
                 (guint) (JOURNAL_FAILED_MAX_BYTES / (1024 * 1024)));
  return FALSE;
}

static gpointer
journal_main (gpointer user_data)
{
  EmStore *self = user_data;
  g_autoptr(GByteArray) records = g_byte_array_new ();
  g_autoptr(GString) scratch = g_string_sized_new (1024);
  guint64 journaled_seq;
  gboolean running = TRUE;

  g_mutex_lock (&self->lock);
  journaled_seq = self->committed_seq;
  g_mutex_unlock (&self->lock);

  while (running)
    {
      g_autoptr(GPtrArray) batch = g_ptr_array_new ();
      Op *op = g_async_queue_pop (self->queue);
      guint64 batch_seq = 0;

      /* every write of the batch in one append, of at most about
       * JOURNAL_TRIM_BYTES: what queued up while this thread waited for the
       * database could otherwise take the journal any distance past its bound */
      g_byte_array_set_size (records, 0);
      while (TRUE)
        {
          g_ptr_array_add (batch, op);
          if (op->kind == OP_WRITE)
            {
              if (op->tasks != NULL && op->tasks->len > 0 && op->rendered == NULL)
                op->rendered = em_arena_new ();
              for (guint t = 0; op->tasks != NULL && t < op->tasks->len; t++)
                em_store_task_row_render (g_ptr_array_index (op->tasks, t), scratch,
                                          op->rendered);
              op->write_no = ++self->last_write_no;
              em_store_journal_encode (records, op->write_no, op->tasks, op->events);
              batch_seq = MAX (batch_seq, last_event_seq (op->events));
            }
          if (batch->len >= MAX_BATCH || records->len >= JOURNAL_TRIM_BYTES ||
              (op = g_async_queue_try_pop (self->queue)) == NULL)
            break;
        }
      if (records->len > 0 && self->journal_error == NULL)
        {
          /* the events are durable now: LastEventSeq and catch-up follow the
           * journal, not the database's commits, which come up to
           * COMMIT_INTERVAL_US later (queries wait for those anyway). Also
           * once the database has failed, since the restart replays them
           * under the same seqs and the overlay answers reads meanwhile; not
           * once the overlay has missed rows, as reads would stop short */
          if (journal_has_room (self, records->len) &&
              em_store_journal_append (self->journal, records->data, records->len, &self->journal_error))
            {
              if (batch_seq > journaled_seq && em_store_reads_complete (self))
                deliver (self, NULL, batch_seq);
              journaled_seq = MAX (journaled_seq, batch_seq);
            }
          else
            {
              g_warning ("%s", self->journal_error->message);
              g_mutex_lock (&self->lock);
              self->journal_failed = TRUE;
              g_mutex_unlock (&self->lock);
            }
        }

      /* a write larger than the bound left as large a buffer, kept for good */
      if (records->len > 2 * JOURNAL_TRIM_BYTES)
        {
          g_byte_array_unref (records);
          records = g_byte_array_new ();
        }
      /* and so did a single large row, rendered here: one result of 24 MiB
       * kept 32 MiB */
      if (scratch->allocated_len > SCRATCH_MAX_BYTES)
        {
          g_string_free (scratch, TRUE);
          scratch = g_string_sized_new (1024);
        }
      for (guint i = 0; i < batch->len; i++)
        {
          op = g_ptr_array_index (batch, i);
          if (op->kind == OP_SYNC)
            {
              answer_sync (self, op, journaled_seq);
              continue;
            }
          if (op->kind == OP_WRITE && op->sync != NULL)
            answer_sync (self, g_steal_pointer (&op->sync), journaled_seq);
          if (op->kind == OP_WRITE)
            self->forwarded_writes++;
          else if (op->kind == OP_STOP)
            running = FALSE;
          g_async_queue_push (self->writer_queue, op);
        }
      if (running)
        trim_journal (self);
    }
  return NULL;
}

/* --- the main context's side --- */

static void
answer (Op *op)
{
  g_autoptr(GTask) task = g_steal_pointer (&op->task);

  if (op->error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&op->error));
      op_free (op);
    }
  else if (op->kind == OP_SYNC)
    {
      g_task_return_boolean (task, TRUE);
      op_free (op);
    }
  else
    g_task_return_pointer (task, op, (GDestroyNotify) op_free);
}

static void
take_answers (EmStore *self, GPtrArray **out_done, GPtrArray **out_spent, guint64 *out_committed)
{
  g_mutex_lock (&self->lock);
  *out_done = g_steal_pointer (&self->done);
  self->done = g_ptr_array_new ();
  *out_spent = g_steal_pointer (&self->spent);
  self->spent = g_ptr_array_new ();
  *out_committed = self->committed_seq;
  g_mutex_unlock (&self->lock);
}

static void
free_spent (GPtrArray *spent)
{
  for (guint i = 0; i < spent->len; i++)
    {
      Op *op = g_ptr_array_index (spent, i);
      gsize large_bytes = op->large_bytes;

      op_free (op);
      em_trim_note_freed (large_bytes);
    }
}

static gboolean
deliver_cb (gpointer user_data)
{
  EmStore *self = user_data;
  g_autoptr(GPtrArray) done = NULL;
  g_autoptr(GPtrArray) spent = NULL;
  guint64 committed;
  gboolean drained;

  g_mutex_lock (&self->lock);
  self->wake = NULL;
  g_mutex_unlock (&self->lock);

  /* in one go: the writes handed back before the writer said it had
   * drained are freed before the queue hears of it */
  g_mutex_lock (&self->lock);
  drained = self->drained;
  self->drained = FALSE;
  g_mutex_unlock (&self->lock);
  take_answers (self, &done, &spent, &committed);
  free_spent (spent);
  if (drained && self->drained_func != NULL)
    self->drained_func (self, self->drained_data);
  if (committed > self->notified_seq)
    {
      self->notified_seq = committed;
      if (self->committed_func != NULL)
        self->committed_func (committed, self->committed_data);
    }
  for (guint i = 0; i < done->len; i++)
    answer (g_ptr_array_index (done, i));
  return G_SOURCE_REMOVE;
}

void
em_store_start (EmStore *self, EmStoreCommittedFunc func, gpointer user_data)
{
  g_return_if_fail (self->thread == NULL);

  self->context = g_main_context_ref_thread_default ();
  self->committed_func = func;
  self->committed_data = user_data;
  self->thread = g_thread_new ("em-store", thread_main, self);
  self->journal_thread = g_thread_new ("em-journal", journal_main, self);
}

void
em_store_set_drained_func (EmStore *self, GFunc func, gpointer user_data)
{
  self->drained_func = func;
  self->drained_data = user_data;
}

gboolean
em_store_is_backlogged (EmStore *self)
{
  gsize backlog = (gsize) g_atomic_pointer_get (&self->backlog);

  /* once behind, until down to half: under the bound alone, a queue that
   * asked again at once would start tasks with the writer barely caught up */
  if (backlog <= self->backlog_bound / 2 ||
      (backlog <= self->backlog_bound && !g_atomic_int_get (&self->backlog_watched)))
    return FALSE;
  g_atomic_int_set (&self->backlog_watched, TRUE);
  /* the writer may have freed it down to half before it saw the watch: then
   * nobody would wake the queue, and it has not to wait. If the writer took
   * the watch first, its wake-up is on its way */
  if ((gsize) g_atomic_pointer_get (&self->backlog) <= self->backlog_bound / 2 &&
      g_atomic_int_compare_and_exchange (&self->backlog_watched, TRUE, FALSE))
    return FALSE;
  return TRUE;
}

void
em_store_set_backlog_bound (EmStore *self, gsize bytes)
{
  g_return_if_fail (self->thread == NULL);
  self->backlog_bound = bytes;
}

void
em_store_hold_writer (EmStore *self, gboolean hold)
{
  g_mutex_lock (&self->lock);
  self->writer_held = hold;
  self->writer_steps = 0;
  g_cond_broadcast (&self->writer_cond);
  g_mutex_unlock (&self->lock);
}

void
em_store_step_writer (EmStore *self, guint n_batches)
{
  g_mutex_lock (&self->lock);
  self->writer_steps += n_batches;
  g_cond_broadcast (&self->writer_cond);
  g_mutex_unlock (&self->lock);
}

void
em_store_wait_writer_stops (EmStore *self, guint n_stops)
{
  g_mutex_lock (&self->lock);
  while (self->writer_stops < n_stops)
    g_cond_wait (&self->writer_cond, &self->lock);
  g_mutex_unlock (&self->lock);
}

static void
push (EmStore *self, Op *op)
{
  g_async_queue_push (self->queue, op);
}

void
em_store_free (EmStore *self)
{
  g_autoptr(GPtrArray) done = NULL;
  g_autoptr(GPtrArray) spent = NULL;
  guint64 committed;

  if (self == NULL)
    return;

  if (self->thread != NULL)
    {
      Op *stop = g_new0 (Op, 1);

      /* the journal thread hands the stop on to the writer after the rest */
      stop->kind = OP_STOP;
      em_store_hold_writer (self, FALSE);
      push (self, stop);
      g_thread_join (g_steal_pointer (&self->journal_thread));
      g_thread_join (g_steal_pointer (&self->thread));
      /* everything reached the database: the next start has nothing to replay */
      if (self->journal_error == NULL && self->write_error == NULL &&
          !em_store_journal_truncate (self->journal, &self->journal_error))
        g_warning ("%s", self->journal_error->message);

      g_mutex_lock (&self->lock);
      if (self->wake != NULL)
        g_source_destroy (g_steal_pointer (&self->wake));
      g_mutex_unlock (&self->lock);
      take_answers (self, &done, &spent, &committed);
      free_spent (spent);
      for (guint i = 0; i < done->len; i++)
        answer (g_ptr_array_index (done, i));
    }

  /* ops queued without a thread (startup failed) are dropped */
  while (TRUE)
    {
      Op *op = g_async_queue_try_pop (self->queue);

      if (op == NULL)
        break;
      op_free (op);
    }

  g_clear_error (&self->write_error);
  g_clear_error (&self->journal_error);
  g_clear_pointer (&self->journal, em_store_journal_free);
  g_clear_pointer (&self->upsert_task, sqlite3_finalize);
  g_clear_pointer (&self->insert_event, sqlite3_finalize);
  g_clear_pointer (&self->set_meta, sqlite3_finalize);
  g_clear_pointer (&self->select_status, sqlite3_finalize);
  g_clear_pointer (&self->add_count, sqlite3_finalize);
  g_clear_pointer (&self->overlay_task, sqlite3_finalize);
  g_clear_pointer (&self->overlay_event, sqlite3_finalize);
  em_store_sql_clear (&self->conn);
  sqlite3_close (self->conn.db);
  g_async_queue_unref (self->queue);
  g_async_queue_unref (self->writer_queue);
  g_cond_clear (&self->applied_cond);
  g_cond_clear (&self->writer_cond);
  g_ptr_array_unref (self->done);
  g_ptr_array_unref (self->spent);
  g_mutex_clear (&self->lock);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->conn.path);
  g_free (self);
}

static void
count_bytes (Op *op, gsize bytes)
{
  op->bytes += bytes;
  if (bytes >= EM_TRIM_LARGE_BYTES)
    op->large_bytes += bytes;
}

/* the bytes of text a write holds: its frames, and its rows' fields, which
 * the journal renders once more */
static void
count_write (Op *op)
{
  for (guint i = 0; op->tasks != NULL && i < op->tasks->len; i++)
    {
      EmStoreTaskRow *row = g_ptr_array_index (op->tasks, i);

      if (row->snapshot != NULL)
        count_bytes (op, 2 * (row->snapshot->head_length + row->snapshot->result_length));
      else if (row->json != NULL)
        count_bytes (op, strlen (row->json));
    }
  for (guint i = 0; op->events != NULL && i < op->events->len; i++)
    count_bytes (op, ((EmStoreEventRow *) g_ptr_array_index (op->events, i))->json_length);
}

static Op *
new_write (EmStore *self, GPtrArray *tasks, GPtrArray *events, EmArena *arena)
{
  Op *op = g_new0 (Op, 1);

  op->kind = OP_WRITE;
  op->tasks = tasks;
  op->events = events;
  op->arena = arena;
  count_write (op);
  g_atomic_pointer_add (&self->backlog, (gssize) op->bytes);
  return op;
}

void
em_store_write (EmStore *self, GPtrArray *tasks, GPtrArray *events, EmArena *arena)
{
  push (self, new_write (self, tasks, events, arena));
}

static Op *new_request (EmStore *self, OpKind kind, gpointer source_tag, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data);

/* one request for both: two woke the journal thread twice, a futex call each */
void
em_store_write_and_sync_async (EmStore             *self,
                               GPtrArray           *tasks,
                               GPtrArray           *events,
                               EmArena             *arena,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  Op *op = new_write (self, tasks, events, arena);

  op->sync = new_request (self, OP_SYNC, em_store_sync_async, cancellable, callback, user_data);
  push (self, op);
}

static Op *
new_request (EmStore             *self,
             OpKind               kind,
             gpointer             source_tag,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  Op *op = g_new0 (Op, 1);

  op->kind = kind;
  op->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (op->task, source_tag);
  em_task_query_init (&op->query);
  return op;
}

static Op *
finish_request (GAsyncResult *result, gpointer source_tag, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
em_store_sync_async (EmStore             *self,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  push (self, new_request (self, OP_SYNC, em_store_sync_async, cancellable, callback, user_data));
}

gboolean
em_store_sync_finish (EmStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
em_store_query_tasks_async (EmStore             *self,
                            const EmTaskQuery   *query,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  Op *op = new_request (self, OP_QUERY, em_store_query_tasks_async, cancellable, callback, user_data);

  em_task_query_copy (&op->query, query);
  push (self, op);
}

GPtrArray *
em_store_query_tasks_finish (EmStore       *self,
                             GAsyncResult  *result,
                             guint         *out_total,
                             GArray       **out_serials,
                             guint64       *out_next,
                             GError       **error)
{
  g_autoptr(Op) op = finish_request (result, em_store_query_tasks_async, error);

  if (op == NULL)
    return NULL;
  if (out_total != NULL)
    *out_total = op->total;
  if (out_serials != NULL)
    *out_serials = g_steal_pointer (&op->serials);
  if (out_next != NULL)
    *out_next = op->next;
  return g_steal_pointer (&op->items);
}

void
em_store_lookup_task_async (EmStore             *self,
                            const char          *id,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  Op *op = new_request (self, OP_LOOKUP, em_store_lookup_task_async, cancellable, callback, user_data);

  op->id = g_strdup (id);
  push (self, op);
}

JsonNode *
em_store_lookup_task_finish (EmStore *self, GAsyncResult *result, GError **error)
{
  g_autoptr(Op) op = finish_request (result, em_store_lookup_task_async, error);

  return op != NULL ? g_steal_pointer (&op->node) : NULL;
}

void
em_store_delete_tasks_async (EmStore             *self,
                             const EmTaskQuery   *query,
                             const char * const  *keep,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  Op *op = new_request (self, OP_DELETE, em_store_delete_tasks_async, cancellable, callback, user_data);

  em_task_query_copy (&op->query, query);
  op->keep = g_strdupv ((char **) keep);
  push (self, op);
}

GStrv
em_store_delete_tasks_finish (EmStore *self, GAsyncResult *result, GError **error)
{
  g_autoptr(Op) op = finish_request (result, em_store_delete_tasks_async, error);

  return op != NULL ? g_steal_pointer (&op->ids) : NULL;
}

void
em_store_read_events_async (EmStore             *self,
                            guint64              after_seq,
                            guint64              max_seq,
                            guint                limit,
                            gsize                max_bytes,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  Op *op = new_request (self, OP_EVENTS, em_store_read_events_async, cancellable, callback, user_data);

  op->after_seq = after_seq;
  op->max_seq = max_seq;
  op->limit = limit;
  op->max_bytes = max_bytes;
  push (self, op);
}

GPtrArray *
em_store_read_events_finish (EmStore       *self,
                             GAsyncResult  *result,
                             guint64       *out_oldest_seq,
                             gboolean      *out_cut,
                             GError       **error)
{
  g_autoptr(Op) op = finish_request (result, em_store_read_events_async, error);

  if (op == NULL)
    return NULL;
  if (out_oldest_seq != NULL)
    *out_oldest_seq = op->oldest_seq;
  if (out_cut != NULL)
    *out_cut = op->cut;
  return g_steal_pointer (&op->items);
}

void
em_store_prune_async (EmStore             *self,
                      guint                max_tasks,
                      gint64               max_age_us,
                      const char * const  *keep,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  Op *op = new_request (self, OP_PRUNE, em_store_prune_async, cancellable, callback, user_data);

  op->max_tasks = max_tasks;
  op->max_age_us = max_age_us;
  op->keep = g_strdupv ((char **) keep);
  push (self, op);
}

GStrv
em_store_prune_finish (EmStore *self, GAsyncResult *result, guint64 *out_oldest_seq, GError **error)
{
  g_autoptr(Op) op = finish_request (result, em_store_prune_async, error);

  if (op == NULL)
    return NULL;
  if (out_oldest_seq != NULL)
    *out_oldest_seq = op->oldest_seq;
  return g_steal_pointer (&op->ids);
}
