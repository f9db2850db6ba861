#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "engine/em-action-private.h"
#include "engine/em-engine-manager-private.h"
#include "engine/em-trim.h"
#include "engine/em-clip.h"
#include "engine/em-debug.h"
#include "engine/em-enum-types.h"
#include "engine/em-error.h"
#include "engine/em-event-ring.h"
#include "engine/em-json-writer.h"
#include "engine/em-scheduler.h"
#include "engine/em-store.h"
#include "engine/em-store-private.h"
#include "engine/em-task-private.h"
#include "engine/em-time.h"

/* a frame or a result this large goes to the store shared, not copied: the
 * copy cost more than the one free() on the store's thread, and as many
 * bytes as the event ring and the tasks themselves held */
#define SHARE_MIN_BYTES (64 * 1024)
/* progress events per task are capped at this rate; the last value is never lost */
#define PROGRESS_INTERVAL_US (100 * G_TIME_SPAN_MILLISECOND)
/* recent events kept as frames for clients that reconnect */
#define EVENT_RING_SIZE 4096
/* and at most this many bytes of them: a task_completed event carries the
 * task's result, 1.5 MB for a 10 000-tile scan */
#define EVENT_RING_MAX_BYTES (64 * 1024 * 1024)
/* state changes reach the writer thread within this delay, so a task that starts
 * and ends within it is serialized once; an acknowledgement (sync) or a query
 * hands everything over at once instead of waiting */
#define FLUSH_INTERVAL_MS 50
/* past this many unwritten events (or changed tasks) the store gets them
 * without waiting. Too small and a task is split across flushes and written
 * twice (1 024 flushed every 10 ms at ~100 000 events/s); too large and,
 * likely, a flush's arena no longer stays in the cache: store-bench did best
 * at 4 096 (against 2 048, 8 192 and 32 768) */
#define FLUSH_THRESHOLD 4096
/* or this many bytes of their frames: a task_completed event carries the
 * task's result, and so does its row. Hundreds of large results finishing
 * within one interval went over as one write of hundreds of MiB, rendered
 * and encoded whole by the journal before any of it could be freed */
#define FLUSH_BYTES (4 * 1024 * 1024)
#define PRUNE_INTERVAL_S 60
/* the delayed tasks' timer runs on monotonic time, which stands still while
 * the machine sleeps and ignores changes of the clock, while run_at is a time
 * of day: the timer looks at the clock at least this often */
#define TIMERS_RECHECK_MS (60 * 1000)
#define INTERRUPTED_MESSAGE N_("interrupted: the service stopped while it was running")

/* a task's batch state in its row: an exclusive batch's whole claim set, and
 * whether it holds it, so that a restart gives it back the same devices even
 * when the tasks that claimed them have finished */
#define BATCH_EXCLUSIVE    0x1
#define BATCH_HOLDING      0x2
#define BATCH_CLAIMS_SHIFT 4

/* what a task's row needs besides the task itself; it outlives an entry that
 * is dropped before the flush */
struct _DirtyTask
{
  EmTask    *task;
  TaskEntry *entry;            /* NULL once the entry is gone */
  guint      batch_state;
  guint64    scheduled_seq;
};

/* one resolved `depends_on` item: a task in memory, or one only the store holds */
typedef struct
{
  TaskEntry    *entry;
  const char   *gone_id;
  EmTaskStatus  gone_status;
} DepRef;

