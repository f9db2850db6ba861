#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>

#include "rest/em-message-limit-input-stream.h"

/* RFC 6455 §5.2: two bytes, a 64-bit extended length, the masking key */
#define MAX_HEADER (2 + 8 + 4)
/* what one read takes from the base stream: clients send little */
#define READ_SIZE 1024

#define OPCODE_CONTINUATION 0x0
#define OPCODE_CONTROL      0x8
#define OPCODE_CLOSE        0x8
#define OPCODE_PING         0x9
#define MAX_CONTROL_PAYLOAD 125

/* what non-blocking reads pass on before one says it would block: libsoup
 * reads until the socket is empty, which a client that keeps sending never
 * lets happen, and the main loop would not turn meanwhile */
#define READ_BUDGET (64 * 1024)

struct _EmMessageLimitInputStream
{
  GFilterInputStream parent_instance;

  gsize     max_message;
  gsize     max_discarded;

  /* the header being read, then what is left of its frame's payload */
  guint8    header[MAX_HEADER];
  gsize     header_length;
  guint64   payload_left;
  gboolean  passing;
  /* the payload of the data message under way */
  guint64   message_size;

  /* a frame was over the limit: since then only close frames go through */
  gboolean  over;
  guint64   discarded;
  /* the base stream ended, or enough was discarded */
  gboolean  ended;

  /* read from the base stream and to be passed on: ready[ready_head, ready_length) */
  guint8    ready[READ_SIZE + MAX_HEADER];
  gsize     ready_head;
  gsize     ready_length;
  /* passed on by non-blocking reads since the last that would block */
  gsize     budget_used;
};

enum {
  SIGNAL_TOO_BIG,
  SIGNAL_PING,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void pollable_iface_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (EmMessageLimitInputStream, em_message_limit_input_stream,
                               G_TYPE_FILTER_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      pollable_iface_init))

static GInputStream *
base_stream (EmMessageLimitInputStream *self)
{
  return g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (self));
}

static gboolean
has_ready (EmMessageLimitInputStream *self)
{
  return self->ready_head < self->ready_length;
}

/* --- following the frames --- */

/* the size of a header of which the first two bytes are in */
static gsize
header_size (const guint8 *header)
{
  guint8 length = header[1] & 0x7f;
  gsize size = 2 + ((header[1] & 0x80) != 0 ? 4 : 0);

  if (length == 126)
    size += 2;
  else if (length == 127)
    size += 8;
  return size;
}

static guint64
payload_length (const guint8 *header)
{
  guint8 length = header[1] & 0x7f;
  gsize n = length == 126 ? 2 : 8;
  guint64 value = 0;

  if (length < 126)
    return length;
  for (gsize i = 0; i < n; i++)
    value = (value << 8) | header[2 + i];
  return value;
}

static void
pass (EmMessageLimitInputStream *self,
      const guint8              *data,
      gsize                      count)
{
  g_assert (self->ready_length + count <= sizeof self->ready);
  memcpy (self->ready + self->ready_length, data, count);
  self->ready_length += count;
}

/* a whole header: whether its frame goes through */
static void
header_done (EmMessageLimitInputStream *self)
{
  guint8 opcode = self->header[0] & 0x0f;
  gboolean control = (opcode & OPCODE_CONTROL) != 0;
  gboolean fin = (self->header[0] & 0x80) != 0;
  guint64 length = payload_length (self->header);
  gsize size = self->header_length;
  /* the message's payload with this frame's (a control frame stands alone) */
  guint64 total = length;

  self->header_length = 0;
  self->payload_left = length;

  if (!control && opcode == OPCODE_CONTINUATION && length <= self->max_message)
    total += self->message_size;

  if (self->over)
    self->passing = opcode == OPCODE_CLOSE && length <= MAX_CONTROL_PAYLOAD;
  else if (total > self->max_message)
    {
      g_debug ("a WebSocket frame of %" G_GUINT64_FORMAT " bytes takes its message past the "
               "limit of %" G_GSIZE_FORMAT, length, self->max_message);
      self->over = TRUE;
      self->passing = FALSE;
      g_signal_emit (self, signals[SIGNAL_TOO_BIG], 0);
    }
  else
    {
      self->passing = TRUE;
      if (!control)
        self->message_size = fin ? 0 : total;
    }

  if (self->passing)
    pass (self, self->header, size);
  else
    self->discarded += size;
  if (self->passing && !self->over && opcode == OPCODE_PING)
    g_signal_emit (self, signals[SIGNAL_PING], 0, length);
}

static void
feed (EmMessageLimitInputStream *self,
      const guint8              *data,
      gsize                      count)
{
  while (count > 0)
    {
      if (self->payload_left > 0)
        {
          gsize take = (gsize) MIN ((guint64) count, self->payload_left);

          if (self->passing)
            pass (self, data, take);
          else
            self->discarded += take;
          self->payload_left -= take;
          data += take;
          count -= take;
          continue;
        }

      self->header[self->header_length++] = *data++;
      count--;
      if (self->header_length >= 2 && self->header_length == header_size (self->header))
        header_done (self);
    }
}

/* --- reading --- */

