#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>

#include "rest/em-coalescing-output-stream.h"

/* a burst this large goes out at once rather than waiting for the end of the
 * iteration: it bounds what a burst holds per client */
#define HIGH_WATER (64 * 1024)
/* a drained buffer keeps at most this much memory */
#define KEEP_ALLOCATED (16 * 1024)
/* how long closing waits for a peer to take what is still buffered */
#define CLOSE_LINGER_MS 2000

struct _EmCoalescingOutputStream
{
  GFilterOutputStream parent_instance;

  /* what the base stream has not taken yet is data[head, length) */
  guint8       *data;
  gsize         head;
  gsize         length;
  gsize         allocated;
  gsize         max_buffered;

  guint64       accepted;
  guint64       written;
  /* where each write call not yet fully written ends (offsets like @accepted),
   * and where the first of them starts: a frame is never cut in two */
  GArray       *ends;
  guint         ends_head;
  guint64       frame_start;

  GMainContext *context;
  GSource      *flush_source;
  GSource      *writable_source;
  /* the base stream failed: later writes fail the same way */
  GError       *error;
  /* what is written from now on is dropped */
  gboolean      sealed;

  GTask        *flush_task;
  GSource      *flush_cancel_source;
  GTask        *close_task;
  GSource      *linger_source;
};

static void pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (EmCoalescingOutputStream, em_coalescing_output_stream,
                               G_TYPE_FILTER_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      pollable_iface_init))

static GOutputStream *
base_stream (EmCoalescingOutputStream *self)
{
  return g_filter_output_stream_get_base_stream (G_FILTER_OUTPUT_STREAM (self));
}

static gsize
buffered (EmCoalescingOutputStream *self)
{
  return self->length - self->head;
}

static void
destroy_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static GSource *
attach_source (EmCoalescingOutputStream *self,
               GSource                  *source,
               const char               *name,
               GSourceFunc               callback)
{
  g_source_set_static_name (source, name);
  g_source_set_callback (source, callback, self, NULL);
  g_source_attach (source, self->context);
  return source;
}

/* --- the buffer --- */

static void
append (EmCoalescingOutputStream *self,
        const void               *buffer,
        gsize                     count)
{
  gsize pending = buffered (self);

  if (self->length + count > self->allocated)
    {
      if (self->head > 0)
        {
          memmove (self->data, self->data + self->head, pending);
          self->head = 0;
          self->length = pending;
        }
      if (pending + count > self->allocated)
        {
          self->allocated = MAX (pending + count, MAX (2 * self->allocated, 4096));
          self->data = g_realloc (self->data, self->allocated);
        }
    }
  memcpy (self->data + self->length, buffer, count);
  self->length += count;
  self->accepted += count;

  if (self->ends_head > 1024 && self->ends_head * 2 > self->ends->len)
    {
      g_array_remove_range (self->ends, 0, self->ends_head);
      self->ends_head = 0;
    }
  g_array_append_val (self->ends, self->accepted);
}

static void
stop_writable_wait (EmCoalescingOutputStream *self)
{
  destroy_source (&self->writable_source);
}

static void
complete_flush_task (EmCoalescingOutputStream *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->flush_task);

  if (task == NULL)
    return;
  destroy_source (&self->flush_cancel_source);
  if (self->error != NULL)
    g_task_return_error (task, g_error_copy (self->error));
  else
    g_task_return_boolean (task, TRUE);
}

static void finish_close (EmCoalescingOutputStream *self);

/* nothing left to write, by success or failure */
static void
drained (EmCoalescingOutputStream *self)
{
  self->head = 0;
  self->length = 0;
  self->frame_start = self->accepted;
  if (self->allocated > KEEP_ALLOCATED)
    {
      g_clear_pointer (&self->data, g_free);
      self->allocated = 0;
    }
  if (self->ends->len > KEEP_ALLOCATED / sizeof (guint64))
    {
      g_array_unref (self->ends);
      self->ends = g_array_new (FALSE, FALSE, sizeof (guint64));
    }
  g_array_set_size (self->ends, 0);
  self->ends_head = 0;
  stop_writable_wait (self);
  complete_flush_task (self);
  if (self->close_task != NULL)
    finish_close (self);
}

