#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include "engine/em-scheduler.h"
#include "engine/em-uuid.h"

#define N_BUCKETS (EM_DEVICE_KIND_ALL + 1)
#define N_DEVICES 3

struct _EmSchedBatch
{
  gatomicrefcount ref_count;
  char           *id;
  gboolean        exclusive;
  EmDeviceKind    claims;
  guint           n_unfinished;
  GPtrArray      *items;           /* EmSchedItem not finished yet, unowned */
  gboolean        holding;
  guint           n_outside;       /* links from its items to unfinished tasks outside it */
};

/*
 * Ready items live in one queue per claim set, so choosing what starts looks at
 * no more than N_BUCKETS heads however many tasks wait. Items of an exclusive
 * batch that has not started yet queue under the batch's whole claim set; once
 * the batch holds its devices, its items move to `batch_ready`, because nothing
 * else can use those devices and nothing should wait behind them.
 */
struct _EmScheduler
{
  GSequence    *buckets[N_BUCKETS];
  EmDeviceKind  bucket_waiting[N_BUCKETS];
  GSequence    *batch_ready;
  EmDeviceKind  batch_ready_busy;      /* `busy` when batch_ready's waiting was set */
  GPtrArray    *fresh;                 /* items added since the last waiting update;
                                        * the manager updates after every pass */
  EmDeviceKind  busy;
  EmSchedBatch *reserved_by[N_DEVICES];
  guint64       generation;            /* grows with every change of the queues,
                                        * `busy` or the reservations */
};

static gint
compare_items (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const EmSchedItem *ia = a, *ib = b;

  if (ia->priority != ib->priority)
    return ia->priority > ib->priority ? -1 : 1;
  return ia->serial < ib->serial ? -1 : ia->serial > ib->serial;
}

EmScheduler *
em_scheduler_new (void)
{
  EmScheduler *self = g_new0 (EmScheduler, 1);

  for (guint i = 0; i < N_BUCKETS; i++)
    self->buckets[i] = g_sequence_new (NULL);
  self->batch_ready = g_sequence_new (NULL);
  self->fresh = g_ptr_array_new ();
  return self;
}

void
em_scheduler_free (EmScheduler *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < N_BUCKETS; i++)
    g_sequence_free (self->buckets[i]);
  g_sequence_free (self->batch_ready);
  g_ptr_array_unref (self->fresh);
  g_free (self);
}

EmSchedBatch *
em_sched_batch_new (gboolean exclusive, EmDeviceKind claims, guint n_tasks)
{
  EmSchedBatch *batch = g_new0 (EmSchedBatch, 1);

  g_atomic_ref_count_init (&batch->ref_count);
  batch->id = em_uuid_string_random ();
  batch->exclusive = exclusive;
  batch->claims = claims;
  batch->n_unfinished = n_tasks;
  batch->items = g_ptr_array_sized_new (n_tasks);
  return batch;
}

EmSchedBatch *
em_sched_batch_ref (EmSchedBatch *batch)
{
  g_atomic_ref_count_inc (&batch->ref_count);
  return batch;
}

void
em_sched_batch_unref (EmSchedBatch *batch)
{
  if (!g_atomic_ref_count_dec (&batch->ref_count))
    return;
  g_ptr_array_unref (batch->items);
  g_free (batch->id);
  g_free (batch);
}

const char *
em_sched_batch_get_id (EmSchedBatch *batch)
{
  return batch->id;
}

gboolean
em_sched_batch_is_exclusive (EmSchedBatch *batch)
{
  return batch->exclusive;
}

EmDeviceKind
em_sched_batch_get_claims (EmSchedBatch *batch)
{
  return batch->claims;
}

gboolean
em_sched_batch_is_holding (EmSchedBatch *batch)
{
  return batch->holding;
}

GPtrArray *
em_sched_batch_get_items (EmSchedBatch *batch)
{
  return batch->items;
}

void
em_sched_batch_wait_outside (EmSchedBatch *batch)
{
  batch->n_outside++;
}

