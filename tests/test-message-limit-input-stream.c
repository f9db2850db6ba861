#include "config.h"

#include <string.h>
#include <gio/gio.h>

#include "rest/em-message-limit-input-stream.h"

#define LIMIT 4096
#define FIN 0x80

/* --- a base stream that hands out at most @step bytes per read, so frame
 * headers arrive cut anywhere --- */

#define TEST_TYPE_TRICKLE_STREAM (test_trickle_stream_get_type ())
G_DECLARE_FINAL_TYPE (TestTrickleStream, test_trickle_stream, TEST, TRICKLE_STREAM, GInputStream)

struct _TestTrickleStream
{
  GInputStream parent_instance;
  GBytes      *data;
  gsize        offset;
  gsize        step;
};

static void trickle_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestTrickleStream, test_trickle_stream, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      trickle_pollable_init))

static gssize
trickle_read (GInputStream  *stream,
              void          *buffer,
              gsize          count,
              GCancellable  *cancellable,
              GError       **error)
{
  TestTrickleStream *self = TEST_TRICKLE_STREAM (stream);
  gsize length;
  const guint8 *data = g_bytes_get_data (self->data, &length);
  gsize n = MIN (MIN (count, self->step), length - self->offset);

  memcpy (buffer, data + self->offset, n);
  self->offset += n;
  return (gssize) n;
}

static gboolean
trickle_is_readable (GPollableInputStream *stream)
{
  return TRUE;
}

static gssize
trickle_read_nonblocking (GPollableInputStream  *stream,
                          void                  *buffer,
                          gsize                  count,
                          GError               **error)
{
  return trickle_read (G_INPUT_STREAM (stream), buffer, count, NULL, error);
}

static void
trickle_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->is_readable = trickle_is_readable;
  iface->read_nonblocking = trickle_read_nonblocking;
}

static void
test_trickle_stream_finalize (GObject *object)
{
  g_bytes_unref (TEST_TRICKLE_STREAM (object)->data);
  G_OBJECT_CLASS (test_trickle_stream_parent_class)->finalize (object);
}

static void
test_trickle_stream_class_init (TestTrickleStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_trickle_stream_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = trickle_read;
}

static void
test_trickle_stream_init (TestTrickleStream *self)
{
}

static GInputStream *
trickle_new (GByteArray *data,
             gsize       step)
{
  TestTrickleStream *self = g_object_new (TEST_TYPE_TRICKLE_STREAM, NULL);

  self->data = g_bytes_new (data->data, data->len);
  self->step = step;
  return G_INPUT_STREAM (self);
}

/* --- client frames --- */

/* a masked frame whose payload is @length bytes counting up from @seed */
static void
add_frame (GByteArray *wire,
           guint8      first,
           guint64     length,
           guint8      seed)
{
  static const guint8 key[4] = { 0x12, 0x34, 0x56, 0x78 };
  guint8 header[10] = { first };
  gsize size = 2;

  if (length < 126)
    header[1] = 0x80 | (guint8) length;
  else if (length <= G_MAXUINT16)
    {
      header[1] = 0x80 | 126;
      header[2] = (guint8) (length >> 8);
      header[3] = (guint8) length;
      size = 4;
    }
  else
    {
      header[1] = 0x80 | 127;
      for (int i = 0; i < 8; i++)
        header[2 + i] = (guint8) (length >> (56 - 8 * i));
      size = 10;
    }
  g_byte_array_append (wire, header, size);
  g_byte_array_append (wire, key, sizeof key);
  for (guint64 i = 0; i < length; i++)
    {
      guint8 byte = (guint8) ((seed + i) ^ key[i % 4]);

      g_byte_array_append (wire, &byte, 1);
    }
}

typedef struct {
  guint   too_big;
  guint   pings;
  guint64 ping_length;
} Seen;

static void
too_big_cb (EmMessageLimitInputStream *stream,
            gpointer                   user_data)
{
  ((Seen *) user_data)->too_big++;
}

