#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

/*
 * The part of the engine that decides what may start: ready tasks ordered by
 * priority (higher first) then submission, the devices held by running tasks,
 * and the devices reserved by exclusive batches. It never touches tasks; the
 * manager embeds an EmSchedItem in each of its entries.
 */

typedef struct _EmScheduler EmScheduler;
typedef struct _EmSchedBatch EmSchedBatch;

typedef struct {
  gint           priority;
  guint64        serial;
  EmDeviceKind   claims;
  EmSchedBatch  *batch;       /* (nullable) (owned): one reference per item */

  /* scheduler-owned */
  GSequenceIter *ready_iter;
  EmDeviceKind   waiting_for;
  gboolean       holding;     /* its devices are marked busy */
  gboolean       fresh;       /* its waiting_for is due at the next update */
  guint          batch_index; /* its place in its batch's unfinished items */
} EmSchedItem;

typedef void (*EmSchedWaitingFunc) (EmSchedItem  *item,
                                    EmDeviceKind  waiting_for,
                                    gpointer      user_data);

#define EM_DEVICE_KIND_ALL (EM_DEVICE_KIND_CAMERA | EM_DEVICE_KIND_STAGE | EM_DEVICE_KIND_FOCUS)

EmScheduler  *em_scheduler_new            (void);
void          em_scheduler_free           (EmScheduler   *self);

/* @claims: the union of the claims of the batch's tasks */
EmSchedBatch *em_sched_batch_new          (gboolean       exclusive,
                                           EmDeviceKind   claims,
                                           guint          n_tasks);
EmSchedBatch *em_sched_batch_ref          (EmSchedBatch  *batch);
void          em_sched_batch_unref        (EmSchedBatch  *batch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmSchedBatch, em_sched_batch_unref)
const char   *em_sched_batch_get_id       (EmSchedBatch  *batch);
gboolean      em_sched_batch_is_exclusive (EmSchedBatch  *batch);
EmDeviceKind  em_sched_batch_get_claims   (EmSchedBatch  *batch);
/* an exclusive batch holds its devices from its first start to its end */
gboolean      em_sched_batch_is_holding   (EmSchedBatch  *batch);
/* (transfer none): the EmSchedItem of its tasks not finished yet */
GPtrArray    *em_sched_batch_get_items    (EmSchedBatch  *batch);
/* an item of an exclusive batch waits on a task outside it: until none does,
 * the manager keeps the batch's items from the ready set, because a batch
 * holding its devices would keep such a task, and so itself, waiting */
void          em_sched_batch_wait_outside (EmSchedBatch  *batch);
/* %TRUE when that was the last such wait */
gboolean      em_sched_batch_stop_waiting_outside (EmSchedBatch *batch);
gboolean      em_sched_batch_is_waiting_outside   (EmSchedBatch *batch);
/* @item joins @batch, taking a reference on it */
void          em_sched_item_set_batch     (EmSchedItem   *item,
                                           EmSchedBatch  *batch);
void          em_sched_item_clear_batch   (EmSchedItem   *item);

void          em_scheduler_add_ready      (EmScheduler   *self,
                                           EmSchedItem   *item);
void          em_scheduler_remove_ready   (EmScheduler   *self,
                                           EmSchedItem   *item);
gboolean      em_scheduler_is_ready       (EmSchedItem   *item);
/* @item is about to be freed: the scheduler keeps no pointer to it */
void          em_scheduler_forget         (EmScheduler   *self,
                                           EmSchedItem   *item);

/* the best ready item whose devices are all free, now removed from the ready set
 * with its devices marked busy; %NULL when nothing may start. @out_reserved:
 * (optional): the exclusive batch that took its devices with this start */
EmSchedItem  *em_scheduler_take_next      (EmScheduler   *self,
                                           EmSchedBatch **out_reserved);
/* whether em_scheduler_take_next() would return an item now; takes none and
 * changes nothing. As cheap as a take: a look at each queue's head */
gboolean      em_scheduler_can_take_next  (EmScheduler   *self);
/* a batch that held its devices before a restart takes them again, before
 * anything starts */
void          em_scheduler_hold_batch     (EmScheduler   *self,
                                           EmSchedBatch  *batch);
/* its action returned: the devices are free again */
void          em_scheduler_release        (EmScheduler   *self,
                                           EmSchedItem   *item);
/* one task of the batch reached a final state; when all have, the batch's
 * reservation ends */
void          em_scheduler_batch_task_done (EmScheduler  *self,
                                            EmSchedItem  *item);

/* tells, for ready items whose answer changed, which devices they wait for */
void          em_scheduler_update_waiting (EmScheduler        *self,
                                           EmSchedWaitingFunc  func,
                                           gpointer            user_data);

G_END_DECLS