gboolean
em_sched_batch_stop_waiting_outside (EmSchedBatch *batch)
{
  g_return_val_if_fail (batch->n_outside > 0, FALSE);

  return --batch->n_outside == 0;
}

gboolean
em_sched_batch_is_waiting_outside (EmSchedBatch *batch)
{
  return batch->n_outside > 0;
}

void
em_sched_item_set_batch (EmSchedItem *item, EmSchedBatch *batch)
{
  g_return_if_fail (item->batch == NULL);

  item->batch = em_sched_batch_ref (batch);
  item->batch_index = batch->items->len;
  g_ptr_array_add (batch->items, item);
}

/* by its index: a search per finished item made a large batch quadratic */
static void
remove_batch_item (EmSchedBatch *batch, EmSchedItem *item)
{
  guint index = item->batch_index;

  if (index >= batch->items->len || g_ptr_array_index (batch->items, index) != item)
    return;
  g_ptr_array_remove_index_fast (batch->items, index);
  if (index < batch->items->len)
    ((EmSchedItem *) g_ptr_array_index (batch->items, index))->batch_index = index;
}

void
em_sched_item_clear_batch (EmSchedItem *item)
{
  if (item->batch == NULL)
    return;
  remove_batch_item (item->batch, item);
  g_clear_pointer (&item->batch, em_sched_batch_unref);
}

static gboolean
in_holding_batch (EmSchedItem *item)
{
  return item->batch != NULL && item->batch->exclusive && item->batch->holding;
}

/* the claim set an item competes with: its batch's, until the batch holds them */
static EmDeviceKind
bucket_claims (EmSchedItem *item)
{
  if (item->batch != NULL && item->batch->exclusive && !item->batch->holding)
    return item->batch->claims;
  return item->claims;
}

static EmDeviceKind
reserved_mask (EmScheduler *self, EmSchedBatch *except)
{
  EmDeviceKind mask = 0;

  for (guint i = 0; i < N_DEVICES; i++)
    {
      if (self->reserved_by[i] != NULL && self->reserved_by[i] != except)
        mask |= 1 << i;
    }
  return mask;
}

void
em_scheduler_add_ready (EmScheduler *self, EmSchedItem *item)
{
  GSequence *queue;

  g_return_if_fail (item->ready_iter == NULL);

  queue = in_holding_batch (item) ? self->batch_ready : self->buckets[bucket_claims (item)];
  item->ready_iter = g_sequence_insert_sorted (queue, item, compare_items, NULL);
  self->generation++;
  if (!item->fresh)
    {
      item->fresh = TRUE;
      g_ptr_array_add (self->fresh, item);
    }
}

void
em_scheduler_remove_ready (EmScheduler *self, EmSchedItem *item)
{
  if (item->ready_iter == NULL)
    return;
  g_sequence_remove (item->ready_iter);
  item->ready_iter = NULL;
  self->generation++;
  /* left in `fresh`: the waiting update skips items that are no longer ready */
}

gboolean
em_scheduler_is_ready (EmSchedItem *item)
{
  return item->ready_iter != NULL;
}

/* an item that was ready and ended before the next update may be freed before
 * it: rare, so a search is cheap enough */
void
em_scheduler_forget (EmScheduler *self, EmSchedItem *item)
{
  em_scheduler_remove_ready (self, item);
  if (item->fresh)
    {
      g_ptr_array_remove_fast (self->fresh, item);
      item->fresh = FALSE;
    }
}

static void
hold (EmScheduler *self, EmSchedItem *item)
{
  em_scheduler_remove_ready (self, item);
  self->busy |= item->claims;
  self->generation++;
  item->holding = TRUE;
  item->waiting_for = 0;
}

/* the batch takes all its devices at once, and its waiting items leave the
 * shared queues for its own */
static void
reserve (EmScheduler *self, EmSchedBatch *batch)
{
  GSequence *queue = self->buckets[batch->claims];
  GSequenceIter *iter = g_sequence_get_begin_iter (queue);

  batch->holding = TRUE;
  self->generation++;
  for (guint i = 0; i < N_DEVICES; i++)
    {
      if (batch->claims & (1 << i))
        self->reserved_by[i] = batch;
    }

  while (!g_sequence_iter_is_end (iter))
    {
      EmSchedItem *item = g_sequence_get (iter);

      iter = g_sequence_iter_next (iter);
      if (item->batch == batch)
        {
          em_scheduler_remove_ready (self, item);
          em_scheduler_add_ready (self, item);
        }
    }
}

