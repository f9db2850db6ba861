#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-counting-output-stream.h"

struct _EmCountingOutputStream
{
  GFilterOutputStream parent_instance;
  guint64 written;
};

static void pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (EmCountingOutputStream, em_counting_output_stream,
                               G_TYPE_FILTER_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      pollable_iface_init))

static GPollableOutputStream *
base_pollable (gpointer self)
{
  return G_POLLABLE_OUTPUT_STREAM (g_filter_output_stream_get_base_stream (G_FILTER_OUTPUT_STREAM (self)));
}

static gssize
counting_write (GOutputStream  *stream,
                const void     *buffer,
                gsize           count,
                GCancellable   *cancellable,
                GError        **error)
{
  EmCountingOutputStream *self = EM_COUNTING_OUTPUT_STREAM (stream);
  GOutputStream *base = g_filter_output_stream_get_base_stream (G_FILTER_OUTPUT_STREAM (stream));
  gssize n = g_output_stream_write (base, buffer, count, cancellable, error);

  if (n > 0)
    self->written += (guint64) n;
  return n;
}

static gboolean
counting_can_poll (GPollableOutputStream *stream)
{
  GOutputStream *base = g_filter_output_stream_get_base_stream (G_FILTER_OUTPUT_STREAM (stream));

  return G_IS_POLLABLE_OUTPUT_STREAM (base) &&
         g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (base));
}

static gboolean
counting_is_writable (GPollableOutputStream *stream)
{
  return g_pollable_output_stream_is_writable (base_pollable (stream));
}

static gssize
counting_write_nonblocking (GPollableOutputStream  *stream,
                            const void             *buffer,
                            gsize                   count,
                            GError                **error)
{
  EmCountingOutputStream *self = EM_COUNTING_OUTPUT_STREAM (stream);
  gssize n = g_pollable_output_stream_write_nonblocking (base_pollable (stream), buffer,
                                                         count, NULL, error);

  if (n > 0)
    self->written += (guint64) n;
  return n;
}

static GSource *
counting_create_source (GPollableOutputStream *stream,
                        GCancellable          *cancellable)
{
  g_autoptr(GSource) base_source = g_pollable_output_stream_create_source (base_pollable (stream), NULL);

  /* the callback must see this stream, not the base one */
  return g_pollable_source_new_full (stream, base_source, cancellable);
}

static void
pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = counting_can_poll;
  iface->is_writable = counting_is_writable;
  iface->write_nonblocking = counting_write_nonblocking;
  iface->create_source = counting_create_source;
}

static void
em_counting_output_stream_class_init (EmCountingOutputStreamClass *klass)
{
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  stream_class->write_fn = counting_write;
}

static void
em_counting_output_stream_init (EmCountingOutputStream *self)
{
}

GOutputStream *
em_counting_output_stream_new (GOutputStream *base)
{
  return g_object_new (EM_TYPE_COUNTING_OUTPUT_STREAM, "base-stream", base, NULL);
}

guint64
em_counting_output_stream_get_written (EmCountingOutputStream *self)
{
  g_return_val_if_fail (EM_IS_COUNTING_OUTPUT_STREAM (self), 0);
  return self->written;
}