G_DEFINE_FINAL_TYPE (EmEngineManager, em_engine_manager, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PAUSED,
  PROP_MAX_CONCURRENT,
  PROP_KEEP_FINISHED,
  PROP_KEEP_FINISHED_BYTES,
  PROP_FINISHED_CACHE_SIZE,
  PROP_RETENTION_MAX_TASKS,
  PROP_RETENTION_MAX_AGE,
  PROP_MAX_PENDING,
  PROP_HELD,
  PROP_STORE_BACKLOG_BYTES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_TASK_SCHEDULED,
  SIGNAL_TASK_STARTED,
  SIGNAL_TASK_PROGRESS,
  SIGNAL_TASK_COMPLETED,
  SIGNAL_TASK_FAILED,
  SIGNAL_TASK_CANCELLED,
  SIGNAL_TASK_RETRYING,
  SIGNAL_QUEUE_PAUSED,
  SIGNAL_QUEUE_RESUMED,
  SIGNAL_EVENT,
  SIGNAL_EVENTS_COMMITTED,
  SIGNAL_TASKS_DELETED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void process_queue     (EmEngineManager *self);
static void finish_entry      (EmEngineManager *self, TaskEntry *entry, EmEventType type,
                               JsonObject *result, const char *message);
static void schedule_eviction (EmEngineManager *self);
static void cancel_entry      (EmEngineManager *self, TaskEntry *entry);

static void emit_progress (gpointer user_data);

/* the parts every entry has, new or restored */
static TaskEntry *
task_entry_new (EmEngineManager *self)
{
  TaskEntry *entry = g_new0 (TaskEntry, 1);

  entry->manager = self;
  entry->waiting_on = g_ptr_array_new ();
  em_rate_limit_init (&entry->progress, PROGRESS_INTERVAL_US, "[em-engine] progress rate limit",
                      emit_progress, entry);
  return entry;
}

static void
task_entry_free (TaskEntry *entry)
{
  if (entry->dirty != NULL)
    entry->dirty->entry = NULL;
  em_rate_limit_clear (&entry->progress);
  g_clear_handle_id (&entry->timeout_source, g_source_remove);
  g_clear_object (&entry->cancellable);
  g_clear_pointer (&entry->context, em_action_context_free);
  g_clear_pointer (&entry->waiting_on, g_ptr_array_unref);
  g_clear_pointer (&entry->waiting_links, g_ptr_array_unref);
  g_clear_pointer (&entry->dependents, g_queue_free);
  em_sched_item_clear_batch (&entry->item);
  if (em_task_get_engine_entry (entry->task) == entry)
    em_task_set_engine_entry (entry->task, NULL);
  g_object_unref (entry->task);
  g_free (entry);
}

static gint
compare_serial (gconstpointer a, gconstpointer b, gpointer user_data)
{
  guint64 sa = ((const TaskEntry *) a)->item.serial;
  guint64 sb = ((const TaskEntry *) b)->item.serial;

  return sa < sb ? -1 : sa > sb;
}

static gint
compare_due (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const TaskEntry *ea = a, *eb = b;

  if (ea->due_us != eb->due_us)
    return ea->due_us < eb->due_us ? -1 : 1;
  return compare_serial (a, b, NULL);
}

/* in serial order; the newest task, the usual case, is appended without a search */
static GSequenceIter *
insert_by_serial (GSequence *sequence, TaskEntry *entry)
{
  GSequenceIter *last = g_sequence_iter_prev (g_sequence_get_end_iter (sequence));

  if (g_sequence_iter_is_end (last) ||
      compare_serial (g_sequence_get (last), entry, NULL) < 0)
    return g_sequence_append (sequence, entry);
  return g_sequence_insert_sorted (sequence, entry, compare_serial, NULL);
}

/* every status change goes through here, so the per-status indexes stay exact */
static void
reindex (EmEngineManager *self, TaskEntry *entry)
{
  EmTaskStatus status = em_task_get_status (entry->task);

  if (entry->status_iter != NULL)
    g_sequence_remove (entry->status_iter);
  entry->status_iter = insert_by_serial (self->by_status[status], entry);
}

/* counted by what its parameters and result take, measured once: large
 * results (tile scans) are what fills memory. A restored entry comes with
 * its size, measured as it was read */
static void
push_finished (EmEngineManager *self, TaskEntry *entry)
{
  if (entry->finished_size == 0)
    entry->finished_size = em_task_get_memory_size (entry->task);
  g_queue_push_tail (&self->finished, entry);
  entry->finished_link = self->finished.tail;
  self->finished_bytes += entry->finished_size;
}

/* makes an entry known: by id, in creation order, by status */
static void
insert_entry (EmEngineManager *self, TaskEntry *entry)
{
  g_hash_table_insert (self->entries, (gpointer) em_task_get_id (entry->task), entry);
  em_task_set_engine_entry (entry->task, entry);
  entry->all_iter = insert_by_serial (self->all, entry);
  reindex (self, entry);
  if (em_task_is_finished (entry->task))
    push_finished (self, entry);
}

void
em_engine_manager_forget_entry (EmEngineManager *self, TaskEntry *entry, gboolean remember)
{
  const char *id = em_task_get_id (entry->task);

  if (remember)
    em_finished_cache_add (self->gone, id, em_task_get_status (entry->task));
  if (entry->finished_link != NULL)
    {
      g_queue_delete_link (&self->finished, entry->finished_link);
      entry->finished_link = NULL;
      self->finished_bytes -= entry->finished_size;
    }
  em_scheduler_forget (self->scheduler, &entry->item);
  g_sequence_remove (entry->all_iter);
  g_sequence_remove (entry->status_iter);
  g_hash_table_remove (self->entries, id);
}

/* --- history: the store and the recent events --- */

static void
dirty_task_free (DirtyTask *dirty)
{
  g_object_unref (dirty->task);
  g_free (dirty);
}

static gint64
time_to_us (GDateTime *time)
{
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

/* where the next write's rows go; handed to the store with them */
static EmArena *
unwritten_arena (EmEngineManager *self)
{
  if (self->unwritten_arena == NULL)
    self->unwritten_arena = em_arena_new ();
  return self->unwritten_arena;
}

static EmStoreTaskRow *
make_task_row (EmEngineManager *self, DirtyTask *dirty)
{
  EmTask *task = dirty->task;
  EmArena *arena = unwritten_arena (self);
  GDateTime *completed = em_task_get_completed_at (task);
  EmStoreTaskRow *row;
  EmTaskSnapshot *snapshot;
  GBytes *shared = NULL;

  /* the row's text is written by the store's journal thread from a copy of
   * the task's fields: the loop only copies them */
  snapshot = em_task_snapshot_new_sharing (task, arena, SHARE_MIN_BYTES, &shared);
  row = em_store_task_row_new_in (arena, em_task_get_id (task), em_task_get_action (task),
                                  snapshot);
  row->shared = shared;
  row->serial = em_task_get_serial (task);
  row->status = em_task_status_to_string (em_task_get_status (task));
  row->created_us = time_to_us (em_task_get_created_at (task));
  row->finished_us = em_task_is_finished (task) && completed != NULL ? time_to_us (completed) : 0;
  row->batch_state = dirty->batch_state;
  row->scheduled_seq = dirty->scheduled_seq;
  return row;
}

/* hands the unwritten rows to the store, with an acknowledgement request
 * (@sync_cb) when there is one */
static void
flush_unwritten (EmEngineManager     *self,
                 GAsyncReadyCallback  sync_cb,
                 gpointer             sync_data)
{
  g_autoptr(GPtrArray) rows = NULL;
  guint n_events;

  g_clear_handle_id (&self->flush_source, g_source_remove);
  if (self->store == NULL)
    return;
  if (self->unwritten->len == 0 && self->dirty->len == 0)
    {
      if (sync_cb != NULL)
        em_store_sync_async (self->store, NULL, sync_cb, sync_data);
      return;
    }

  rows = g_ptr_array_new_full (self->dirty->len, (GDestroyNotify) em_store_task_row_free);
  for (guint i = 0; i < self->dirty->len; i++)
    {
      DirtyTask *dirty = g_ptr_array_index (self->dirty, i);

      g_ptr_array_add (rows, make_task_row (self, dirty));
      if (dirty->entry != NULL)
        dirty->entry->dirty = NULL;
    }
  /* emptied, not shrunk: it fills up again by the next flush */
  g_ptr_array_set_size (self->dirty, 0);

  n_events = self->unwritten->len;
  self->unwritten_bytes = 0;
  if (sync_cb != NULL)
    em_store_write_and_sync_async (self->store, g_steal_pointer (&rows),
                                   g_steal_pointer (&self->unwritten),
                                   g_steal_pointer (&self->unwritten_arena), NULL, sync_cb,
                                   sync_data);
  else
    em_store_write (self->store, g_steal_pointer (&rows), g_steal_pointer (&self->unwritten),
                    g_steal_pointer (&self->unwritten_arena));
  /* sized for as many as last time: growing it by doubling under load meant
   * large reallocations, each one a consolidation of malloc's fast bins */
  self->unwritten = g_ptr_array_new_full (n_events, (GDestroyNotify) em_store_event_row_free);
  /* whatever flushed (the timer, an acknowledgement, a query) cancelled the
   * timer: clients that keep asking would otherwise keep every task in memory */
  schedule_eviction (self);
}

void
em_engine_manager_flush_unwritten (EmEngineManager *self)
{
  flush_unwritten (self, NULL, NULL);
}


/* more finished tasks in memory than keep-finished, or more bytes of them
 * than keep-finished-bytes */
static gboolean
past_keep_limits (EmEngineManager *self, guint64 factor)
{
  return self->finished.length > factor * self->keep_finished ||
         self->finished_bytes > MIN (self->keep_finished_bytes, G_MAXUINT64 / factor) * factor;
}

/* keeps memory bounded: the store has the rest of history; without one,
 * the older finished tasks are gone, as if deleted. At most @max_tasks go
 * (0: all past the limit); returns whether more are past it */
static gboolean
evict_finished (EmEngineManager *self, guint max_tasks)
{
  GList *link = self->finished.head;
  g_autoptr(GPtrArray) gone = NULL;
  guint evicted = 0;
  gsize freed = 0;

  /* after a failed commit the store answers from its overlay, which has
   * what the database lacks; only if that failed too would it answer for
   * the evicted tasks with their old state until the restart */
  if (self->store != NULL && !em_store_reads_complete (self->store))
    return FALSE;
  /* without a store they are gone, as deleted ones are, and say so */
  if (self->store == NULL)
    gone = g_ptr_array_new_with_free_func (g_free);
  while (link != NULL && past_keep_limits (self, 1) &&
         (max_tasks == 0 || evicted < max_tasks))
    {
      TaskEntry *oldest = link->data;

      /* a cancelled action that has not returned yet still uses its entry;
       * stopping there would keep every task that finishes until it returns */
      link = link->next;
      if (oldest->in_flight)
        continue;
      /* a paging cursor on it still finds its place in the listing */
      if (self->store == NULL)
        {
          if (self->deleted == NULL)
            self->deleted = em_deleted_serials_new (EM_DELETED_SERIALS_MAX);
          em_deleted_serials_add (self->deleted, em_task_get_id (oldest->task),
                                  oldest->item.serial);
          g_ptr_array_add (gone, g_strdup (em_task_get_id (oldest->task)));
        }
      if (oldest->finished_size >= EM_TRIM_LARGE_BYTES)
        freed += oldest->finished_size;
      em_engine_manager_forget_entry (self, oldest, TRUE);
      evicted++;
    }
  em_trim_note_freed (freed);
  if (gone != NULL && gone->len > 0)
    {
      g_ptr_array_add (gone, NULL);
      em_engine_manager_emit_tasks_deleted (self, (const char * const *) gone->pdata);
    }
  return link != NULL && past_keep_limits (self, 1);
}

/* a turn of the loop frees at most this many: past twice the limit under
 * load, freeing all the excess at once held every client up for milliseconds */
#define EVICT_PER_TURN 128

static gboolean
evict_idle_cb (gpointer user_data)
{
  EmEngineManager *self = user_data;

  if (evict_finished (self, EVICT_PER_TURN))
    return G_SOURCE_CONTINUE;
  self->evict_source = 0;
  return G_SOURCE_REMOVE;
}

/* after a flush, the finished tasks past the limit are in the store's queue
 * and can go (without a store, after each task that finishes). Freeing them
 * waits until the loop has nothing better to do, unless memory would grow past
 * twice the limit; either way it runs from an idle, never inside whatever
 * flushed (a listener of the event being sent). */
static void
schedule_eviction (EmEngineManager *self)
{
  gint priority;

  if (!past_keep_limits (self, 1))
    return;
  priority = past_keep_limits (self, 2) ? G_PRIORITY_DEFAULT : G_PRIORITY_LOW;
  if (self->evict_source != 0 && self->evict_priority <= priority)
    return;
  g_clear_handle_id (&self->evict_source, g_source_remove);
  self->evict_source = g_idle_add_full (priority, evict_idle_cb, self, NULL);
  self->evict_priority = priority;
}

static gboolean
flush_idle_cb (gpointer user_data)
{
  EmEngineManager *self = user_data;

  self->flush_source = 0;
  em_engine_manager_flush_unwritten (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_flush (EmEngineManager *self)
{
  if (self->flush_source == 0)
    self->flush_source = g_timeout_add_full (G_PRIORITY_DEFAULT, FLUSH_INTERVAL_MS,
                                             flush_idle_cb, self, NULL);
}

static guint
batch_state (TaskEntry *entry)
{
  EmSchedBatch *batch = entry->item.batch;

  if (batch == NULL || !em_sched_batch_is_exclusive (batch))
    return 0;
  return BATCH_EXCLUSIVE | (em_sched_batch_is_holding (batch) ? BATCH_HOLDING : 0) |
         em_sched_batch_get_claims (batch) << BATCH_CLAIMS_SHIFT;
}

static void
mark_dirty (EmEngineManager *self, TaskEntry *entry)
{
  DirtyTask *dirty;

  if (entry->dirty != NULL)
    {
      entry->dirty->batch_state = batch_state (entry);
      return;
    }
  dirty = g_new0 (DirtyTask, 1);
  dirty->task = g_object_ref (entry->task);
  dirty->entry = entry;
  dirty->batch_state = batch_state (entry);
  dirty->scheduled_seq = entry->scheduled_seq;
  entry->dirty = dirty;
  g_ptr_array_add (self->dirty, dirty);
  /* rows that change without an event count too: a dependency's end changes
   * the row of every dependent, and they all went over as one write, however
   * many, past the journal's bound */
  if (self->dirty->len >= FLUSH_THRESHOLD)
    em_engine_manager_flush_unwritten (self);
}

static void
record_event (EmEngineManager *self, EmEvent *event)
{
  EmTask *task = em_event_get_task (event);
  TaskEntry *entry;
  EmStoreEventRow *row;
  const char *json;
  gsize json_length = 0;

  em_event_ring_push (self->ring, em_event_get_seq (event), em_event_get_json_bytes (event));
  if (self->store == NULL)
    return;

  entry = task != NULL ? em_task_get_engine_entry (task) : NULL;
  g_assert (entry == NULL || entry->manager == self);
  if (entry != NULL && em_event_get_event_type (event) == EM_EVENT_TASK_SCHEDULED)
    entry->scheduled_seq = em_event_get_seq (event);
  json = g_bytes_get_data (em_event_get_json_bytes (event), &json_length);
  /* a copy: the frame's last reference dropped on the store's thread would
   * free it there, into the main thread's malloc arena, under its lock */
  if (json_length >= SHARE_MIN_BYTES)
    row = em_store_event_row_new_sharing (unwritten_arena (self),
                                          task != NULL ? em_task_get_id (task) : NULL,
                                          em_event_get_json_bytes (event));
  else
    row = em_store_event_row_new_in (unwritten_arena (self),
                                     task != NULL ? em_task_get_id (task) : NULL, json,
                                     json_length);
  row->seq = em_event_get_seq (event);
  row->type = em_event_get_type_name (event);
  row->timestamp_us = time_to_us (em_event_get_timestamp (event));
  g_ptr_array_add (self->unwritten, row);
  self->unwritten_bytes += json_length;
  if (self->oldest_stored_seq == 0)
    self->oldest_stored_seq = row->seq;
  if (entry != NULL)
    mark_dirty (self, entry);

  if (self->unwritten->len >= FLUSH_THRESHOLD || self->unwritten_bytes >= FLUSH_BYTES)
    em_engine_manager_flush_unwritten (self);
  else
    schedule_flush (self);
}

/* --- events --- */

static void
dispatch (EmEngineManager *self, EmEvent *event)
{
  EmTask *task = em_event_get_task (event);

  switch (em_event_get_event_type (event))
    {
    case EM_EVENT_TASK_SCHEDULED:
      g_signal_emit (self, signals[SIGNAL_TASK_SCHEDULED], 0, task);
      break;
    case EM_EVENT_TASK_STARTED:
      g_signal_emit (self, signals[SIGNAL_TASK_STARTED], 0, task);
      break;
    case EM_EVENT_TASK_PROGRESS:
      g_signal_emit (self, signals[SIGNAL_TASK_PROGRESS], 0, task, em_task_get_progress (task));
      break;
    case EM_EVENT_TASK_COMPLETED:
      g_signal_emit (self, signals[SIGNAL_TASK_COMPLETED], 0, task);
      break;
    case EM_EVENT_TASK_FAILED:
      g_signal_emit (self, signals[SIGNAL_TASK_FAILED], 0, task);
      break;
    case EM_EVENT_TASK_CANCELLED:
      g_signal_emit (self, signals[SIGNAL_TASK_CANCELLED], 0, task);
      break;
    case EM_EVENT_TASK_RETRYING:
      g_signal_emit (self, signals[SIGNAL_TASK_RETRYING], 0, task,
                     em_event_get_attempt (event), em_event_get_error (event));
      break;
    case EM_EVENT_QUEUE_PAUSED:
      g_signal_emit (self, signals[SIGNAL_QUEUE_PAUSED], 0);
      break;
    case EM_EVENT_QUEUE_RESUMED:
      g_signal_emit (self, signals[SIGNAL_QUEUE_RESUMED], 0);
      break;
    default:
      g_assert_not_reached ();
    }
  g_signal_emit (self, signals[SIGNAL_EVENT], 0, event);
}

static void
drain_events (EmEngineManager *self)
{
  self->emitting = TRUE;
  while (!g_queue_is_empty (&self->event_queue))
    {
      g_autoptr(EmEvent) next = g_queue_pop_head (&self->event_queue);

      dispatch (self, next);
    }
  self->emitting = FALSE;
}

static void
queue_event (EmEngineManager *self, EmEvent *event)
{
  /* recorded as it happens, before anyone hears of it: an acknowledgement
   * or a query a listener starts covers it, even while it waits in the
   * queue behind the event that listener hears of */
  record_event (self, event);
  g_queue_push_tail (&self->event_queue, event);

  /* a handler may cause another event (e.g. cancel from task-scheduled): queueing
   * keeps every listener seeing events in seq order */
  if (!self->emitting)
    drain_events (self);
}

static void
emit_event (EmEngineManager *self, EmEventType type, EmTask *task)
{
  queue_event (self, em_event_new (type, ++self->last_seq, task));
}

/* the event of a change whose property notifications were held: recorded
 * and queued before they go out, so an acknowledgement one of their
 * listeners asks for covers it and what they cause comes after it; sent
 * once they have run, so the properties still change before it */
static void
queue_event_thawing (EmEngineManager *self, EmEvent *event, EmTask *task)
{
  gboolean emitting = self->emitting;

  self->emitting = TRUE;
  queue_event (self, event);
  g_object_thaw_notify (G_OBJECT (task));
  self->emitting = emitting;
  if (!emitting)
    drain_events (self);
}

static void
emit_event_thawing (EmEngineManager *self, EmEventType type, EmTask *task)
{
  queue_event_thawing (self, em_event_new (type, ++self->last_seq, task), task);
}

/* --- progress --- */

static void
emit_progress (gpointer user_data)
{
  TaskEntry *entry = user_data;

  /* a listener of notify::progress may have ended the task just before */
  if (em_task_get_status (entry->task) != EM_TASK_STATUS_RUNNING)
    return;
  emit_event (entry->manager, EM_EVENT_TASK_PROGRESS, entry->task);
}

static void
progress_cb (gdouble fraction, gpointer user_data)
{
  TaskEntry *entry = user_data;

  if (em_task_get_status (entry->task) != EM_TASK_STATUS_RUNNING || entry->interrupted ||
      fraction <= em_task_get_progress (entry->task))
    return;

  em_task_set_progress (entry->task, fraction);
  em_rate_limit_poke (&entry->progress);
}

/* the last progress value a client sees is the one the attempt ended with, and
 * it goes out before the status changes: a listener reads the task as it is when
 * the event comes, so a later flush would pair it with the final status (and a
 * completed task's progress of 1) and reach D-Bus after Status */
static void
flush_progress (TaskEntry *entry)
{
  em_rate_limit_flush (&entry->progress);
}

/* --- delays --- */

static gboolean timers_cb (gpointer user_data);

static void
rearm_timers (EmEngineManager *self)
{
  TaskEntry *head;
  gint64 wait_us;

  g_clear_handle_id (&self->timer_source, g_source_remove);
  if (g_sequence_is_empty (self->timers))
    return;

  /* one timer for the earliest due task, however many are delayed; a
   * longer wait wakes early and arms itself again */
  head = g_sequence_get (g_sequence_get_begin_iter (self->timers));
  wait_us = MAX (0, head->due_us - g_get_real_time ());
  self->timer_source = g_timeout_add_full (G_PRIORITY_DEFAULT,
                                           (guint) MIN ((wait_us + 999) / 1000, TIMERS_RECHECK_MS),
                                           timers_cb, self, NULL);
}

static void
remove_timer (EmEngineManager *self, TaskEntry *entry)
{
  gboolean was_head;

  if (entry->timer_iter == NULL)
    return;
  was_head = g_sequence_iter_is_begin (entry->timer_iter);
  g_sequence_remove (entry->timer_iter);
  entry->timer_iter = NULL;
  if (was_head)
    rearm_timers (self);
}

static void
add_timer (EmEngineManager *self, TaskEntry *entry, gint64 due_us)
{
  entry->due_us = due_us;
  entry->timer_iter = g_sequence_insert_sorted (self->timers, entry, compare_due, NULL);
  if (g_sequence_iter_is_begin (entry->timer_iter))
    rearm_timers (self);
}

static void make_ready_if_possible (EmEngineManager *self, TaskEntry *entry);

static gboolean
timers_cb (gpointer user_data)
{
  EmEngineManager *self = user_data;
  gint64 now = g_get_real_time ();

  self->timer_source = 0;
  while (!g_sequence_is_empty (self->timers))
    {
      GSequenceIter *iter = g_sequence_get_begin_iter (self->timers);
      TaskEntry *entry = g_sequence_get (iter);

      if (entry->due_us > now)
        break;
      g_sequence_remove (iter);
      entry->timer_iter = NULL;
      make_ready_if_possible (self, entry);
    }
  rearm_timers (self);
  return G_SOURCE_REMOVE;
}

/* --- readiness and dependencies --- */

static void
make_ready_if_possible (EmEngineManager *self, TaskEntry *entry)
{
  EmSchedBatch *batch = entry->item.batch;

  /* a batch's later items exist before they are linked to their
   * dependencies and announced: enqueue_entry() makes them ready itself */
  if (entry->all_iter == NULL)
    return;
  if (em_task_get_status (entry->task) != EM_TASK_STATUS_PENDING ||
      entry->waiting_on->len > 0 || entry->timer_iter != NULL || entry->in_flight ||
      em_scheduler_is_ready (&entry->item))
    return;
  if (batch != NULL && !em_sched_batch_is_holding (batch) && em_sched_batch_is_waiting_outside (batch))
    return;
  em_scheduler_add_ready (self->scheduler, &entry->item);
  process_queue (self);
}

static void
make_batch_ready (EmEngineManager *self, EmSchedBatch *batch)
{
  GPtrArray *items = em_sched_batch_get_items (batch);

  for (guint i = 0; i < items->len; i++)
    make_ready_if_possible (self, (TaskEntry *) g_ptr_array_index (items, i));
}

/* an exclusive batch holds its devices from its first start to its end: had
 * it started while one of its tasks waits on a task outside it that needs
 * those devices, neither could ever run. So it starts only once none waits
 * outside. */
static gboolean
is_outside_link (TaskEntry *entry, TaskEntry *dep)
{
  EmSchedBatch *batch = entry->item.batch;

  return batch != NULL && em_sched_batch_is_exclusive (batch) && dep->item.batch != batch;
}

static void
link_dependency (EmEngineManager *self, TaskEntry *entry, TaskEntry *dep)
{
  EmSchedBatch *batch = entry->item.batch;

  g_ptr_array_add (entry->waiting_on, dep);
  if (dep->dependents == NULL)
    dep->dependents = g_queue_new ();
  g_queue_push_tail (dep->dependents, entry);
  if (entry->waiting_links == NULL)
    entry->waiting_links = g_ptr_array_new ();
  g_ptr_array_add (entry->waiting_links, dep->dependents->tail);
  if (!is_outside_link (entry, dep))
    return;
  em_sched_batch_wait_outside (batch);
  /* the batch's earlier items may be ready already: they wait with it */
  if (!em_sched_batch_is_holding (batch))
    {
      GPtrArray *items = em_sched_batch_get_items (batch);

      for (guint i = 0; i < items->len; i++)
        em_scheduler_remove_ready (self->scheduler, g_ptr_array_index (items, i));
    }
}

/* @entry no longer waits on @dep; returns whether its batch may now start */
static gboolean
unlink_outside (TaskEntry *entry, TaskEntry *dep)
{
  return is_outside_link (entry, dep) && em_sched_batch_stop_waiting_outside (entry->item.batch);
}

static void
publish_waiting_on (TaskEntry *entry)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new ();

  for (guint i = 0; i < entry->waiting_on->len; i++)
    g_ptr_array_add (ids, (gpointer) em_task_get_id (((TaskEntry *) g_ptr_array_index (entry->waiting_on, i))->task));
  g_ptr_array_add (ids, NULL);
  /* unchanged, the record says so already: a restart relinks every pending
   * task, and rewrote them all in one write */
  if (!em_task_set_waiting_on (entry->task, (const char * const *) ids->pdata))
    return;
  /* no event says so, but the record must: a restart relinks from it */
  if (entry->manager->store != NULL && g_hash_table_contains (entry->manager->entries,
                                                              em_task_get_id (entry->task)))
    {
      mark_dirty (entry->manager, entry);
      schedule_flush (entry->manager);
    }
}

static void
fail_entry (EmEngineManager *self, TaskEntry *entry, const char *message)
{
  flush_progress (entry);
  /* a listener of that progress may have cancelled it: that is its end */
  if (em_task_is_finished (entry->task))
    return;
  finish_entry (self, entry, EM_EVENT_TASK_FAILED, NULL, message);
}

/* a dependency finished: its dependents become ready or fail in turn; a worklist
 * rather than recursion, so a long chain cannot exhaust the stack */
static void
resolve_dependents (EmEngineManager *self, TaskEntry *finished)
{
  g_queue_push_tail (&self->cascade, finished);
  if (self->cascading)
    return;

  self->cascading = TRUE;
  while (!g_queue_is_empty (&self->cascade))
    {
      TaskEntry *dep = g_queue_pop_head (&self->cascade);
      EmTaskStatus status = em_task_get_status (dep->task);
      GQueue *dependents = g_steal_pointer (&dep->dependents);

      for (GList *l = dependents != NULL ? dependents->head : NULL; l != NULL; l = l->next)
        {
          TaskEntry *entry = l->data;
          gboolean batch_free;
          guint index;

          if (em_task_is_finished (entry->task) || !g_ptr_array_find (entry->waiting_on, dep, &index))
            continue;
          g_ptr_array_remove_index (entry->waiting_on, index);
          g_ptr_array_remove_index (entry->waiting_links, index);
          batch_free = unlink_outside (entry, dep);
          publish_waiting_on (entry);

          if (status == EM_TASK_STATUS_COMPLETED)
            make_ready_if_possible (self, entry);
          else
            {
              g_autofree char *message =
                g_strdup_printf (status == EM_TASK_STATUS_CANCELLED
                                 ? _("dependency %s was cancelled")
                                 : _("dependency %s failed"),
                                 em_task_get_id (dep->task));

              fail_entry (self, entry, message);
            }
          if (batch_free)
            make_batch_ready (self, entry->item.batch);
        }
      if (dependents != NULL)
        g_queue_free (dependents);
    }
  self->cascading = FALSE;
}

/* ends the task as @type says, with @result or the error @message */
static void
finish_entry (EmEngineManager *self,
              TaskEntry       *entry,
              EmEventType      type,
              JsonObject      *result,
              const char      *message)
{
  gboolean batch_free = FALSE;

  /* listeners of its properties hear of the end once the indexes have it,
   * and the listings they read agree with the status they are told */
  g_object_freeze_notify (G_OBJECT (entry->task));
  if (type == EM_EVENT_TASK_COMPLETED)
    em_task_mark_completed (entry->task, result);
  else if (type == EM_EVENT_TASK_FAILED)
    em_task_mark_failed (entry->task, message);
  else
    em_task_mark_cancelled (entry->task);

  /* it waits on nothing now: the tasks it waited on forget it, since it may
   * leave memory before they end, and it no longer holds its batch back */
  for (guint i = 0; i < entry->waiting_on->len; i++)
    {
      TaskEntry *dep = g_ptr_array_index (entry->waiting_on, i);

      /* by its link: one task may have very many dependents. Once its
       * dependents are being resolved, the list is no longer its own */
      if (dep->dependents != NULL)
        g_queue_delete_link (dep->dependents, g_ptr_array_index (entry->waiting_links, i));
      batch_free |= unlink_outside (entry, dep);
    }
  g_ptr_array_set_size (entry->waiting_on, 0);
  if (entry->waiting_links != NULL)
    g_ptr_array_set_size (entry->waiting_links, 0);
  /* and says so: ended while a dependency had not, or failed by one with
   * others still listed, it would go on naming them after they completed */
  if (em_task_get_waiting_on (entry->task)[0] != NULL)
    publish_waiting_on (entry);
  /* a ready task may have held its devices against lower ones, or been the
   * last one the store held back: the queue asks again, since neither the
   * end of the task it waited for nor the store's drained callback need come
   * soon */
  if (em_scheduler_is_ready (&entry->item))
    {
      em_scheduler_remove_ready (self->scheduler, &entry->item);
      process_queue (self);
    }
  remove_timer (self, entry);
  em_task_set_waiting_for (entry->task, NULL);
  reindex (self, entry);
  push_finished (self, entry);
  emit_event_thawing (self, type, entry->task);
  /* with a store, each flush schedules it, once the rows are on their way */
  if (self->store == NULL)
    schedule_eviction (self);

  if (entry->item.batch != NULL)
    {
      em_scheduler_batch_task_done (self->scheduler, &entry->item);
      if (batch_free)
        make_batch_ready (self, entry->item.batch);
      process_queue (self);
    }
  resolve_dependents (self, entry);
}

/* --- running --- */

/* when a task whose attempt @attempts failed just now runs again: the delay
 * doubles with every failed attempt */
static GDateTime *
retry_time (EmTask *task, guint attempts)
{
  g_autoptr(GDateTime) now = em_time_now ();
  gdouble delay = MIN (em_task_get_retry_delay (task) * pow (2.0, attempts - 1),
                       EM_TASK_RETRY_DELAY_CAP);

  return g_date_time_add (now, (GTimeSpan) (delay * G_TIME_SPAN_SECOND));
}

static void
retry_or_fail (EmEngineManager *self, TaskEntry *entry, const char *message)
{
  guint attempts = em_task_get_attempts (entry->task);
  g_autoptr(GDateTime) retry_at = NULL;

  if (self->shutting_down || attempts > em_task_get_max_retries (entry->task))
    {
      fail_entry (self, entry, message);
      return;
    }

  flush_progress (entry);
  if (em_task_is_finished (entry->task))
    return;
  retry_at = retry_time (entry->task, attempts);
  g_object_freeze_notify (G_OBJECT (entry->task));
  em_task_mark_retrying (entry->task, retry_at);
  reindex (self, entry);
  queue_event_thawing (self, em_event_new_retrying (++self->last_seq, entry->task, attempts,
                                                    message, retry_at),
                       entry->task);
  /* a listener of its properties or of the event may have cancelled it */
  if (em_task_get_status (entry->task) == EM_TASK_STATUS_PENDING)
    add_timer (self, entry, g_date_time_to_unix (retry_at) * G_USEC_PER_SEC +
                            g_date_time_get_microsecond (retry_at));
}

static void
action_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  TaskEntry *entry = user_data;
  /* held since start_entry, so the entry outlives the action */
  g_autoptr(EmEngineManager) self = entry->manager;
  g_autoptr(JsonObject) output = NULL;
  g_autoptr(GError) error = NULL;

  output = em_action_run_finish (EM_ACTION (source), result, &error);

  entry->in_flight = FALSE;
  self->n_in_flight--;
  em_scheduler_release (self->scheduler, &entry->item);
  g_clear_handle_id (&entry->timeout_source, g_source_remove);
  g_clear_object (&entry->cancellable);
  g_clear_pointer (&entry->context, em_action_context_free);

  /* the service is stopping: the task stays running in the store, and the next
   * start settles it as interrupted */
  if (entry->interrupted)
    return;

  /* cancelled while it ran: eviction passed it over until now */
  if (em_task_is_finished (entry->task))
    schedule_eviction (self);
  /* the attempt's last progress goes out before its outcome */
  if (!em_task_is_finished (entry->task))
    flush_progress (entry);
  /* cancelled already, maybe by a listener of that progress: the device has
   * stopped, nothing may flip the status now */
  if (!em_task_is_finished (entry->task))
    {
      if (output != NULL && !entry->timed_out)
        finish_entry (self, entry, EM_EVENT_TASK_COMPLETED, output, NULL);
      else if (entry->timed_out)
        {
          char seconds[G_ASCII_DTOSTR_BUF_SIZE];
          /* in full, as given: %g wrote 1000000 as 1e+06 */
          g_autofree char *message =
            g_strdup_printf (_("timed out after %s s"),
                             em_json_format_double (seconds, em_task_get_timeout (entry->task)));

          retry_or_fail (self, entry, message);
        }
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        finish_entry (self, entry, EM_EVENT_TASK_CANCELLED, NULL, NULL);
      else
        {
          retry_or_fail (self, entry, error->message);
        }
    }

  make_ready_if_possible (self, entry);
  process_queue (self);
}

static gboolean
timed_out_cb (gpointer user_data)
{
  TaskEntry *entry = user_data;

  /* the action stops and returns; action_done_cb says why */
  entry->timeout_source = 0;
  entry->timed_out = TRUE;
  g_cancellable_cancel (entry->cancellable);
  return G_SOURCE_REMOVE;
}

static gboolean
timeout_cb (gpointer user_data)
{
  TaskEntry *entry = user_data;

  /* after a busy spell of the loop, an answer that came in time may be due in
   * this same turn, behind the timeout that was set first: the verdict waits
   * for the next turn, and action_done_cb removes it if the answer came */
  entry->timeout_source = g_idle_add_full (G_PRIORITY_DEFAULT, timed_out_cb, entry, NULL);
  return G_SOURCE_REMOVE;
}

static void
start_entry (EmEngineManager *self, TaskEntry *entry)
{
  gdouble timeout;

  em_task_set_waiting_for (entry->task, NULL);
  /* a listener of that may have cancelled it: it never started */
  if (!em_task_is_finished (entry->task))
    {
      /* its listeners find it listed as running, and its event recorded, as
       * for an end: it has started_at and an attempt, even if one of them
       * cancels it there */
      g_object_freeze_notify (G_OBJECT (entry->task));
      em_task_mark_running (entry->task);
      reindex (self, entry);
      emit_event_thawing (self, EM_EVENT_TASK_STARTED, entry->task);
    }

  /* cancelled by a listener of its properties or by a started handler, or a
   * handler stopped the service: the action then never runs, and the next
   * start settles it */
  if (em_task_is_finished (entry->task) || entry->interrupted)
    {
      em_scheduler_release (self->scheduler, &entry->item);
      return;
    }

  entry->in_flight = TRUE;
  entry->timed_out = FALSE;
  self->n_in_flight++;
  entry->cancellable = g_cancellable_new ();
  entry->context = em_action_context_new (self->devices, em_task_get_id (entry->task),
                                          self->data_dir, progress_cb, entry);
  timeout = em_task_get_timeout (entry->task);
  /* a guint of milliseconds ends at about 50 days, and timeouts go up to a
   * year: beyond that, whole seconds (which a guint holds) */
  if (timeout > 0 && ceil (timeout * 1000) <= G_MAXUINT)
    entry->timeout_source = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) ceil (timeout * 1000),
                                                timeout_cb, entry, NULL);
  else if (timeout > 0)
    entry->timeout_source = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, (guint) ceil (timeout),
                                                        timeout_cb, entry, NULL);
  g_object_ref (self);
  em_action_run_async (entry->action, entry->context, em_task_get_parameters (entry->task),
                       entry->cancellable, action_done_cb, entry);
}