static void
advance (EmCoalescingOutputStream *self,
         gsize                     count)
{
  self->head += count;
  self->written += count;
  while (self->ends_head < self->ends->len &&
         g_array_index (self->ends, guint64, self->ends_head) <= self->written)
    self->frame_start = g_array_index (self->ends, guint64, self->ends_head++);
  if (buffered (self) == 0)
    drained (self);
}

static void
fail (EmCoalescingOutputStream *self,
      GError                   *error)
{
  g_debug ("coalescing stream failed with %" G_GSIZE_FORMAT " bytes unsent: %s",
           buffered (self), error->message);
  g_clear_error (&self->error);
  self->error = error;
  /* the bytes were accepted: they count as gone, not as written */
  self->accepted = self->written;
  drained (self);
}

static void wait_writable (EmCoalescingOutputStream *self);

/* one write of all that is buffered; a socket that takes only part of it is
 * full, so the rest waits until it can take more */
static void
flush_buffer (EmCoalescingOutputStream *self)
{
  g_autoptr(GError) error = NULL;
  gsize pending = buffered (self);
  gssize n;

  if (pending == 0 || self->error != NULL)
    return;

  n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (base_stream (self)),
                                                  self->data + self->head,
                                                  MIN (pending, (gsize) G_MAXSSIZE), NULL, &error);
  if (n < 0)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        wait_writable (self);
      else
        fail (self, g_steal_pointer (&error));
      return;
    }
  advance (self, n);
  if (buffered (self) > 0)
    wait_writable (self);
}

static gboolean
writable_cb (GObject  *base,
             gpointer  user_data)
{
  EmCoalescingOutputStream *self = user_data;

  /* returning REMOVE destroys it */
  g_clear_pointer (&self->writable_source, g_source_unref);
  flush_buffer (self);
  return G_SOURCE_REMOVE;
}

static void
wait_writable (EmCoalescingOutputStream *self)
{
  GSource *source;

  if (self->writable_source != NULL)
    return;
  source = g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (base_stream (self)), NULL);
  self->writable_source = attach_source (self, source, "EmCoalescingOutputStream writable",
                                         G_SOURCE_FUNC (writable_cb));
}

/* --- flushing once per main-loop iteration ---
 *
 * an idle source at default priority, attached when the first write of an
 * iteration arrives: attaching from the thread that runs the context costs no
 * syscall, where g_source_set_ready_time() on a permanent source would wake the
 * context through its eventfd each time; and a source attached last runs after
 * the requests already waiting, which the fan-out would otherwise delay */

static gboolean
flush_cb (gpointer user_data)
{
  EmCoalescingOutputStream *self = user_data;

  /* returning REMOVE destroys it */
  g_clear_pointer (&self->flush_source, g_source_unref);
  /* a full socket says when it can take more */
  if (self->writable_source == NULL)
    flush_buffer (self);
  return G_SOURCE_REMOVE;
}

static void
arm_flush (EmCoalescingOutputStream *self)
{
  GSource *source;

  if (self->flush_source != NULL || self->writable_source != NULL)
    return;
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  self->flush_source = attach_source (self, source, "EmCoalescingOutputStream flush", flush_cb);
}

/* --- GPollableOutputStream --- */

static gboolean
is_open (EmCoalescingOutputStream *self)
{
  return !g_output_stream_is_closed (G_OUTPUT_STREAM (self)) &&
         !g_output_stream_is_closing (G_OUTPUT_STREAM (self));
}

static gboolean
coalescing_can_poll (GPollableOutputStream *stream)
{
  GOutputStream *base = base_stream (EM_COALESCING_OUTPUT_STREAM (stream));

  return G_IS_POLLABLE_OUTPUT_STREAM (base) &&
         g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (base));
}

/* TRUE unless the buffer is full: a writer that keeps its own queue would only
 * hide the backlog; a closed or failed stream is "writable" so that the writer
 * learns why at once */
