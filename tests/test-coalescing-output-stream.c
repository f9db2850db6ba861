#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <gio/gio.h>

#include "rest/em-coalescing-output-stream.h"
#include "em-test-util.h"

#define TIMEOUT_MS 10000
/* a frame: a 4-byte big-endian payload length, then the payload, whose bytes
 * count up from the frame's number, so a cut or a gap shows */
#define FRAME_PAYLOAD 1000
#define CLOSE_MARK 0xFFFF

/* a socket pair: the stream writes into one end, the test reads the other */
typedef struct {
  GSocket           *local;
  GSocket           *peer;
  GSocketConnection *connection;
  GOutputStream     *stream;
  GByteArray        *received;
} Pair;

static void
pair_open (Pair  *pair,
           int    type,
           gsize  max_buffered,
           int    send_buffer)
{
  g_autoptr(GError) error = NULL;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, type | SOCK_CLOEXEC, 0, fds), ==, 0);
  pair->local = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  pair->peer = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  g_socket_set_blocking (pair->peer, FALSE);
  if (send_buffer > 0)
    g_assert_true (g_socket_set_option (pair->local, SOL_SOCKET, SO_SNDBUF, send_buffer, NULL));
  pair->connection = g_socket_connection_factory_create_connection (pair->local);
  pair->stream = em_coalescing_output_stream_new (g_io_stream_get_output_stream (G_IO_STREAM (pair->connection)),
                                                  max_buffered);
  pair->received = g_byte_array_new ();
}

static void
pair_close (Pair *pair)
{
  g_clear_object (&pair->stream);
  g_clear_object (&pair->connection);
  g_clear_object (&pair->local);
  g_clear_object (&pair->peer);
  g_clear_pointer (&pair->received, g_byte_array_unref);
}

static EmCoalescingOutputStream *
coalescing (Pair *pair)
{
  return EM_COALESCING_OUTPUT_STREAM (pair->stream);
}

/* what the peer can read now */
static void
pair_read (Pair *pair)
{
  guint8 chunk[65536];
  gssize n;

  while ((n = g_socket_receive (pair->peer, (char *) chunk, sizeof chunk, NULL, NULL)) > 0)
    g_byte_array_append (pair->received, chunk, n);
}

static gssize
write_frame (Pair   *pair,
             guint   number,
             guint   length,
             GError **error)
{
  g_autofree guint8 *frame = g_malloc (4 + length);

  frame[0] = number >> 8;
  frame[1] = number;
  frame[2] = length >> 8;
  frame[3] = length;
  for (guint i = 0; i < length; i++)
    frame[4 + i] = (guint8) (number + i);
  return g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (pair->stream),
                                                     frame, 4 + length, NULL, error);
}

/* checks the received bytes are whole frames numbered from 0; returns how
 * many, and whether the last was the close mark */
static guint
check_frames (GByteArray *bytes,
              gboolean   *closed)
{
  gsize at = 0;
  guint n = 0;

  *closed = FALSE;
  while (at < bytes->len)
    {
      guint number, length;

      g_assert_false (*closed);
      g_assert_cmpuint (bytes->len - at, >=, 4);
      number = bytes->data[at] << 8 | bytes->data[at + 1];
      length = bytes->data[at + 2] << 8 | bytes->data[at + 3];
      if (number == CLOSE_MARK)
        {
          *closed = TRUE;
        }
      else
        {
          g_assert_cmpuint (number, ==, n);
          n++;
        }
      g_assert_cmpuint (bytes->len - at - 4, >=, length);
      for (guint i = 0; i < length; i++)
        g_assert_cmpuint (bytes->data[at + 4 + i], ==, (guint8) (number + i));
      at += 4 + length;
    }
  return n;
}

/* fills the socket until it takes no more, then buffers @extra frames */
static guint
fill (Pair *pair,
      guint extra)
{
  guint64 before;
  guint n = 0;

  do
    {
      before = em_coalescing_output_stream_get_written (coalescing (pair));
      for (guint i = 0; i < 8; i++)
        g_assert_cmpint (write_frame (pair, n++, FRAME_PAYLOAD, NULL), ==, 4 + FRAME_PAYLOAD);
      em_coalescing_output_stream_flush_nonblocking (coalescing (pair));
    }
  while (em_coalescing_output_stream_get_written (coalescing (pair)) > before);
  for (guint i = 0; i < extra; i++)
    g_assert_cmpint (write_frame (pair, n++, FRAME_PAYLOAD, NULL), ==, 4 + FRAME_PAYLOAD);
  return n;
}