static void
waiting_cb (EmSchedItem *item, EmDeviceKind waiting_for, gpointer user_data)
{
  TaskEntry *entry = (TaskEntry *) item;
  g_autoptr(GFlagsClass) kinds = g_type_class_ref (EM_TYPE_DEVICE_KIND);
  const char *names[4] = { NULL, };
  guint n = 0;

  for (guint i = 0; i < kinds->n_values && n < G_N_ELEMENTS (names) - 1; i++)
    {
      if (kinds->values[i].value != 0 && (waiting_for & kinds->values[i].value) != 0)
        names[n++] = kinds->values[i].value_nick;
    }
  em_task_set_waiting_for (entry->task, names);
}

static void
set_held (EmEngineManager *self, const char *held)
{
  if (g_strcmp0 (self->held, held) == 0)
    return;
  self->held = held;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HELD]);
}

static gboolean
process_idle_cb (gpointer user_data)
{
  EmEngineManager *self = user_data;
  const char *held = NULL;

  self->process_source = 0;
  while (!self->paused && !self->shutting_down &&
         (self->max_concurrent == 0 || self->n_in_flight < self->max_concurrent))
    {
      EmSchedBatch *reserved = NULL;
      EmSchedItem *item;

      /* results come faster than the store writes them: what waits for it
       * would grow without bound, so the queue waits instead (store_drained_cb) */
      if (self->store != NULL && em_store_is_backlogged (self->store))
        {
          /* said only when a task could start now but for the store: one
           * waiting on its dependencies or on a busy device, or no task at
           * all, is not held by it. Asked only while the store is behind */
          if (em_scheduler_can_take_next (self->scheduler))
            held = "store";
          break;
        }
      item = em_scheduler_take_next (self->scheduler, &reserved);

      if (item == NULL)
        break;
      /* the record must say the batch holds its devices, on every task of it
       * a restart may find pending */
      if (reserved != NULL && self->store != NULL)
        {
          GPtrArray *items = em_sched_batch_get_items (reserved);

          for (guint i = 0; i < items->len; i++)
            mark_dirty (self, g_ptr_array_index (items, i));
          schedule_flush (self);
        }
      start_entry (self, (TaskEntry *) item);
    }
  /* the store's drained callback comes back here, and clears it. Said
   * before the waiting update, whose listeners may pause the queue or cancel
   * the task it holds: those see it set, and clear it or ask again */
  set_held (self, held);
  em_scheduler_update_waiting (self->scheduler, waiting_cb, self);
  return G_SOURCE_REMOVE;
}