static gboolean
coalescing_is_writable (GPollableOutputStream *stream)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (stream);

  return !is_open (self) || self->error != NULL || buffered (self) < self->max_buffered;
}

static gssize
coalescing_write_nonblocking (GPollableOutputStream  *stream,
                              const void             *buffer,
                              gsize                   count,
                              GError                **error)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (stream);

  if (!is_open (self))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is already closed");
      return -1;
    }
  if (self->error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->error));
      return -1;
    }
  if (count == 0 || self->sealed)
    return count;

  /* a full buffer may still fit in the socket */
  if (buffered (self) >= self->max_buffered && self->writable_source == NULL)
    {
      flush_buffer (self);
      if (self->error != NULL)
        {
          g_propagate_error (error, g_error_copy (self->error));
          return -1;
        }
    }
  /* the last write may pass the limit: refusing exactly when is_writable()
   * says so keeps a writer from spinning, and no frame is too large to send */
  if (buffered (self) >= self->max_buffered)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                           "The peer does not read fast enough");
      return -1;
    }

  append (self, buffer, count);
  if (buffered (self) >= HIGH_WATER && self->writable_source == NULL)
    flush_buffer (self);
  else
    arm_flush (self);
  return count;
}

typedef struct
{
  GSource                   source;
  EmCoalescingOutputStream *stream;
} WritableSource;

static gboolean
writable_source_prepare (GSource *source,
                         gint    *timeout)
{
  WritableSource *writable = (WritableSource *) source;

  *timeout = -1;
  return coalescing_is_writable (G_POLLABLE_OUTPUT_STREAM (writable->stream));
}

static gboolean
writable_source_check (GSource *source)
{
  gint timeout;

  return writable_source_prepare (source, &timeout);
}

static gboolean
writable_source_dispatch (GSource     *source,
                          GSourceFunc  callback,
                          gpointer     user_data)
{
  /* only a child: the pollable source around it calls back */
  return G_SOURCE_CONTINUE;
}

static void
writable_source_finalize (GSource *source)
{
  g_clear_object (&((WritableSource *) source)->stream);
}

static GSourceFuncs writable_source_funcs = {
  .prepare = writable_source_prepare,
  .check = writable_source_check,
  .dispatch = writable_source_dispatch,
  .finalize = writable_source_finalize,
};

/* ready when the buffer has room again: the stream drains it on its own */
static GSource *
coalescing_create_source (GPollableOutputStream *stream,
                          GCancellable          *cancellable)
{
  g_autoptr(GSource) room = g_source_new (&writable_source_funcs, sizeof (WritableSource));
  GSource *source = g_pollable_source_new_full (stream, NULL, cancellable);

  ((WritableSource *) room)->stream = g_object_ref (EM_COALESCING_OUTPUT_STREAM (stream));
  g_source_set_static_name (room, "EmCoalescingOutputStream room");
  /* not through g_pollable_source_new_full(), which would give it a dummy
   * callback that only sources with a closure_callback may have */
  g_source_add_child_source (source, room);
  return source;
}

static void
pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = coalescing_can_poll;
  iface->is_writable = coalescing_is_writable;
  iface->write_nonblocking = coalescing_write_nonblocking;
  iface->create_source = coalescing_create_source;
}

/* --- GOutputStream --- */

/* a blocking caller asked to block: the whole buffer goes out */
static gboolean
drain_blocking (EmCoalescingOutputStream  *self,
                GCancellable              *cancellable,
                GError                   **error)
{
  gsize n = 0;
  gboolean ok;

  if (self->error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->error));
      return FALSE;
    }
  if (buffered (self) == 0)
    return TRUE;
  ok = g_output_stream_write_all (base_stream (self), self->data + self->head, buffered (self),
                                  &n, cancellable, error);
  advance (self, n);
  return ok;
}