/* the first item of a holding batch whose devices are free */
static EmSchedItem *
find_in_batches (EmScheduler *self)
{
  GSequenceIter *iter = g_sequence_get_begin_iter (self->batch_ready);

  for (; !g_sequence_iter_is_end (iter); iter = g_sequence_iter_next (iter))
    {
      EmSchedItem *item = g_sequence_get (iter);

      if ((item->claims & self->busy) == 0)
        return item;
    }
  return NULL;
}

/*
 * Heads of the buckets are tried best first. A head that cannot start adds its
 * claim set to `blocked`, and no lower item may take any of those devices: so a
 * high-priority task is never starved by a stream of smaller ones, and devices
 * are taken all at once, so no two tasks each hold what the other needs.
 * Changes nothing: em_scheduler_take_next() takes what this finds.
 */
static EmSchedItem *
find_next (EmScheduler *self)
{
  EmDeviceKind blocked = 0;
  EmSchedItem *item = find_in_batches (self);

  if (item != NULL)
    return item;

  for (;;)
    {
      EmSchedItem *best = NULL;
      EmDeviceKind claims, unavailable;

      for (guint b = 0; b < N_BUCKETS; b++)
        {
          EmSchedItem *head;

          if ((b & blocked) != 0 || g_sequence_is_empty (self->buckets[b]))
            continue;
          head = g_sequence_get (g_sequence_get_begin_iter (self->buckets[b]));
          if (best == NULL || compare_items (head, best, NULL) < 0)
            best = head;
        }
      if (best == NULL)
        return NULL;

      claims = bucket_claims (best);
      unavailable = self->busy | reserved_mask (self, best->batch);
      if ((claims & unavailable) == 0)
        return best;

      /* an item with no claims is never unavailable, so this always grows */
      blocked |= claims;
    }
}

gboolean
em_scheduler_can_take_next (EmScheduler *self)
{
  return find_next (self) != NULL;
}

EmSchedItem *
em_scheduler_take_next (EmScheduler *self, EmSchedBatch **out_reserved)
{
  EmSchedItem *item = find_next (self);

  if (out_reserved != NULL)
    *out_reserved = NULL;
  if (item == NULL)
    return NULL;
  if (!in_holding_batch (item) && item->batch != NULL && item->batch->exclusive)
    {
      reserve (self, item->batch);
      if (out_reserved != NULL)
        *out_reserved = item->batch;
    }
  hold (self, item);
  return item;
}

void
em_scheduler_release (EmScheduler *self, EmSchedItem *item)
{
  if (!item->holding)
    return;
  item->holding = FALSE;
  self->busy &= ~item->claims;
  self->generation++;
}

void
em_scheduler_hold_batch (EmScheduler *self, EmSchedBatch *batch)
{
  g_return_if_fail (batch->exclusive && !batch->holding);

  reserve (self, batch);
}

void
em_scheduler_batch_task_done (EmScheduler *self, EmSchedItem *item)
{
  EmSchedBatch *batch = item->batch;

  g_return_if_fail (batch->n_unfinished > 0);

  remove_batch_item (batch, item);
  if (--batch->n_unfinished > 0 || !batch->holding)
    return;
  batch->holding = FALSE;
  self->generation++;
  for (guint i = 0; i < N_DEVICES; i++)
    {
      if (self->reserved_by[i] == batch)
        self->reserved_by[i] = NULL;
    }
}

/* an item whose answer changed, found during the walk */
static void
note_waiting (GPtrArray *changes, EmSchedItem *item, EmDeviceKind mask)
{
  if (item->waiting_for != mask)
    g_ptr_array_add (changes, item);
}

/* what the items of each bucket wait for: the devices of their claims that
 * are busy or reserved, and those a better ready task that cannot start
 * holds against them. The heads are visited best first, as
 * em_scheduler_take_next() does: one that cannot start keeps every lower
 * item from its devices, so a task held back only by it waits for them too */