/* starting from an idle keeps a burst of submissions from recursing through
 * completions, and lets the submitter see its reply before the task starts */
static void
process_queue (EmEngineManager *self)
{
  if (self->process_source != 0 || self->shutting_down)
    return;
  self->process_source = g_idle_add_full (G_PRIORITY_DEFAULT, process_idle_cb, self, NULL);
}

/* --- submission --- */

static gboolean
validate_spec (EmEngineManager *self, EmTaskSpec *spec, EmAction **out_action, GError **error)
{
  EmAction *action;
  glong n_chars;
  g_autoptr(GError) unsafe = NULL;

  if (spec->name == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("name is required"));
      return FALSE;
    }
  if (!g_utf8_validate (spec->name, -1, NULL))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("name must be valid UTF-8"));
      return FALSE;
    }
  n_chars = g_utf8_strlen (spec->name, -1);
  if (n_chars < 1 || n_chars > EM_TASK_NAME_MAX_CHARS)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("name must be 1 to %d characters long, got %ld"),
                   EM_TASK_NAME_MAX_CHARS, n_chars);
      return FALSE;
    }
  if (spec->action == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("action is required"));
      return FALSE;
    }

  action = em_action_registry_lookup (self->registry, spec->action);
  if (action == NULL)
    {
      g_auto(GStrv) names = em_action_registry_get_names (self->registry);
      g_autofree char *known = g_strjoinv (", ", names);
      g_autofree char *quoted = em_clip_for_message (spec->action);

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("action: unknown action “%s” (known: %s)"), quoted, known);
      return FALSE;
    }
  em_task_spec_drop_null_parameters (spec, action);
  if (!em_action_validate (action, spec->parameters, error))
    return FALSE;
  if (spec->max_retries > 0 && !em_action_is_retry_safe (action, spec->parameters, &unsafe))
    {
      /* the reason names the parameter that would make it safe */
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("max_retries: action “%s” is not safe to retry with these parameters: %s"),
                   spec->action, unsafe->message);
      return FALSE;
    }

  *out_action = action;
  return TRUE;
}