static gssize
coalescing_write (GOutputStream  *stream,
                  const void     *buffer,
                  gsize           count,
                  GCancellable   *cancellable,
                  GError        **error)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (stream);

  /* a full buffer makes a blocking writer wait rather than fail */
  if (!self->sealed && buffered (self) >= self->max_buffered &&
      !drain_blocking (self, cancellable, error))
    return -1;
  return coalescing_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (stream), buffer, count, error);
}

static gboolean
coalescing_flush (GOutputStream  *stream,
                  GCancellable   *cancellable,
                  GError        **error)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (stream);

  /* closing sends what it can without waiting for the peer */
  if (g_output_stream_is_closing (stream))
    return TRUE;
  return drain_blocking (self, cancellable, error) &&
         g_output_stream_flush (base_stream (self), cancellable, error);
}

static gboolean
flush_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  EmCoalescingOutputStream *self = user_data;
  g_autoptr(GTask) task = g_steal_pointer (&self->flush_task);

  /* returning REMOVE destroys it */
  g_clear_pointer (&self->flush_cancel_source, g_source_unref);
  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

static void
coalescing_flush_async (GOutputStream       *stream,
                        int                  io_priority,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (stream);
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, coalescing_flush_async);
  g_task_set_priority (task, io_priority);

  /* closing sends what it can without waiting for the peer */
  if (g_output_stream_is_closing (stream))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  flush_buffer (self);
  if (self->error != NULL)
    {
      g_task_return_error (task, g_error_copy (self->error));
      return;
    }
  if (buffered (self) == 0)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  /* the stream's pending flag allows one at a time */
  self->flush_task = g_steal_pointer (&task);
  if (cancellable != NULL)
    self->flush_cancel_source = attach_source (self, g_cancellable_source_new (cancellable),
                                               "EmCoalescingOutputStream flush cancelled",
                                               G_SOURCE_FUNC (flush_cancelled_cb));
}

static gboolean
coalescing_flush_finish (GOutputStream  *stream,
                         GAsyncResult   *result,
                         GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* nothing more will be written: the sources go, and so does whatever the
 * peer did not take */
static void
shut_down (EmCoalescingOutputStream *self)
{
  destroy_source (&self->flush_source);
  destroy_source (&self->linger_source);
  stop_writable_wait (self);
  if (buffered (self) > 0)
    g_debug ("coalescing stream closed with %" G_GSIZE_FORMAT " bytes unsent", buffered (self));
  self->accepted = self->written;
  self->head = 0;
  self->length = 0;
  g_clear_pointer (&self->data, g_free);
  self->allocated = 0;
  g_array_set_size (self->ends, 0);
  self->ends_head = 0;
  self->frame_start = self->written;
  complete_flush_task (self);
}

static gboolean
coalescing_close (GOutputStream  *stream,
                  GCancellable   *cancellable,
                  GError        **error)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (stream);

  /* a peer that does not read must not block the main loop: what the socket
   * takes now goes out, the rest is dropped */
  flush_buffer (self);
  shut_down (self);
  return G_OUTPUT_STREAM_CLASS (em_coalescing_output_stream_parent_class)->close_fn (stream, cancellable, error);
}

static void
base_closed_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
finish_close (EmCoalescingOutputStream *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->close_task);

  shut_down (self);
  if (self->error != NULL)
    g_task_return_error (task, g_error_copy (self->error));
  else if (g_filter_output_stream_get_close_base_stream (G_FILTER_OUTPUT_STREAM (self)))
    {
      int priority = g_task_get_priority (task);
      GCancellable *cancellable = g_task_get_cancellable (task);

      g_output_stream_close_async (base_stream (self), priority, cancellable, base_closed_cb,
                                   g_steal_pointer (&task));
    }
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
linger_cb (gpointer user_data)
{
  EmCoalescingOutputStream *self = user_data;

  g_debug ("the peer took too long to read what was left; closing");
  /* returning REMOVE destroys it */
  g_clear_pointer (&self->linger_source, g_source_unref);
  finish_close (self);
  return G_SOURCE_REMOVE;
}

