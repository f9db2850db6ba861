#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include "engine/em-durable-feed.h"

struct _EmDurableFeed
{
  EmEngineManager          *manager;
  const EmDurableFeedFuncs *funcs;
  gpointer                  user_data;
  guint64                   max_held_bytes;
  GQueue                    held;        /* EmEvent, oldest first */
  guint64                   held_bytes;
  gulong                    event_id;
  gulong                    committed_id;
  GCancellable             *cancellable; /* the sync in flight, if any */
  guint64                   sync_from;   /* the committed seq when it was asked */
};

static gboolean
is_durable (EmDurableFeed *self, EmEvent *event)
{
  return em_event_get_seq (event) <= em_engine_manager_get_committed_event_seq (self->manager);
}

static void
drop_held (EmDurableFeed *self)
{
  g_queue_clear_full (&self->held, (GDestroyNotify) em_event_unref);
  self->held_bytes = 0;
}

/* passes on what waited, up to @seq */
static void
release (EmDurableFeed *self, guint64 seq)
{
  EmEvent *event;

  while ((event = g_queue_peek_head (&self->held)) != NULL && em_event_get_seq (event) <= seq)
    {
      g_queue_pop_head (&self->held);
      self->held_bytes -= g_bytes_get_size (em_event_get_json_bytes (event));
      self->funcs->deliver (event, self->user_data);
      em_event_unref (event);
    }
}

static void request_sync (EmDurableFeed *self);

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  EmDurableFeed *self;

  /* cancelled only when the feed is freed */
  if (!em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = user_data;
  g_clear_object (&self->cancellable);
  /* what was held is durable now and went on from committed_cb. A store that
   * has failed answers every sync with its error, though its journal may
   * still take the events (the committed seq moves on): then ask again. If
   * nothing moved on, what is held is not recorded and may never be, and a
   * restart would give its seqs to other events: the followers are told to
   * come back later rather than shown it */
  if (error != NULL && self->held.length > 0 &&
      em_engine_manager_get_committed_event_seq (self->manager) <= self->sync_from)
    {
      g_debug ("events are not recorded: %s", error->message);
      drop_held (self);
      self->funcs->overflow (self->user_data);
      return;
    }
  request_sync (self);
}

/* one sync at a time; events that come meanwhile wait for the next */
static void
request_sync (EmDurableFeed *self)
{
  if (self->cancellable != NULL || self->held.length == 0)
    return;
  self->cancellable = g_cancellable_new ();
  self->sync_from = em_engine_manager_get_committed_event_seq (self->manager);
  em_engine_manager_sync_async (self->manager, self->cancellable, synced_cb, self);
}

static void
event_cb (EmEngineManager *manager, EmEvent *event, EmDurableFeed *self)
{
  guint64 size;

  if (!self->funcs->wanted (self->user_data))
    {
      drop_held (self);
      return;
    }
  if (self->held.length == 0 && is_durable (self, event))
    {
      self->funcs->deliver (event, self->user_data);
      return;
    }
  size = g_bytes_get_size (em_event_get_json_bytes (event));
  if (self->held_bytes + size > self->max_held_bytes)
    {
      drop_held (self);
      self->funcs->overflow (self->user_data);
      return;
    }
  g_queue_push_tail (&self->held, em_event_ref (event));
  self->held_bytes += size;
  request_sync (self);
}

static void
committed_cb (EmEngineManager *manager, guint64 seq, EmDurableFeed *self)
{
  release (self, seq);
}

EmDurableFeed *
em_durable_feed_new (EmEngineManager          *manager,
                     guint64                   max_held_bytes,
                     const EmDurableFeedFuncs *funcs,
                     gpointer                  user_data)
{
  EmDurableFeed *self = g_new0 (EmDurableFeed, 1);

  self->manager = g_object_ref (manager);
  self->funcs = funcs;
  self->user_data = user_data;
  self->max_held_bytes = max_held_bytes;
  g_queue_init (&self->held);
  self->event_id = g_signal_connect (manager, "event", G_CALLBACK (event_cb), self);
  self->committed_id = g_signal_connect (manager, "events-committed", G_CALLBACK (committed_cb), self);
  return self;
}

void
em_durable_feed_set_max_held_bytes (EmDurableFeed *self, guint64 max_held_bytes)
{
  self->max_held_bytes = max_held_bytes;
}

void
em_durable_feed_free (EmDurableFeed *self)
{
  if (self == NULL)
    return;
  g_clear_signal_handler (&self->event_id, self->manager);
  g_clear_signal_handler (&self->committed_id, self->manager);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  drop_held (self);
  g_object_unref (self->manager);
  g_free (self);
}