/* @dep, or the task @gone_id that left memory, is listed already */
static gboolean
has_dep (GPtrArray *deps, TaskEntry *dep, const char *gone_id)
{
  for (guint i = 0; i < deps->len; i++)
    {
      DepRef *ref = g_ptr_array_index (deps, i);

      if (dep != NULL ? ref->entry == dep : g_strcmp0 (ref->gone_id, gone_id) == 0)
        return TRUE;
    }
  return FALSE;
}

/* resolves depends_on to entries: ids of existing tasks, or `#<index>` of an
 * earlier item of the same batch (which also rules out cycles); DepRef items */
static GPtrArray *
resolve_depends_on (EmEngineManager *self,
                    EmTaskSpec      *spec,
                    guint            index,
                    GPtrArray       *batch_entries,
                    GError         **error)
{
  g_autoptr(GPtrArray) deps = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; spec->depends_on != NULL && spec->depends_on[i] != NULL; i++)
    {
      const char *ref = spec->depends_on[i];
      TaskEntry *dep = NULL;
      EmTaskStatus gone_status;
      DepRef *resolved;

      if (ref[0] == '#')
        {
          guint64 n = 0;

          /* a lone task has no batch to point into: saying "earlier item" would
           * send the client looking for one */
          if (batch_entries == NULL)
            {
              g_autofree char *quoted = em_clip_for_message (ref);

              g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("depends_on[%u]: “%s” refers to an item of a batch; #N references "
                             "exist only inside one (ScheduleBatch, or POST /tasks with a tasks array)"),
                           i, quoted);
              return NULL;
            }
          /* one spelling per item: "#01" or "#00" would name #1 or #0 too */
          if ((ref[1] == '0' && ref[2] != '\0') ||
              !g_ascii_string_to_unsigned (ref + 1, 10, 0, G_MAXUINT, &n, NULL) || n >= index)
            {
              g_autofree char *quoted = em_clip_for_message (ref);

              g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("depends_on[%u]: “%s” must name an earlier item of the same batch"),
                           i, quoted);
              return NULL;
            }
          dep = g_ptr_array_index (batch_entries, n);
        }
      else
        {
          dep = g_hash_table_lookup (self->entries, ref);
          /* finished: its final status is all that counts. A batch's later
           * items are made after listeners of the earlier ones ran, and one
           * of them may have let go of its entry (a stop ends a deletion) */
          if (dep != NULL && em_task_is_finished (dep->task))
            {
              gone_status = em_task_get_status (dep->task);
              dep = NULL;
            }
          /* finished long ago: only its final status is still in memory */
          else if (dep == NULL && !em_finished_cache_lookup (self->gone, ref, &gone_status))
            {
              g_autofree char *quoted = em_clip_for_message (ref);

              g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("depends_on: unknown task “%s”"), quoted);
              return NULL;
            }
          if (dep == NULL)
            {
              if (has_dep (deps, NULL, ref))
                continue;
              resolved = g_new0 (DepRef, 1);
              resolved->gone_id = ref;
              resolved->gone_status = gone_status;
              g_ptr_array_add (deps, resolved);
              continue;
            }
        }
      if (has_dep (deps, dep, NULL))
        continue;
      resolved = g_new0 (DepRef, 1);
      resolved->entry = dep;
      g_ptr_array_add (deps, resolved);
    }
  return g_steal_pointer (&deps);
}

static TaskEntry *
create_entry (EmEngineManager *self, EmTaskSpec *spec, EmAction *action, EmSchedBatch *batch)
{
  TaskEntry *entry = task_entry_new (self);

  if (spec->parameters != NULL)
    json_object_seal (spec->parameters);

  entry->action = action;
  entry->item.priority = spec->priority;
  entry->item.serial = ++self->next_serial;
  entry->item.claims = em_action_get_claims (action);
  if (batch != NULL)
    em_sched_item_set_batch (&entry->item, batch);
  entry->task = em_task_new (entry->item.serial, spec->name, em_action_get_name (action),
                             spec->parameters);
  return entry;
}

/* makes a created entry live: indexes, dependencies, delay, event, queue */
static void
enqueue_entry (EmEngineManager *self, TaskEntry *entry, EmTaskSpec *spec, GPtrArray *deps)
{
  g_autoptr(GPtrArray) dep_ids = g_ptr_array_new ();
  const char *broken = NULL;
  EmTaskStatus broken_status = EM_TASK_STATUS_FAILED;
  gint64 now = g_get_real_time ();
  gint64 due = 0;

  for (guint i = 0; i < deps->len; i++)
    {
      DepRef *ref = g_ptr_array_index (deps, i);
      TaskEntry *dep = ref->entry;
      const char *id = dep != NULL ? em_task_get_id (dep->task) : ref->gone_id;
      EmTaskStatus status = dep != NULL ? em_task_get_status (dep->task) : ref->gone_status;

      g_ptr_array_add (dep_ids, (gpointer) id);
      if (status == EM_TASK_STATUS_COMPLETED)
        continue;
      if (status >= EM_TASK_STATUS_COMPLETED)
        {
          if (broken == NULL)
            {
              broken = id;
              broken_status = status;
            }
          continue;
        }
      link_dependency (self, entry, dep);
    }
  g_ptr_array_add (dep_ids, NULL);

  em_task_set_schedule (entry->task, spec->priority, (const char * const *) dep_ids->pdata,
                        spec->max_retries, spec->retry_delay, spec->timeout,
                        entry->item.batch != NULL ? em_sched_batch_get_id (entry->item.batch) : NULL);
  publish_waiting_on (entry);

  if (spec->run_at != NULL)
    due = g_date_time_to_unix (spec->run_at) * G_USEC_PER_SEC + g_date_time_get_microsecond (spec->run_at);
  else if (spec->delay > 0)
    due = now + (gint64) (spec->delay * G_USEC_PER_SEC);
  /* a time before 1970 is still the time asked for */
  if (spec->run_at != NULL || spec->delay > 0)
    {
      g_autoptr(GDateTime) run_at = g_date_time_new_from_unix_utc (due / G_USEC_PER_SEC);
      g_autoptr(GDateTime) exact = g_date_time_add (run_at, due % G_USEC_PER_SEC);

      em_task_set_run_at (entry->task, exact);
    }

  insert_entry (self, entry);

  em_debug_hot ("scheduled %s (%s)", em_task_get_id (entry->task), em_task_get_action (entry->task));
  emit_event (self, EM_EVENT_TASK_SCHEDULED, entry->task);
  if (em_task_is_finished (entry->task))
    return;
  /* a listener stopped the service while a batch was being made: without a
   * store the stop cancels what is pending, and nothing would ever settle
   * the items made after it */
  if (self->shutting_down && self->store == NULL)
    {
      cancel_entry (self, entry);
      return;
    }

  if (broken != NULL)
    {
      g_autofree char *message =
        g_strdup_printf (broken_status == EM_TASK_STATUS_CANCELLED
                         ? _("dependency %s was cancelled") : _("dependency %s failed"),
                         broken);

      fail_entry (self, entry, message);
      return;
    }
  if (due > now)
    add_timer (self, entry, due);
  make_ready_if_possible (self, entry);
}

gboolean
em_engine_manager_check_capacity (EmEngineManager *self, guint n_tasks, GError **error)
{
  guint pending;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);

  /* a batch's items not enqueued yet count: a listener of an earlier one's
   * events may schedule more while the batch is being made */
  pending = g_sequence_get_length (self->by_status[EM_TASK_STATUS_PENDING]) +
            self->reserved_pending;
  if (self->max_pending == 0 || (guint64) pending + n_tasks <= self->max_pending)
    return TRUE;
  if (n_tasks <= 1)
    g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                 ngettext ("the queue is full: %u task is pending (limit %u)",
                           "the queue is full: %u tasks are pending (limit %u)", pending),
                 pending, self->max_pending);
  else
    g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                 ngettext ("the queue is full: %u task is pending (limit %u), too many for a batch of %u",
                           "the queue is full: %u tasks are pending (limit %u), too many for a batch of %u",
                           pending),
                 pending, self->max_pending, n_tasks);
  return FALSE;
}

static gboolean
check_accepting (EmEngineManager *self, GError **error)
{
  g_autoptr(GError) failure = NULL;

  if (self->shutting_down)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_UNAVAILABLE, _("the service is shutting down"));
      return FALSE;
    }
  /* it could not be acknowledged, and would run all the same: a client
   * retrying the refusal would run it again and again, and its rows would
   * pile up in the store's overlay until the restart */
  if (self->store != NULL && !em_store_check (self->store, &failure))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                   _("store: new tasks are refused until the service restarts: %s"),
                   failure->message);
      return FALSE;
    }
  return TRUE;
}

EmTask *
em_engine_manager_schedule_task (EmEngineManager  *self,
                                 EmTaskSpec       *spec,
                                 GError          **error)
{
  g_autoptr(GPtrArray) deps = NULL;
  EmAction *action = NULL;
  TaskEntry *entry;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  g_return_val_if_fail (spec != NULL, NULL);

  if (!validate_spec (self, spec, &action, error) || !check_accepting (self, error) ||
      !em_engine_manager_check_capacity (self, 1, error))
    return NULL;
  deps = resolve_depends_on (self, spec, 0, NULL, error);
  if (deps == NULL)
    return NULL;

  entry = create_entry (self, spec, action, NULL);
  enqueue_entry (self, entry, spec, deps);
  return entry->task;
}

static gboolean
prefix_item_error (GError **error, guint index)
{
  g_prefix_error (error, "[%u] ", index);
  return FALSE;
}

