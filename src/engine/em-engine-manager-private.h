#pragma once

#include "engine/em-action.h"
#include "engine/em-deleted-serials.h"
#include "engine/em-engine-manager.h"
#include "engine/em-event-ring.h"
#include "engine/em-finished-cache.h"
#include "engine/em-rate-limit.h"
#include "engine/em-scheduler.h"
#include "engine/em-store.h"

G_BEGIN_DECLS

/*
 * What em-engine-manager.c (tasks, scheduling, running, the store's writes)
 * shares with em-engine-history.c (history queries, deletion, retention and
 * resumable events).
 */

/*
 * A pending task is in exactly one of three places: waiting for dependencies
 * (waiting_on not empty), waiting for its time (in `timers`), or ready (in the
 * scheduler). Running tasks hold their devices until their action returns, even
 * when they were cancelled or timed out in the meantime.
 */
typedef struct _DirtyTask DirtyTask;

typedef struct
{
  EmSchedItem      item;         /* first: the scheduler hands items back */
  EmEngineManager *manager;      /* unowned */
  EmTask          *task;
  EmAction        *action;
  GSequenceIter   *all_iter;
  GSequenceIter   *status_iter;
  GSequenceIter   *timer_iter;
  GList           *finished_link;  /* in `finished` */
  gsize            finished_size;  /* counted in `finished_bytes` while there */
  guint64          scheduled_seq;
  gint64           due_us;       /* real time */
  GPtrArray       *waiting_on;   /* TaskEntry not completed yet */
  GPtrArray       *waiting_links; /* (nullable): for each of those, this entry's link
                                   * in its `dependents`, so that it leaves at once */
  GQueue          *dependents;   /* TaskEntry that wait for this one, oldest first */
  GCancellable    *cancellable;
  EmActionContext *context;
  gboolean         in_flight;
  gboolean         timed_out;
  gboolean         interrupted;  /* the service stopped under it: its outcome is ignored */
  guint            timeout_source;
  EmRateLimit      progress;     /* task_progress events */
  DirtyTask       *dirty;        /* its row waiting in `dirty`, or NULL */
} TaskEntry;

struct _EmEngineManager
{
  GObject           parent_instance;

  EmActionRegistry *registry;
  EmDeviceSet      *devices;
  char             *data_dir;

  GHashTable       *entries;        /* id → TaskEntry, owns the entries */
  GSequence        *all;            /* TaskEntry by serial */
  GQueue            finished;       /* finished TaskEntry in memory, oldest first */
  guint64           finished_bytes; /* the sum of their finished_size */
  EmFinishedCache  *gone;           /* final status of the newest finished tasks no longer in
                                     * memory; the store holds them all */
  GSequence        *by_status[EM_TASK_STATUS_N_STATUSES]; /* TaskEntry by serial */
  EmScheduler      *scheduler;
  GSequence        *timers;         /* delayed TaskEntry by due time */
  guint             timer_source;
  guint             process_source;
  guint             n_in_flight;
  guint             max_concurrent;
  guint             max_pending;    /* 0: no limit */
  guint             reserved_pending; /* items of a batch being made, not enqueued yet */
  gboolean          paused;
  const char       *held;           /* (nullable): what keeps ready tasks from starting */
  guint64           store_backlog_bytes;
  guint64           next_serial;

  guint64           last_seq;
  char              event_log_id[17]; /* 16 hex digits; seqs mean something only within it */
  GQueue            event_queue;    /* EmEvent waiting to be emitted */
  gboolean          emitting;
  GQueue            cascade;        /* TaskEntry whose dependents need resolving */
  gboolean          cascading;
  gboolean          shutting_down;

  /* history */
  EmEventRing      *ring;
  EmStore          *store;
  EmDeletedSerials *deleted;        /* without a store: the latest tasks deleted, for
                                     * cursors; NULL until one is */
  GPtrArray        *unwritten;      /* EmStoreEventRow not handed to the store yet */
  EmArena          *unwritten_arena; /* (nullable) theirs, and the next flush's task rows */
  gsize             unwritten_bytes; /* of their frames */
  GPtrArray        *dirty;          /* DirtyTask whose row is not handed over yet */
  guint             flush_source;
  guint             evict_source;
  guint             unpin_source;
  gint              evict_priority;
  guint             prune_source;
  gboolean          pruning;
  GQueue            forgetting;     /* deletions memory is still letting go of */
  guint             keep_finished;
  guint64           keep_finished_bytes;
  guint             retention_max_tasks;
  gdouble           retention_max_age;
  guint64           oldest_stored_seq; /* 0: the stored log is empty */
  guint64           committed_seq;
  GPtrArray        *sync_waiters;   /* GTask for the commit after the one in flight */
  gboolean          sync_in_flight;
  guint             store_requests; /* queries, lookups, deletions, prunings and event
                                     * reads the store has not answered yet */
};

/* hands everything emitted so far to the store, as one ordered write */
void em_engine_manager_flush_unwritten (EmEngineManager *self);
/* drops a finished entry from memory; @remember keeps its final status so
 * dependencies on it still resolve */
void em_engine_manager_forget_entry    (EmEngineManager *self,
                                        TaskEntry       *entry,
                                        gboolean         remember);
/* emits tasks-deleted for @ids, if any */
void em_engine_manager_emit_tasks_deleted (EmEngineManager     *self,
                                           const char * const  *ids);
/* applies the retention policy now, unless a pruning is already running */
void em_engine_manager_prune_now       (EmEngineManager *self);
/* lets go of what deletions still hold, at once, and answers them */
void em_engine_manager_finish_forgetting (EmEngineManager *self);

G_END_DECLS