/* one read of the base stream, fed through */
static gboolean
fill (EmMessageLimitInputStream  *self,
      gboolean                    blocking,
      GCancellable               *cancellable,
      GError                    **error)
{
  guint8 buffer[READ_SIZE];
  gssize n;

  if (blocking)
    n = g_input_stream_read (base_stream (self), buffer, sizeof buffer, cancellable, error);
  else
    n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (base_stream (self)),
                                                  buffer, sizeof buffer, cancellable, error);
  if (n < 0)
    return FALSE;
  if (n == 0)
    {
      self->ended = TRUE;
      return TRUE;
    }

  self->ready_head = 0;
  self->ready_length = 0;
  feed (self, buffer, (gsize) n);
  if (self->over && self->discarded > self->max_discarded)
    {
      g_debug ("a WebSocket client sent %" G_GUINT64_FORMAT " bytes past its limit; "
               "ending its stream", self->discarded);
      self->ended = TRUE;
    }
  return TRUE;
}

static gssize
read_ready (EmMessageLimitInputStream  *self,
            void                       *buffer,
            gsize                       count,
            gboolean                    blocking,
            GCancellable               *cancellable,
            GError                    **error)
{
  gsize n;

  if (count == 0)
    return 0;
  /* a read that brought nothing to pass on (a header still incomplete, or
   * bytes dropped) reads again: the base stream says when it would block */
  while (!has_ready (self))
    {
      if (self->ended)
        return 0;
      if (!fill (self, blocking, cancellable, error))
        return -1;
    }
  n = MIN (count, self->ready_length - self->ready_head);
  memcpy (buffer, self->ready + self->ready_head, n);
  self->ready_head += n;
  return (gssize) n;
}

static gssize
limit_read (GInputStream  *stream,
            void          *buffer,
            gsize          count,
            GCancellable  *cancellable,
            GError       **error)
{
  return read_ready (EM_MESSAGE_LIMIT_INPUT_STREAM (stream), buffer, count, TRUE,
                     cancellable, error);
}

/* skipping reads too: every byte must go through the frame headers */
static gssize
limit_skip (GInputStream  *stream,
            gsize          count,
            GCancellable  *cancellable,
            GError       **error)
{
  guint8 buffer[READ_SIZE];

  return read_ready (EM_MESSAGE_LIMIT_INPUT_STREAM (stream), buffer, MIN (count, sizeof buffer),
                     TRUE, cancellable, error);
}

/* --- GPollableInputStream --- */

static gboolean
limit_can_poll (GPollableInputStream *stream)
{
  GInputStream *base = base_stream (EM_MESSAGE_LIMIT_INPUT_STREAM (stream));

  return G_IS_POLLABLE_INPUT_STREAM (base) &&
         g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (base));
}

static gboolean
limit_is_readable (GPollableInputStream *stream)
{
  EmMessageLimitInputStream *self = EM_MESSAGE_LIMIT_INPUT_STREAM (stream);

  return has_ready (self) || self->ended ||
         g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (base_stream (self)));
}

static gssize
limit_read_nonblocking (GPollableInputStream  *stream,
                        void                  *buffer,
                        gsize                  count,
                        GError               **error)
{
  EmMessageLimitInputStream *self = EM_MESSAGE_LIMIT_INPUT_STREAM (stream);
  g_autoptr(GError) local_error = NULL;
  gssize n;

  /* the caller's source fires again on the next iteration, after the others */
  if (self->budget_used >= READ_BUDGET)
    {
      self->budget_used = 0;
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                           "read budget used up for this iteration");
      return -1;
    }
  n = read_ready (self, buffer, count, FALSE, NULL, &local_error);
  if (n > 0)
    self->budget_used += (gsize) n;
  else if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    self->budget_used = 0;
  if (local_error != NULL)
    g_propagate_error (error, g_steal_pointer (&local_error));
  return n;
}

static GSource *
limit_create_source (GPollableInputStream *stream,
                     GCancellable         *cancellable)
{
  EmMessageLimitInputStream *self = EM_MESSAGE_LIMIT_INPUT_STREAM (stream);
  g_autoptr(GSource) child = NULL;

  /* what is read already does not wait for the socket */
  if (has_ready (self) || self->ended)
    child = g_timeout_source_new (0);
  else
    child = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (base_stream (self)), NULL);
  return g_pollable_source_new_full (stream, child, cancellable);
}

static void
pollable_iface_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = limit_can_poll;
  iface->is_readable = limit_is_readable;
  iface->read_nonblocking = limit_read_nonblocking;
  iface->create_source = limit_create_source;
}

static void
em_message_limit_input_stream_class_init (EmMessageLimitInputStreamClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  stream_class->read_fn = limit_read;
  stream_class->skip = limit_skip;

  /* a frame takes its message over the limit: nothing after it goes through
   * but close frames */
  signals[SIGNAL_TOO_BIG] = g_signal_new ("too-big", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 0);
  /* a ping goes through, with its payload length */
  signals[SIGNAL_PING] = g_signal_new ("ping", G_TYPE_FROM_CLASS (klass),
                                       G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 1, G_TYPE_UINT64);
}

static void
em_message_limit_input_stream_init (EmMessageLimitInputStream *self)
{
}

GInputStream *
em_message_limit_input_stream_new (GInputStream *base,
                                   gsize         max_message,
                                   gsize         max_discarded)
{
  EmMessageLimitInputStream *self;

  g_return_val_if_fail (G_IS_INPUT_STREAM (base), NULL);

  self = g_object_new (EM_TYPE_MESSAGE_LIMIT_INPUT_STREAM, "base-stream", base, NULL);
  self->max_message = max_message;
  self->max_discarded = max_discarded;
  return G_INPUT_STREAM (self);
}