GPtrArray *
em_engine_manager_schedule_batch (EmEngineManager  *self,
                                  GPtrArray        *specs,
                                  gboolean          exclusive,
                                  GError          **error)
{
  g_autoptr(GPtrArray) actions = g_ptr_array_new ();
  g_autoptr(GPtrArray) deps = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(EmSchedBatch) batch = NULL;
  GPtrArray *tasks;
  EmDeviceKind claims = 0;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  g_return_val_if_fail (specs != NULL, NULL);

  if (!em_task_spec_check_batch_size (specs->len, error))
    return NULL;

  /* everything is checked before anything is created: all or nothing; the
   * items first, as for one task, so an invalid one is named even when the
   * queue is full, rather than retried only to be refused again */
  for (guint i = 0; i < specs->len; i++)
    {
      EmAction *action = NULL;

      if (!validate_spec (self, g_ptr_array_index (specs, i), &action, error))
        {
          prefix_item_error (error, i);
          return NULL;
        }
      g_ptr_array_add (actions, action);
      claims |= em_action_get_claims (action);
    }
  if (!check_accepting (self, error) ||
      !em_engine_manager_check_capacity (self, specs->len, error))
    return NULL;

  /* `#<index>` references need the entries, so they are resolved against
   * placeholders first and the real entries are made only once all resolve */
  entries = g_ptr_array_new ();
  for (guint i = 0; i < specs->len; i++)
    g_ptr_array_add (entries, GUINT_TO_POINTER (i + 1));
  for (guint i = 0; i < specs->len; i++)
    {
      GPtrArray *resolved = resolve_depends_on (self, g_ptr_array_index (specs, i), i, entries, error);

      if (resolved == NULL)
        {
          prefix_item_error (error, i);
          return NULL;
        }
      g_ptr_array_add (deps, resolved);
    }

  batch = em_sched_batch_new (exclusive, claims, specs->len);
  for (guint i = 0; i < specs->len; i++)
    g_ptr_array_index (entries, i) = create_entry (self, g_ptr_array_index (specs, i),
                                                   g_ptr_array_index (actions, i), batch);

  tasks = g_ptr_array_new_full (specs->len, NULL);
  self->reserved_pending += specs->len;
  for (guint i = 0; i < specs->len; i++)
    {
      GPtrArray *item_deps = g_ptr_array_index (deps, i);
      TaskEntry *entry = g_ptr_array_index (entries, i);

      /* swap placeholders for the entries they stand for */
      for (guint d = 0; d < item_deps->len; d++)
        {
          DepRef *ref = g_ptr_array_index (item_deps, d);
          guint placeholder = GPOINTER_TO_UINT (ref->entry);

          if (ref->entry != NULL && placeholder >= 1 && placeholder <= specs->len)
            ref->entry = g_ptr_array_index (entries, placeholder - 1);
        }
      self->reserved_pending--;
      enqueue_entry (self, entry, g_ptr_array_index (specs, i), item_deps);
      g_ptr_array_add (tasks, entry->task);
    }
  return tasks;
}

/* --- control --- */

static void
cancel_entry (EmEngineManager *self, TaskEntry *entry)
{
  if (entry->in_flight)
    g_cancellable_cancel (entry->cancellable);
  else if (entry->item.holding)
    em_scheduler_release (self->scheduler, &entry->item);

  flush_progress (entry);
  /* a listener of that progress may have cancelled it already */
  if (em_task_is_finished (entry->task))
    return;
  finish_entry (self, entry, EM_EVENT_TASK_CANCELLED, NULL, NULL);
}

gboolean
em_engine_manager_cancel_task (EmEngineManager  *self,
                               const char       *id,
                               GError          **error)
{
  TaskEntry *entry;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);

  entry = id != NULL ? g_hash_table_lookup (self->entries, id) : NULL;
  if (entry == NULL)
    {
      g_autofree char *quoted = em_clip_for_message (id != NULL ? id : "");

      g_set_error (error, EM_ERROR, EM_ERROR_NOT_FOUND, _("no task with id “%s”"), quoted);
      return FALSE;
    }
  if (em_task_is_finished (entry->task))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_CONFLICT,
                   _("task “%s” has already finished: its status is %s"),
                   id, em_task_status_to_string (em_task_get_status (entry->task)));
      return FALSE;
    }

  cancel_entry (self, entry);
  return TRUE;
}

void
em_engine_manager_pause (EmEngineManager *self)
{
  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  if (self->paused)
    return;
  self->paused = TRUE;
  /* the event first: a listener of the notification may resume, and the
   * last event must say the state a restart comes back to */
  emit_event (self, EM_EVENT_QUEUE_PAUSED, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
  /* the pause is what holds them now; a resume asks the store again */
  set_held (self, NULL);
}

void
em_engine_manager_resume (EmEngineManager *self)
{
  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  if (!self->paused)
    return;
  /* once the store has failed, each switch adds an event that memory keeps
   * until the restart, so a client looping pause and resume would grow it
   * without bound. Pausing still works, once, as a safety control; resuming
   * waits for the restart */
  if (!em_engine_manager_check_store (self, NULL))
    {
      g_debug ("not resuming the queue: the store has failed");
      return;
    }
  self->paused = FALSE;
  /* the event first, as in pause */
  emit_event (self, EM_EVENT_QUEUE_RESUMED, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
  process_queue (self);
}

gboolean
em_engine_manager_get_paused (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  return self->paused;
}

const char *
em_engine_manager_get_held (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->held;
}

guint
em_engine_manager_get_max_concurrent (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);
  return self->max_concurrent;
}

void
em_engine_manager_set_max_concurrent (EmEngineManager *self, guint max_concurrent)
{
  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  if (self->max_concurrent == max_concurrent)
    return;
  self->max_concurrent = max_concurrent;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_CONCURRENT]);
  process_queue (self);
}

guint
em_engine_manager_get_max_pending (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);
  return self->max_pending;
}

void
em_engine_manager_set_max_pending (EmEngineManager *self, guint max_pending)
{
  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  if (self->max_pending == max_pending)
    return;
  /* a lower limit refuses new work; what is already pending stays */
  self->max_pending = max_pending;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_PENDING]);
}

/* --- queries --- */

EmTask *
em_engine_manager_get_task (EmEngineManager *self, const char *id)
{
  TaskEntry *entry;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);

  entry = id != NULL ? g_hash_table_lookup (self->entries, id) : NULL;
  return entry != NULL ? entry->task : NULL;
}

guint
em_engine_manager_count_tasks (EmEngineManager *self, const EmTaskStatus *status)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);

  if (status == NULL)
    return g_sequence_get_length (self->all);
  g_return_val_if_fail (*status < EM_TASK_STATUS_N_STATUSES, 0);
  return g_sequence_get_length (self->by_status[*status]);
}

GPtrArray *
em_engine_manager_list_tasks (EmEngineManager    *self,
                              const EmTaskStatus *status,
                              guint               offset,
                              guint               limit,
                              guint              *out_total)
{
  guint total = em_engine_manager_count_tasks (self, status);
  guint count = offset < total ? total - offset : 0;
  GPtrArray *tasks;

  if (limit > 0)
    count = MIN (count, limit);
  if (out_total != NULL)
    *out_total = total;

  tasks = g_ptr_array_new_full (count, g_object_unref);
  if (count == 0)
    return tasks;

  {
    GSequence *seq = status != NULL ? self->by_status[*status] : self->all;
    GSequenceIter *iter = g_sequence_get_iter_at_pos (seq, offset);

    for (guint i = 0; i < count; i++, iter = g_sequence_iter_next (iter))
      g_ptr_array_add (tasks, g_object_ref (((TaskEntry *) g_sequence_get (iter))->task));
  }
  return tasks;
}

gboolean
em_engine_manager_is_busy (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  return self->n_in_flight > 0;
}

gboolean
em_engine_manager_is_acknowledging (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  return self->sync_in_flight || self->sync_waiters->len > 0;
}

gboolean
em_engine_manager_has_store_requests (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  return self->store_requests > 0;
}

const char *
em_engine_manager_get_event_log_id (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->event_log_id;
}

guint64
em_engine_manager_get_last_event_seq (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);
  return self->last_seq;
}

static void
cancel_all (EmEngineManager *self, EmTaskStatus status)
{
  GSequence *seq = self->by_status[status];
  g_autoptr(GPtrArray) entries = g_ptr_array_new ();

  /* cancelling moves the entry to another index: walk a copy */
  for (GSequenceIter *iter = g_sequence_get_begin_iter (seq);
       !g_sequence_iter_is_end (iter); iter = g_sequence_iter_next (iter))
    g_ptr_array_add (entries, g_sequence_get (iter));
  /* newest first: a task's dependencies are older than it, so each pending
   * one is cancelled by the stop itself, not failed by the cancellation of
   * what it waits on. One already finished is being finished further up
   * the stack (a listener of its notify::status stops the service), or a
   * listener ended it */
  for (guint i = entries->len; i-- > 0;)
    {
      TaskEntry *entry = g_ptr_array_index (entries, i);

      if (!em_task_is_finished (entry->task))
        cancel_entry (self, entry);
    }
}

void
em_engine_manager_shutdown (EmEngineManager *self)
{
  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  if (self->shutting_down)
    return;
  self->shutting_down = TRUE;
  g_clear_handle_id (&self->process_source, g_source_remove);
  /* nothing starts any more, whatever the store: the queue is not held by it */
  set_held (self, NULL);
  g_clear_handle_id (&self->timer_source, g_source_remove);
  /* a pruning started now would hold the engine past the stop's wait */
  g_clear_handle_id (&self->prune_source, g_source_remove);
  em_engine_manager_finish_forgetting (self);

  /* with a store, pending tasks wait for the next start, and running ones are
   * stopped but stay running in the record: the next start settles them as
   * interrupted, exactly as after a crash */
  if (self->store != NULL)
    {
      GSequence *running = self->by_status[EM_TASK_STATUS_RUNNING];

      for (GSequenceIter *iter = g_sequence_get_begin_iter (running);
           !g_sequence_iter_is_end (iter); iter = g_sequence_iter_next (iter))
        {
          TaskEntry *entry = g_sequence_get (iter);

          entry->interrupted = TRUE;
          if (entry->cancellable != NULL)
            g_cancellable_cancel (entry->cancellable);
        }
      em_engine_manager_flush_unwritten (self);
      return;
    }

  cancel_all (self, EM_TASK_STATUS_PENDING);
  cancel_all (self, EM_TASK_STATUS_RUNNING);
}

EmActionRegistry *
em_engine_manager_get_registry (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->registry;
}

EmDeviceSet *
em_engine_manager_get_devices (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->devices;
}

const char *
em_engine_manager_get_data_dir (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->data_dir;
}

/* --- the store: opening and recovery --- */

void
em_engine_manager_emit_tasks_deleted (EmEngineManager *self, const char * const *ids)
{
  if (ids != NULL && ids[0] != NULL)
    g_signal_emit (self, signals[SIGNAL_TASKS_DELETED], 0, ids);
}

/* the store has caught up with what made it stop the queue */
static void
store_drained_cb (gpointer store, gpointer user_data)
{
  process_queue (user_data);
}

static void
committed_cb (guint64 seq, gpointer user_data)
{
  EmEngineManager *self = user_data;

  self->committed_seq = seq;
  g_signal_emit (self, signals[SIGNAL_EVENTS_COMMITTED], 0, seq);
}

static TaskEntry *
restore_entry (EmEngineManager *self, EmStoreLoadedTask *loaded, EmSchedBatch *batch, GError **error)
{
  g_autoptr(EmTask) task = em_task_new_from_json (loaded->serial, loaded->task, error);
  TaskEntry *entry;

  if (task == NULL)
    return NULL;

  entry = task_entry_new (self);
  entry->task = g_steal_pointer (&task);
  entry->action = em_action_registry_lookup (self->registry, em_task_get_action (entry->task));
  entry->item.priority = em_task_get_priority (entry->task);
  entry->item.serial = loaded->serial;
  entry->item.claims = entry->action != NULL ? em_action_get_claims (entry->action) : 0;
  if (batch != NULL)
    em_sched_item_set_batch (&entry->item, batch);
  if (g_hash_table_contains (self->entries, em_task_get_id (entry->task)))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("task “%s” is stored twice"),
                   em_task_get_id (entry->task));
      task_entry_free (entry);
      return NULL;
    }
  /* measured on the tree it was read into, without writing its text again */
  if (em_task_is_finished (entry->task))
    entry->finished_size = MAX (loaded->size, 1);
  insert_entry (self, entry);
  return entry;
}