static void
ping_cb (EmMessageLimitInputStream *stream,
         guint64                    length,
         gpointer                   user_data)
{
  Seen *seen = user_data;

  seen->pings++;
  seen->ping_length = length;
}

/* everything the filter passes on from @wire, read @chunk bytes at a time */
static GByteArray *
read_through (GByteArray *wire,
              gsize       step,
              gsize       chunk,
              gsize       max_discarded,
              Seen       *seen)
{
  g_autoptr(GInputStream) base = trickle_new (wire, step);
  g_autoptr(GInputStream) stream = em_message_limit_input_stream_new (base, LIMIT, max_discarded);
  GByteArray *out = g_byte_array_new ();
  g_autofree guint8 *buffer = g_malloc (chunk);

  memset (seen, 0, sizeof *seen);
  g_signal_connect (stream, "too-big", G_CALLBACK (too_big_cb), seen);
  g_signal_connect (stream, "ping", G_CALLBACK (ping_cb), seen);
  g_assert_true (g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (stream)));
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream),
                                                           buffer, chunk, NULL, &error);

      /* a pause of the read budget; the trickle stream never blocks */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        continue;
      g_assert_no_error (error);
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        break;
      g_byte_array_append (out, buffer, (guint) n);
    }
  return out;
}

static const gsize steps[] = { 1, 2, 3, 7, 13, 1000, 65536 };
static const gsize chunks[] = { 1, 5, 1024 };

static void
assert_bytes_equal (GByteArray *a,
                    GByteArray *b)
{
  g_assert_cmpmem (a->data, a->len, b->data, b->len);
}

/* frames within the limit go through untouched, however they arrive */
static void
test_within_limit (void)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();

  add_frame (wire, FIN | 0x1, 5, 'a');
  /* a message of two fragments with a ping between them, right at the limit */
  add_frame (wire, 0x1, LIMIT - 96, 'b');
  add_frame (wire, FIN | 0x9, 125, 'p');
  add_frame (wire, FIN | 0x0, 96, 'c');
  /* the count starts again with each message */
  add_frame (wire, 0x2, 4000, 'd');
  add_frame (wire, FIN | 0x0, 96, 'e');
  add_frame (wire, FIN | 0x2, LIMIT, 'f');
  add_frame (wire, FIN | 0xA, 0, 0);
  add_frame (wire, FIN | 0x8, 2, 0x03);

  for (gsize s = 0; s < G_N_ELEMENTS (steps); s++)
    for (gsize c = 0; c < G_N_ELEMENTS (chunks); c++)
      {
        Seen seen;
        g_autoptr(GByteArray) out = read_through (wire, steps[s], chunks[c], 1024, &seen);

        assert_bytes_equal (out, wire);
        g_assert_cmpuint (seen.too_big, ==, 0);
        g_assert_cmpuint (seen.pings, ==, 1);
        g_assert_cmpuint (seen.ping_length, ==, 125);
      }
}

/* fragments whose sum is over the limit: the first goes through, then only
 * the close frame */
static void
test_fragmented_message (void)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GByteArray) expected = g_byte_array_new ();

  add_frame (wire, FIN | 0x9, 4, 'p');
  add_frame (wire, 0x1, 4000, 'a');
  g_byte_array_append (expected, wire->data, wire->len);
  for (int i = 0; i < 8; i++)
    add_frame (wire, 0x0, 4000, 'b');
  add_frame (wire, FIN | 0x9, 4, 'q');
  add_frame (wire, FIN | 0x0, 10, 'c');
  add_frame (wire, FIN | 0x8, 2, 0x03);
  add_frame (expected, FIN | 0x8, 2, 0x03);

  for (gsize s = 0; s < G_N_ELEMENTS (steps); s++)
    for (gsize c = 0; c < G_N_ELEMENTS (chunks); c++)
      {
        Seen seen;
        g_autoptr(GByteArray) out = read_through (wire, steps[s], chunks[c], 1024 * 1024, &seen);

        assert_bytes_equal (out, expected);
        g_assert_cmpuint (seen.too_big, ==, 1);
        /* the ping after the excess is dropped, so not answered */
        g_assert_cmpuint (seen.pings, ==, 1);
      }
}