static void
test_one_write_per_iteration (void)
{
  Pair pair = { 0 };
  g_autoptr(GString) expected = g_string_new (NULL);
  guint8 record[65536];
  gssize n;

  /* each send() of a SOCK_SEQPACKET socket is one record for the reader */
  pair_open (&pair, SOCK_SEQPACKET, 1024 * 1024, 0);

  for (guint round = 0; round < 2; round++)
    {
      g_string_truncate (expected, 0);
      for (guint i = 0; i < 100; i++)
        {
          g_autofree char *text = g_strdup_printf ("frame %u.%u;", round, i);

          g_assert_cmpint (g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (pair.stream),
                                                                       text, strlen (text), NULL, NULL),
                           ==, strlen (text));
          g_string_append (expected, text);
        }
      g_assert_cmpuint (em_coalescing_output_stream_get_buffered (coalescing (&pair)), ==, expected->len);
      g_assert_cmpint (g_socket_receive (pair.peer, (char *) record, sizeof record, NULL, NULL), <, 0);

      EM_TEST_WAIT_UNTIL (em_coalescing_output_stream_get_buffered (coalescing (&pair)) == 0, TIMEOUT_MS);
      n = g_socket_receive (pair.peer, (char *) record, sizeof record, NULL, NULL);
      g_assert_cmpint (n, ==, expected->len);
      g_assert_cmpmem (record, n, expected->str, expected->len);
      /* and nothing after it: it was one write */
      g_assert_cmpint (g_socket_receive (pair.peer, (char *) record, sizeof record, NULL, NULL), <, 0);
    }
  g_assert_cmpuint (em_coalescing_output_stream_get_written (coalescing (&pair)), ==, 2 * expected->len);
  pair_close (&pair);
}

static void
ready_cb (GObject  *stream,
          gpointer  user_data)
{
  *(gboolean *) user_data = TRUE;
}

static void
test_slow_peer (void)
{
  Pair pair = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSource) source = NULL;
  gboolean ready = FALSE;
  gboolean closed;
  guint n = 0;

  pair_open (&pair, SOCK_STREAM, 32 * 1024, 4096);

  /* a peer that does not read fills the socket, then the buffer */
  while (write_frame (&pair, n, FRAME_PAYLOAD, &error) > 0)
    {
      g_assert_cmpuint (++n, <, 10000);
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  g_assert_false (g_pollable_output_stream_is_writable (G_POLLABLE_OUTPUT_STREAM (pair.stream)));
  g_assert_cmpuint (em_coalescing_output_stream_get_buffered (coalescing (&pair)), >=, 32 * 1024);

  /* once it reads, the stream drains and says it has room */
  source = g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (pair.stream), NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (ready_cb), &ready, NULL);
  g_source_attach (source, NULL);
  g_main_context_iteration (NULL, FALSE);
  g_assert_false (ready);
  EM_TEST_WAIT_UNTIL ((pair_read (&pair), ready), TIMEOUT_MS);
  g_source_destroy (source);

  EM_TEST_WAIT_UNTIL ((pair_read (&pair),
                       em_coalescing_output_stream_get_buffered (coalescing (&pair)) == 0), TIMEOUT_MS);
  pair_read (&pair);
  g_assert_cmpuint (pair.received->len, ==, em_coalescing_output_stream_get_written (coalescing (&pair)));
  g_assert_cmpuint (check_frames (pair.received, &closed), ==, n);
  pair_close (&pair);
}

static void
test_discard_unsent (void)
{
  Pair pair = { 0 };
  gboolean closed;
  guint64 written;
  gsize dropped;
  guint n;

  pair_open (&pair, SOCK_STREAM, 16 * 1024 * 1024, 4096);
  n = fill (&pair, 20);
  written = em_coalescing_output_stream_get_written (coalescing (&pair));

  /* whole frames go; one the socket took part of stays, or the peer would
   * read garbage */
  dropped = em_coalescing_output_stream_discard_unsent (coalescing (&pair));
  g_assert_cmpuint (dropped, >=, 20 * (4 + FRAME_PAYLOAD));
  g_assert_cmpuint (dropped % (4 + FRAME_PAYLOAD), ==, 0);
  g_assert_cmpuint (em_coalescing_output_stream_get_buffered (coalescing (&pair)), <, 4 + FRAME_PAYLOAD);
  g_assert_cmpuint (em_coalescing_output_stream_discard_unsent (coalescing (&pair)), ==, 0);

  /* what is written next follows what is left; once sealed, what comes after
   * is taken and dropped */
  g_assert_cmpint (write_frame (&pair, CLOSE_MARK, 10, NULL), ==, 14);
  em_coalescing_output_stream_seal (coalescing (&pair));
  g_assert_cmpint (write_frame (&pair, n, 10, NULL), ==, 14);
  EM_TEST_WAIT_UNTIL ((pair_read (&pair),
                       em_coalescing_output_stream_get_buffered (coalescing (&pair)) == 0), TIMEOUT_MS);
  pair_read (&pair);
  g_assert_cmpuint (check_frames (pair.received, &closed), ==,
                    n - dropped / (4 + FRAME_PAYLOAD));
  g_assert_true (closed);
  g_assert_cmpuint (em_coalescing_output_stream_get_written (coalescing (&pair)), >, written);
  pair_close (&pair);
}

static void
closed_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GError **error = user_data;

  g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, error);
  g_object_set_data (source, "closed", GINT_TO_POINTER (1));
}