static void
compute_waiting (EmScheduler *self, EmDeviceKind out[N_BUCKETS])
{
  EmDeviceKind unavailable = self->busy | reserved_mask (self, NULL);
  EmDeviceKind blocked = 0;
  gboolean visited[N_BUCKETS] = { FALSE, };

  for (guint b = 0; b < N_BUCKETS; b++)
    out[b] = b & unavailable;
  for (;;)
    {
      EmSchedItem *best = NULL;
      guint best_b = 0;

      for (guint b = 0; b < N_BUCKETS; b++)
        {
          EmSchedItem *head;

          if (visited[b] || g_sequence_is_empty (self->buckets[b]))
            continue;
          head = g_sequence_get (g_sequence_get_begin_iter (self->buckets[b]));
          if (best == NULL || compare_items (head, best, NULL) < 0)
            {
              best = head;
              best_b = b;
            }
        }
      if (best == NULL)
        return;
      visited[best_b] = TRUE;
      out[best_b] = best_b & (unavailable | blocked);
      if ((best_b & blocked) == 0 && (best_b & unavailable) != 0)
        blocked |= best_b;
    }
}

void
em_scheduler_update_waiting (EmScheduler *self, EmSchedWaitingFunc func, gpointer user_data)
{
  EmDeviceKind waiting[N_BUCKETS];
  g_autoptr(GPtrArray) changes = g_ptr_array_new ();
  guint64 computed;

  compute_waiting (self, waiting);
  computed = self->generation;
  for (guint b = 0; b < N_BUCKETS; b++)
    {
      EmDeviceKind mask = waiting[b];

      /* whole buckets are revisited only when their answer changes */
      if (mask != self->bucket_waiting[b])
        {
          GSequenceIter *iter = g_sequence_get_begin_iter (self->buckets[b]);

          self->bucket_waiting[b] = mask;
          for (; !g_sequence_iter_is_end (iter); iter = g_sequence_iter_next (iter))
            note_waiting (changes, g_sequence_get (iter), mask);
        }
    }

  /* a holding batch's items wait only for its own running tasks */
  if (self->busy != self->batch_ready_busy)
    {
      GSequenceIter *iter = g_sequence_get_begin_iter (self->batch_ready);

      self->batch_ready_busy = self->busy;
      for (; !g_sequence_iter_is_end (iter); iter = g_sequence_iter_next (iter))
        {
          EmSchedItem *item = g_sequence_get (iter);

          note_waiting (changes, item, item->claims & self->busy);
        }
    }

  for (guint i = 0; i < self->fresh->len; i++)
    {
      EmSchedItem *item = g_ptr_array_index (self->fresh, i);

      item->fresh = FALSE;
      if (item->ready_iter == NULL)
        continue;
      note_waiting (changes, item, in_holding_batch (item)
                                     ? item->claims & self->busy
                                     : self->bucket_waiting[bucket_claims (item)]);
    }
  g_ptr_array_set_size (self->fresh, 0);

  /* @func reaches listeners, who may cancel tasks and so take items out of
   * the queues: told only once the walk is over, and only while still ready.
   * Ending an exclusive batch frees its devices at once, and a cancelled
   * head no longer holds its devices against the rest, so each is told what
   * it waits for at its turn, not at the walk: the buckets' answers kept
   * from the walk differ then, and the next pass (which that end brings)
   * walks them again */
  for (guint i = 0; i < changes->len; i++)
    {
      EmSchedItem *item = g_ptr_array_index (changes, i);
      EmDeviceKind mask;

      if (item->ready_iter == NULL)
        continue;
      if (in_holding_batch (item))
        mask = item->claims & self->busy;
      else
        {
          /* again only if a listener changed something */
          if (computed != self->generation)
            {
              compute_waiting (self, waiting);
              computed = self->generation;
            }
          mask = waiting[bucket_claims (item)];
        }
      if (item->waiting_for == mask)
        continue;
      item->waiting_for = mask;
      func (item, mask, user_data);
    }
}