static const char *
stored_string (JsonObject *object, const char *key)
{
  JsonNode *node = json_object_get_member (object, key);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
}

/* one scheduler batch per stored batch id, sized to its unfinished tasks; an
 * exclusive one claims what its rows say all its tasks claimed (older rows
 * say nothing: then what its unfinished ones claim), and holds it again if it
 * held it at the stop */
static GHashTable *
restore_batches (EmEngineManager *self, GPtrArray *active)
{
  GHashTable *batches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) em_sched_batch_unref);
  g_autoptr(GHashTable) sizes = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) states = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; i < active->len; i++)
    {
      EmStoreLoadedTask *loaded = g_ptr_array_index (active, i);
      const char *batch = stored_string (loaded->task, "batch");
      const char *action_name = stored_string (loaded->task, "action");
      EmAction *action = action_name != NULL ? em_action_registry_lookup (self->registry, action_name) : NULL;
      guint state = loaded->batch_state;

      if (batch == NULL)
        continue;
      if (action != NULL)
        state |= em_action_get_claims (action) << BATCH_CLAIMS_SHIFT;
      g_hash_table_insert (sizes, (gpointer) batch,
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (sizes, batch)) + 1));
      g_hash_table_insert (states, (gpointer) batch,
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (states, batch)) | state));
    }
  g_hash_table_iter_init (&iter, sizes);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      guint state = GPOINTER_TO_UINT (g_hash_table_lookup (states, key));
      EmSchedBatch *batch = em_sched_batch_new ((state & BATCH_EXCLUSIVE) != 0,
                                                (state >> BATCH_CLAIMS_SHIFT) & EM_DEVICE_KIND_ALL,
                                                GPOINTER_TO_UINT (value));

      if ((state & BATCH_EXCLUSIVE) != 0 && (state & BATCH_HOLDING) != 0)
        em_scheduler_hold_batch (self->scheduler, batch);
      g_hash_table_insert (batches, g_strdup (key), batch);
    }
  return batches;
}

/* links a pending task to the stored tasks it still waits on; returns (transfer
 * none) the first dependency that will never complete, if any */
static const char *
restore_dependencies (EmEngineManager *self, TaskEntry *entry, EmTaskStatus *out_status)
{
  const char * const *depends_on = em_task_get_depends_on (entry->task);
  g_auto(GStrv) waiting = g_strdupv ((char **) em_task_get_waiting_on (entry->task));
  const char *broken = NULL;

  for (guint i = 0; waiting[i] != NULL; i++)
    {
      TaskEntry *dep = g_hash_table_lookup (self->entries, waiting[i]);
      EmTaskStatus status = EM_TASK_STATUS_FAILED;

      if (dep != NULL)
        status = em_task_get_status (dep->task);
      else
        em_finished_cache_lookup (self->gone, waiting[i], &status);

      if (status == EM_TASK_STATUS_COMPLETED)
        continue;
      if (status < EM_TASK_STATUS_COMPLETED)
        {
          link_dependency (self, entry, dep);
          continue;
        }
      /* the string must outlive `waiting`: take the task's own copy */
      for (guint d = 0; broken == NULL && depends_on[d] != NULL; d++)
        if (g_strcmp0 (depends_on[d], waiting[i]) == 0)
          {
            broken = depends_on[d];
            *out_status = status;
          }
    }
  publish_waiting_on (entry);
  return broken;
}

/* a stored pending or running task becomes live again */
static void
resume_entry (EmEngineManager *self, TaskEntry *entry, const char *broken, EmTaskStatus broken_status)
{
  EmTask *task = entry->task;
  GDateTime *run_at;

  /* failed already, with a dependency that failed here */
  if (em_task_is_finished (task))
    return;

  if (entry->action == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("action “%s” is no longer available"),
                                                  em_task_get_action (task));

      fail_entry (self, entry, message);
      return;
    }

  /* the stop failed its attempt: it waits like any other failed attempt */
  if (em_task_get_status (task) == EM_TASK_STATUS_RUNNING)
    {
      g_autoptr(GDateTime) retry_at = NULL;
      guint attempts = em_task_get_attempts (task);

      if (attempts > em_task_get_max_retries (task))
        {
          fail_entry (self, entry, _(INTERRUPTED_MESSAGE));
          return;
        }
      retry_at = retry_time (task, attempts);
      g_object_freeze_notify (G_OBJECT (task));
      em_task_mark_retrying (task, retry_at);
      reindex (self, entry);
      queue_event_thawing (self, em_event_new_retrying (++self->last_seq, task, attempts,
                                                        _(INTERRUPTED_MESSAGE), retry_at),
                           task);
      /* a listener of its properties or of the event may have cancelled it */
      if (em_task_is_finished (task))
        return;
    }

  if (broken != NULL)
    {
      g_autofree char *message =
        g_strdup_printf (broken_status == EM_TASK_STATUS_CANCELLED
                         ? _("dependency %s was cancelled") : _("dependency %s failed"),
                         broken);

      fail_entry (self, entry, message);
      return;
    }

  run_at = em_task_get_run_at (task);
  if (run_at != NULL && time_to_us (run_at) > g_get_real_time ())
    add_timer (self, entry, time_to_us (run_at));
  make_ready_if_possible (self, entry);
}

static void
set_event_log_id (EmEngineManager *self, guint64 id)
{
  g_snprintf (self->event_log_id, sizeof self->event_log_id, "%016" G_GINT64_MODIFIER "x", id);
}

static gboolean
restore (EmEngineManager *self, EmStoreSnapshot *snapshot, GError **error)
{
  g_autoptr(GHashTable) batches = restore_batches (self, snapshot->active);
  g_autoptr(GPtrArray) active = g_ptr_array_new ();
  g_autoptr(GPtrArray) broken = g_ptr_array_new ();
  g_autoptr(GArray) broken_status = g_array_new (FALSE, FALSE, sizeof (EmTaskStatus));

  self->last_seq = snapshot->last_seq;
  set_event_log_id (self, snapshot->log_id);
  self->next_serial = snapshot->last_serial;
  self->oldest_stored_seq = snapshot->oldest_seq;
  self->committed_seq = snapshot->last_seq;
  /* a paused queue stays paused: its pending tasks wait for a resume, as
   * before the stop, and the event log still ends paused */
  if (snapshot->paused != self->paused)
    {
      self->paused = snapshot->paused;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
    }
  em_finished_cache_free (self->gone);
  self->gone = g_steal_pointer (&snapshot->finished);

  for (guint i = 0; i < snapshot->recent->len; i++)
    {
      TaskEntry *entry = restore_entry (self, g_ptr_array_index (snapshot->recent, i), NULL, error);

      if (entry == NULL)
        return FALSE;
      em_finished_cache_remove (self->gone, em_task_get_id (entry->task));
      g_clear_pointer (&((EmStoreLoadedTask *) g_ptr_array_index (snapshot->recent, i))->task,
                       json_object_unref);
    }

  /* every active task exists before any is linked, failed or started */
  for (guint i = 0; i < snapshot->active->len; i++)
    {
      EmStoreLoadedTask *loaded = g_ptr_array_index (snapshot->active, i);
      const char *batch_id = stored_string (loaded->task, "batch");
      TaskEntry *entry = restore_entry (self, loaded,
                                        batch_id != NULL ? g_hash_table_lookup (batches, batch_id) : NULL,
                                        error);

      if (entry == NULL)
        return FALSE;
      g_ptr_array_add (active, entry);
      /* the task holds what it needs of its row: with 100 000 pending tasks
       * the parsed rows and the tasks side by side were 750 MB */
      g_clear_pointer (&loaded->task, json_object_unref);
    }
  for (guint i = 0; i < active->len; i++)
    {
      EmTaskStatus status = EM_TASK_STATUS_FAILED;

      g_ptr_array_add (broken, (gpointer) restore_dependencies (self, g_ptr_array_index (active, i), &status));
      g_array_append_val (broken_status, status);
    }
  /* the statuses read for those links were kept beyond the cache's size */
  em_finished_cache_unpin_all (self->gone);
  for (guint i = 0; i < active->len; i++)
    resume_entry (self, g_ptr_array_index (active, i), g_ptr_array_index (broken, i),
                  g_array_index (broken_status, EmTaskStatus, i));
  return TRUE;
}

static gboolean
prune_timeout_cb (gpointer user_data)
{
  em_engine_manager_prune_now (user_data);
  return G_SOURCE_CONTINUE;
}

gboolean
em_engine_manager_open_store (EmEngineManager *self, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr(EmStore) store = NULL;
  g_auto(EmStoreSnapshot) snapshot = { 0, };

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  g_return_val_if_fail (self->store == NULL, FALSE);
  g_return_val_if_fail (g_sequence_is_empty (self->all) && self->last_seq == 0, FALSE);
  g_return_val_if_fail (self->data_dir != NULL, FALSE);

  /* startup only: the one time the loop waits on the file, before serving anyone */
  path = g_build_filename (self->data_dir, "tasks.db", NULL);
  store = em_store_open (path, error);
  if (store == NULL ||
      !em_store_load (store, self->keep_finished, self->keep_finished_bytes,
                      em_finished_cache_get_max_size (self->gone),
                      &snapshot, error))
    return FALSE;

  self->store = g_steal_pointer (&store);
  em_store_set_backlog_bound (self->store, (gsize) MIN (self->store_backlog_bytes, G_MAXSIZE));
  em_store_set_drained_func (self->store, store_drained_cb, self);
  em_store_start (self->store, committed_cb, self);
  if (!restore (self, &snapshot, error))
    {
      /* nothing was written over the old record: restoring only reads it */
      g_clear_pointer (&self->store, em_store_free);
      return FALSE;
    }
  g_debug ("restored %u tasks from %s", g_sequence_get_length (self->all), path);

  self->prune_source = g_timeout_add_seconds (PRUNE_INTERVAL_S, prune_timeout_cb, self);
  em_engine_manager_prune_now (self);
  return TRUE;
}

gboolean
em_engine_manager_has_store (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  return self->store != NULL;
}

gboolean
em_engine_manager_check_store (EmEngineManager *self, GError **error)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  return self->store == NULL || em_store_check (self->store, error);
}

/* --- acknowledgement --- */

static void start_sync (EmEngineManager *self);

static void
sync_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GPtrArray) waiters = user_data;
  EmEngineManager *self = g_task_get_source_object (g_ptr_array_index (waiters, 0));
  g_autoptr(GError) error = NULL;
  gboolean ok = em_store_sync_finish (self->store, result, &error);

  /* a reference held across the answers, which may drop the last others */
  g_object_ref (self);
  self->sync_in_flight = FALSE;
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = g_ptr_array_index (waiters, i);

      if (ok)
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_error (task, g_error_copy (error));
    }
  if (self->sync_waiters->len > 0)
    start_sync (self);
  g_object_unref (self);
}

/* one commit at a time: whoever asks meanwhile shares the next one, so under
 * load a commit carries many acknowledgements and each task's rows coalesce */
static void
start_sync (EmEngineManager *self)
{
  GPtrArray *waiters = g_steal_pointer (&self->sync_waiters);

  self->sync_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  self->sync_in_flight = TRUE;
  flush_unwritten (self, sync_done_cb, waiters);
}