/* one frame over the limit, announced in its header */
static void
test_oversized_frame (void)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GByteArray) expected = g_byte_array_new ();

  add_frame (wire, FIN | 0x1, 10, 'a');
  g_byte_array_append (expected, wire->data, wire->len);
  add_frame (wire, FIN | 0x1, LIMIT + 1, 'b');
  add_frame (wire, FIN | 0x1, 10, 'c');
  /* a close frame too large to be one is dropped like the rest */
  add_frame (wire, FIN | 0x8, 126, 0x03);
  add_frame (wire, FIN | 0x8, 2, 0x03);
  add_frame (expected, FIN | 0x8, 2, 0x03);

  for (gsize s = 0; s < G_N_ELEMENTS (steps); s++)
    {
      Seen seen;
      g_autoptr(GByteArray) out = read_through (wire, steps[s], 1024, 1024 * 1024, &seen);

      assert_bytes_equal (out, expected);
      g_assert_cmpuint (seen.too_big, ==, 1);
    }
}

/* a frame announcing exabytes: what follows is dropped only up to a point,
 * then the stream ends though the peer has more; skipping goes through the
 * frames like reading */
static void
test_discard_limit (void)
{
  static const guint8 huge[14] = { FIN | 0x2, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GInputStream) base = NULL;
  g_autoptr(GInputStream) stream = NULL;
  gsize passed = 0;
  gsize head;
  gssize n;

  add_frame (wire, FIN | 0x1, 3000, 'a');
  head = wire->len;
  g_byte_array_append (wire, huge, sizeof huge);
  g_byte_array_set_size (wire, wire->len + 64 * 1024);

  base = trickle_new (wire, 100);
  stream = em_message_limit_input_stream_new (base, LIMIT, 8192);
  while ((n = g_input_stream_skip (stream, 512, NULL, NULL)) > 0)
    passed += (gsize) n;
  g_assert_cmpint (n, ==, 0);
  g_assert_cmpuint (passed, ==, head);
  /* it stopped reading soon after the limit */
  g_assert_cmpuint (TEST_TRICKLE_STREAM (base)->offset, <=, head + sizeof huge + 8192 + 100);
  g_assert_true (g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (stream)));
}

/* a peer that always has more: non-blocking reads still say they would block
 * now and then, so the main loop turns; nothing is lost across the pauses */
static void
test_read_budget (void)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GInputStream) base = NULL;
  g_autoptr(GInputStream) stream = NULL;
  guint8 buffer[1024];
  gsize since_block = 0;
  gsize most = 0;
  guint blocks = 0;

  for (int i = 0; i < 400; i++)
    add_frame (wire, FIN | 0x1, 1000, (guint8) i);
  base = trickle_new (wire, 65536);
  stream = em_message_limit_input_stream_new (base, LIMIT, 1024);
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream),
                                                           buffer, sizeof buffer, NULL, &error);

      if (n < 0)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          blocks++;
          most = MAX (most, since_block);
          since_block = 0;
          continue;
        }
      if (n == 0)
        break;
      since_block += (gsize) n;
      g_byte_array_append (out, buffer, (guint) n);
    }
  assert_bytes_equal (out, wire);
  g_assert_cmpuint (blocks, >=, wire->len / (128 * 1024));
  g_assert_cmpuint (most, <=, 128 * 1024);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rest/message-limit/within-limit", test_within_limit);
  g_test_add_func ("/rest/message-limit/fragmented-message", test_fragmented_message);
  g_test_add_func ("/rest/message-limit/oversized-frame", test_oversized_frame);
  g_test_add_func ("/rest/message-limit/discard-limit", test_discard_limit);
  g_test_add_func ("/rest/message-limit/read-budget", test_read_budget);

  return g_test_run ();
}