static gboolean
is_closed (GOutputStream *stream)
{
  return g_object_get_data (G_OBJECT (stream), "closed") != NULL;
}

static void
test_close_sends_what_is_left (void)
{
  Pair pair = { 0 };
  g_autoptr(GError) error = NULL;
  gboolean closed;
  guint n;

  /* a peer that reads gets everything, the last frame included */
  pair_open (&pair, SOCK_STREAM, 16 * 1024 * 1024, 4096);
  n = fill (&pair, 20);
  g_assert_cmpint (write_frame (&pair, CLOSE_MARK, 10, NULL), ==, 14);
  g_output_stream_close_async (pair.stream, G_PRIORITY_DEFAULT, NULL, closed_cb, &error);
  EM_TEST_WAIT_UNTIL ((pair_read (&pair), is_closed (pair.stream)), TIMEOUT_MS);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_is_closed (g_io_stream_get_output_stream (G_IO_STREAM (pair.connection))));
  pair_read (&pair);
  g_assert_cmpuint (check_frames (pair.received, &closed), ==, n);
  g_assert_true (closed);
  pair_close (&pair);
}

static void
test_close_does_not_wait_for_ever (void)
{
  Pair pair = { 0 };
  g_autoptr(GError) error = NULL;
  gint64 start;

  /* a peer that does not read: closing gives up rather than hang */
  pair_open (&pair, SOCK_STREAM, 16 * 1024 * 1024, 4096);
  fill (&pair, 20);
  start = g_get_monotonic_time ();
  g_output_stream_close_async (pair.stream, G_PRIORITY_DEFAULT, NULL, closed_cb, &error);
  EM_TEST_WAIT_UNTIL (is_closed (pair.stream), TIMEOUT_MS);
  g_test_message ("closed after %" G_GINT64_FORMAT " ms", (g_get_monotonic_time () - start) / 1000);
  g_assert_no_error (error);
  g_assert_cmpuint (em_coalescing_output_stream_get_buffered (coalescing (&pair)), ==, 0);
  pair_close (&pair);

  /* nor does closing synchronously block */
  pair_open (&pair, SOCK_STREAM, 16 * 1024 * 1024, 4096);
  fill (&pair, 20);
  start = g_get_monotonic_time ();
  g_assert_true (g_output_stream_close (pair.stream, NULL, NULL));
  g_assert_cmpint (g_get_monotonic_time () - start, <, TIMEOUT_MS * 1000);
  g_assert_cmpuint (em_coalescing_output_stream_get_buffered (coalescing (&pair)), ==, 0);
  pair_close (&pair);
}

static void
flushed_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_flush_finish (G_OUTPUT_STREAM (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

static void
test_flush_async (void)
{
  Pair pair = { 0 };
  gboolean flushed = FALSE;
  gboolean closed;
  guint n;

  pair_open (&pair, SOCK_STREAM, 16 * 1024 * 1024, 4096);
  n = fill (&pair, 20);
  g_output_stream_flush_async (pair.stream, G_PRIORITY_DEFAULT, NULL, flushed_cb, &flushed);
  g_main_context_iteration (NULL, FALSE);
  g_assert_false (flushed);
  EM_TEST_WAIT_UNTIL ((pair_read (&pair), flushed), TIMEOUT_MS);
  g_assert_cmpuint (em_coalescing_output_stream_get_buffered (coalescing (&pair)), ==, 0);
  pair_read (&pair);
  g_assert_cmpuint (check_frames (pair.received, &closed), ==, n);
  pair_close (&pair);
}

static void
test_peer_gone (void)
{
  Pair pair = { 0 };
  g_autoptr(GError) error = NULL;

  pair_open (&pair, SOCK_STREAM, 1024 * 1024, 0);
  g_socket_close (pair.peer, NULL);
  g_assert_cmpint (write_frame (&pair, 0, 10, NULL), ==, 14);
  EM_TEST_WAIT_UNTIL (em_coalescing_output_stream_get_buffered (coalescing (&pair)) == 0, TIMEOUT_MS);

  /* the writer learns of it at its next write */
  g_assert_cmpint (write_frame (&pair, 1, 10, &error), <, 0);
  g_assert_nonnull (error);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK));
  g_assert_cmpuint (em_coalescing_output_stream_get_written (coalescing (&pair)), ==, 0);
  pair_close (&pair);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rest/coalescing-stream/one-write-per-iteration", test_one_write_per_iteration);
  g_test_add_func ("/rest/coalescing-stream/slow-peer", test_slow_peer);
  g_test_add_func ("/rest/coalescing-stream/discard-unsent", test_discard_unsent);
  g_test_add_func ("/rest/coalescing-stream/close-sends-what-is-left", test_close_sends_what_is_left);
  g_test_add_func ("/rest/coalescing-stream/close-does-not-wait-for-ever", test_close_does_not_wait_for_ever);
  g_test_add_func ("/rest/coalescing-stream/flush-async", test_flush_async);
  g_test_add_func ("/rest/coalescing-stream/peer-gone", test_peer_gone);
  return g_test_run ();
}