void
em_engine_manager_sync_async (EmEngineManager     *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_engine_manager_sync_async);
  if (self->store == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_ptr_array_add (self->sync_waiters, g_steal_pointer (&task));
  if (!self->sync_in_flight)
    start_sync (self);
}

gboolean
em_engine_manager_sync_finish (EmEngineManager *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

guint64
em_engine_manager_get_committed_event_seq (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);
  return self->store != NULL ? self->committed_seq : self->last_seq;
}

/* --- GObject --- */

static void
em_engine_manager_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  EmEngineManager *self = EM_ENGINE_MANAGER (object);

  switch (prop_id)
    {
    case PROP_PAUSED:
      g_value_set_boolean (value, self->paused);
      break;
    case PROP_MAX_CONCURRENT:
      g_value_set_uint (value, self->max_concurrent);
      break;
    case PROP_MAX_PENDING:
      g_value_set_uint (value, self->max_pending);
      break;
    case PROP_HELD:
      g_value_set_string (value, self->held);
      break;
    case PROP_STORE_BACKLOG_BYTES:
      g_value_set_uint64 (value, self->store_backlog_bytes);
      break;
    case PROP_KEEP_FINISHED:
      g_value_set_uint (value, self->keep_finished);
      break;
    case PROP_KEEP_FINISHED_BYTES:
      g_value_set_uint64 (value, self->keep_finished_bytes);
      break;
    case PROP_FINISHED_CACHE_SIZE:
      g_value_set_uint (value, em_finished_cache_get_max_size (self->gone));
      break;
    case PROP_RETENTION_MAX_TASKS:
      g_value_set_uint (value, self->retention_max_tasks);
      break;
    case PROP_RETENTION_MAX_AGE:
      g_value_set_double (value, self->retention_max_age);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_engine_manager_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  EmEngineManager *self = EM_ENGINE_MANAGER (object);

  switch (prop_id)
    {
    case PROP_PAUSED:
      if (g_value_get_boolean (value))
        em_engine_manager_pause (self);
      else
        em_engine_manager_resume (self);
      break;
    case PROP_MAX_CONCURRENT:
      em_engine_manager_set_max_concurrent (self, g_value_get_uint (value));
      break;
    case PROP_MAX_PENDING:
      em_engine_manager_set_max_pending (self, g_value_get_uint (value));
      break;
    case PROP_STORE_BACKLOG_BYTES:
      self->store_backlog_bytes = g_value_get_uint64 (value);
      break;
    case PROP_KEEP_FINISHED:
      self->keep_finished = g_value_get_uint (value);
      /* from an idle, as always: set by a listener, freeing at once would drop
       * entries whose last event is still queued, and with them their last row */
      schedule_eviction (self);
      break;
    case PROP_KEEP_FINISHED_BYTES:
      self->keep_finished_bytes = g_value_get_uint64 (value);
      schedule_eviction (self);
      break;
    case PROP_FINISHED_CACHE_SIZE:
      em_finished_cache_set_max_size (self->gone, g_value_get_uint (value));
      break;
    case PROP_RETENTION_MAX_TASKS:
      self->retention_max_tasks = g_value_get_uint (value);
      break;
    case PROP_RETENTION_MAX_AGE:
      self->retention_max_age = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_engine_manager_finalize (GObject *object)
{
  EmEngineManager *self = EM_ENGINE_MANAGER (object);

  g_clear_handle_id (&self->process_source, g_source_remove);
  g_clear_handle_id (&self->timer_source, g_source_remove);
  g_clear_handle_id (&self->prune_source, g_source_remove);
  g_clear_handle_id (&self->unpin_source, g_source_remove);
  /* the last events reach the file before the writer thread stops */
  em_engine_manager_flush_unwritten (self);
  /* after the flush, which schedules it */
  g_clear_handle_id (&self->evict_source, g_source_remove);
  g_clear_pointer (&self->store, em_store_free);
  g_ptr_array_unref (self->unwritten);
  g_clear_pointer (&self->unwritten_arena, em_arena_free);
  g_ptr_array_unref (self->sync_waiters);
  em_event_ring_free (self->ring);
  g_queue_clear_full (&self->event_queue, (GDestroyNotify) em_event_unref);
  g_queue_clear (&self->cascade);
  g_queue_clear (&self->finished);
  g_sequence_free (self->timers);
  em_scheduler_free (self->scheduler);
  for (guint i = 0; i < EM_TASK_STATUS_N_STATUSES; i++)
    g_sequence_free (self->by_status[i]);
  g_sequence_free (self->all);
  g_hash_table_unref (self->entries);
  /* after the entries, which point at their rows: rows are left unflushed when
   * the store failed to restore */
  g_ptr_array_unref (self->dirty);
  em_finished_cache_free (self->gone);
  g_clear_pointer (&self->deleted, em_deleted_serials_free);
  g_clear_object (&self->registry);
  g_clear_object (&self->devices);
  g_free (self->data_dir);

  G_OBJECT_CLASS (em_engine_manager_parent_class)->finalize (object);
}

static void
em_engine_manager_class_init (EmEngineManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  static const char *task_signals[] = {
    [SIGNAL_TASK_SCHEDULED] = "task-scheduled",
    [SIGNAL_TASK_STARTED] = "task-started",
    [SIGNAL_TASK_COMPLETED] = "task-completed",
    [SIGNAL_TASK_FAILED] = "task-failed",
    [SIGNAL_TASK_CANCELLED] = "task-cancelled",
  };

  object_class->get_property = em_engine_manager_get_property;
  object_class->set_property = em_engine_manager_set_property;
  object_class->finalize = em_engine_manager_finalize;

  properties[PROP_PAUSED] =
    g_param_spec_boolean ("paused", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX_CONCURRENT] =
    g_param_spec_uint ("max-concurrent", NULL, NULL, 0, G_MAXUINT, EM_ENGINE_DEFAULT_MAX_CONCURRENT,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_KEEP_FINISHED] =
    g_param_spec_uint ("keep-finished", NULL, NULL, 0, G_MAXUINT, EM_ENGINE_DEFAULT_KEEP_FINISHED,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_KEEP_FINISHED_BYTES] =
    g_param_spec_uint64 ("keep-finished-bytes", NULL, NULL, 0, G_MAXUINT64,
                         EM_ENGINE_DEFAULT_KEEP_FINISHED_BYTES,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /* with a store, how many more finished tasks keep their final status in
   * memory, for depends_on; the store answers for older ones */
  properties[PROP_FINISHED_CACHE_SIZE] =
    g_param_spec_uint ("finished-cache-size", NULL, NULL, 1, G_MAXUINT, EM_ENGINE_FINISHED_CACHE_SIZE,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_RETENTION_MAX_TASKS] =
    g_param_spec_uint ("retention-max-tasks", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_RETENTION_MAX_AGE] =
    g_param_spec_double ("retention-max-age", NULL, NULL, 0, G_MAXDOUBLE, 0,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX_PENDING] =
    g_param_spec_uint ("max-pending", NULL, NULL, 0, G_MAXUINT, EM_ENGINE_DEFAULT_MAX_PENDING,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_HELD] =
    g_param_spec_string ("held", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* the store's EM_STORE_BACKLOG_BYTES, read when it opens: for tests that
   * need a backlog without writing 32 MiB; the service keeps the default */
  properties[PROP_STORE_BACKLOG_BYTES] =
    g_param_spec_uint64 ("store-backlog-bytes", NULL, NULL, 1, G_MAXUINT64, EM_STORE_BACKLOG_BYTES,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  for (guint i = 0; i < G_N_ELEMENTS (task_signals); i++)
    {
      if (task_signals[i] == NULL)
        continue;
      signals[i] = g_signal_new (task_signals[i], G_TYPE_FROM_CLASS (klass),
                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, EM_TYPE_TASK);
    }
  signals[SIGNAL_TASK_PROGRESS] = g_signal_new ("task-progress", G_TYPE_FROM_CLASS (klass),
                                                G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 2, EM_TYPE_TASK, G_TYPE_DOUBLE);
  signals[SIGNAL_TASK_RETRYING] = g_signal_new ("task-retrying", G_TYPE_FROM_CLASS (klass),
                                                G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 3, EM_TYPE_TASK, G_TYPE_UINT,
                                                G_TYPE_STRING);
  signals[SIGNAL_QUEUE_PAUSED] = g_signal_new ("queue-paused", G_TYPE_FROM_CLASS (klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                               G_TYPE_NONE, 0);
  signals[SIGNAL_QUEUE_RESUMED] = g_signal_new ("queue-resumed", G_TYPE_FROM_CLASS (klass),
                                                G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 0);
  signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                        G_TYPE_NONE, 1,
                                        EM_TYPE_EVENT | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* finished tasks removed from history (DELETE /tasks, retention), by id:
   * whatever a transport still shows of them goes too */
  signals[SIGNAL_TASKS_DELETED] = g_signal_new ("tasks-deleted", G_TYPE_FROM_CLASS (klass),
                                                G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 1, G_TYPE_STRV);
  signals[SIGNAL_EVENTS_COMMITTED] = g_signal_new ("events-committed", G_TYPE_FROM_CLASS (klass),
                                                   G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                   G_TYPE_NONE, 1, G_TYPE_UINT64);
}

static void
em_engine_manager_init (EmEngineManager *self)
{
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) task_entry_free);
  self->all = g_sequence_new (NULL);
  g_queue_init (&self->finished);
  self->gone = em_finished_cache_new (EM_ENGINE_FINISHED_CACHE_SIZE);
  self->ring = em_event_ring_new (EVENT_RING_SIZE, EVENT_RING_MAX_BYTES);
  self->unwritten = g_ptr_array_new_with_free_func ((GDestroyNotify) em_store_event_row_free);
  self->dirty = g_ptr_array_new_with_free_func ((GDestroyNotify) dirty_task_free);
  self->sync_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  self->keep_finished = EM_ENGINE_DEFAULT_KEEP_FINISHED;
  self->keep_finished_bytes = EM_ENGINE_DEFAULT_KEEP_FINISHED_BYTES;
  for (guint i = 0; i < EM_TASK_STATUS_N_STATUSES; i++)
    self->by_status[i] = g_sequence_new (NULL);
  self->scheduler = em_scheduler_new ();
  self->timers = g_sequence_new (NULL);
  self->max_concurrent = EM_ENGINE_DEFAULT_MAX_CONCURRENT;
  self->max_pending = EM_ENGINE_DEFAULT_MAX_PENDING;
  self->store_backlog_bytes = EM_STORE_BACKLOG_BYTES;
  g_queue_init (&self->event_queue);
  g_queue_init (&self->cascade);
  /* a log kept in memory only is a new one every run; a store replaces it
   * with the id kept in its file */
  set_event_log_id (self, ((guint64) g_random_int () << 32) | g_random_int ());
}

EmEngineManager *
em_engine_manager_new (EmActionRegistry *registry,
                       EmDeviceSet      *devices,
                       const char       *data_dir)
{
  EmEngineManager *self;

  g_return_val_if_fail (EM_IS_ACTION_REGISTRY (registry), NULL);

  self = g_object_new (EM_TYPE_ENGINE_MANAGER, NULL);
  self->registry = g_object_ref (registry);
  self->devices = devices != NULL ? (EmDeviceSet *) g_object_ref ((GObject *) devices) : NULL;
  self->data_dir = g_strdup (data_dir);
  return self;
}