static void
coalescing_close_async (GOutputStream       *stream,
                        int                  io_priority,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (stream);
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, coalescing_close_async);
  g_task_set_priority (task, io_priority);
  self->close_task = g_steal_pointer (&task);

  /* a close frame just written should still reach the peer, which is given a
   * little time to take it; drained() finishes the close */
  flush_buffer (self);
  if (self->close_task == NULL)
    return;
  if (buffered (self) == 0 || self->error != NULL)
    {
      finish_close (self);
      return;
    }
  self->linger_source = attach_source (self, g_timeout_source_new (CLOSE_LINGER_MS),
                                       "EmCoalescingOutputStream linger", linger_cb);
}

static gboolean
coalescing_close_finish (GOutputStream  *stream,
                         GAsyncResult   *result,
                         GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
em_coalescing_output_stream_finalize (GObject *object)
{
  EmCoalescingOutputStream *self = EM_COALESCING_OUTPUT_STREAM (object);

  shut_down (self);
  g_clear_pointer (&self->ends, g_array_unref);
  g_clear_error (&self->error);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (em_coalescing_output_stream_parent_class)->finalize (object);
}

static void
em_coalescing_output_stream_class_init (EmCoalescingOutputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  object_class->finalize = em_coalescing_output_stream_finalize;

  stream_class->write_fn = coalescing_write;
  stream_class->flush = coalescing_flush;
  stream_class->flush_async = coalescing_flush_async;
  stream_class->flush_finish = coalescing_flush_finish;
  stream_class->close_fn = coalescing_close;
  stream_class->close_async = coalescing_close_async;
  stream_class->close_finish = coalescing_close_finish;
}

static void
em_coalescing_output_stream_init (EmCoalescingOutputStream *self)
{
  self->ends = g_array_new (FALSE, FALSE, sizeof (guint64));
  self->context = g_main_context_ref_thread_default ();
}

GOutputStream *
em_coalescing_output_stream_new (GOutputStream *base,
                                 gsize          max_buffered)
{
  EmCoalescingOutputStream *self;

  g_return_val_if_fail (G_IS_POLLABLE_OUTPUT_STREAM (base), NULL);
  g_return_val_if_fail (max_buffered > 0, NULL);

  self = g_object_new (EM_TYPE_COALESCING_OUTPUT_STREAM, "base-stream", base, NULL);
  self->max_buffered = max_buffered;
  return G_OUTPUT_STREAM (self);
}

guint64
em_coalescing_output_stream_get_written (EmCoalescingOutputStream *self)
{
  g_return_val_if_fail (EM_IS_COALESCING_OUTPUT_STREAM (self), 0);
  return self->written;
}

gsize
em_coalescing_output_stream_get_buffered (EmCoalescingOutputStream *self)
{
  g_return_val_if_fail (EM_IS_COALESCING_OUTPUT_STREAM (self), 0);
  return buffered (self);
}

void
em_coalescing_output_stream_flush_nonblocking (EmCoalescingOutputStream *self)
{
  g_return_if_fail (EM_IS_COALESCING_OUTPUT_STREAM (self));
  if (is_open (self))
    flush_buffer (self);
}

gsize
em_coalescing_output_stream_discard_unsent (EmCoalescingOutputStream *self)
{
  guint64 keep;
  gsize dropped;

  g_return_val_if_fail (EM_IS_COALESCING_OUTPUT_STREAM (self), 0);

  if (buffered (self) == 0)
    return 0;
  keep = self->written > self->frame_start ?
    g_array_index (self->ends, guint64, self->ends_head) : self->written;
  dropped = self->accepted - keep;
  self->length -= dropped;
  self->accepted = keep;
  g_array_set_size (self->ends, self->ends_head + (keep > self->written ? 1 : 0));
  if (buffered (self) == 0)
    drained (self);
  g_debug ("dropped %" G_GSIZE_FORMAT " unsent bytes", dropped);
  return dropped;
}

void
em_coalescing_output_stream_seal (EmCoalescingOutputStream *self)
{
  g_return_if_fail (EM_IS_COALESCING_OUTPUT_STREAM (self));

  self->sealed = TRUE;
}
