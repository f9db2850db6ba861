#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-rest-limits.h"
#include "rest/em-rest-linger.h"
#include "rest/em-rest-status.h"

typedef struct {
  GIOStream    *stream;
  GSocket      *socket;
  GCancellable *cancellable;
  GCancellable *server_cancellable;
  gulong        server_cancelled_id;
  GBytes       *response;
  guint         timeout_id;
  guint64       drained;
  guint8        buffer[16384];
} Linger;

/* on the server's cancellable, which each linger holds: counted there, the
 * count outlives a server that goes first */
#define LINGERING_KEY "em-rest-lingering"

static void
count_lingering (GCancellable *server_cancellable, gint delta)
{
  guint n = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (server_cancellable), LINGERING_KEY));

  g_object_set_data (G_OBJECT (server_cancellable), LINGERING_KEY,
                     GUINT_TO_POINTER ((guint) ((gint) n + delta)));
}

static void
linger_free (Linger *linger)
{
  g_clear_handle_id (&linger->timeout_id, g_source_remove);
  if (linger->server_cancellable != NULL)
    {
      g_cancellable_disconnect (linger->server_cancellable, linger->server_cancelled_id);
      count_lingering (linger->server_cancellable, -1);
    }
  g_clear_object (&linger->server_cancellable);
  g_clear_object (&linger->cancellable);
  g_clear_pointer (&linger->response, g_bytes_unref);
  g_clear_object (&linger->stream);
  g_clear_object (&linger->socket);
  g_free (linger);
}

static void
linger_finish (Linger *linger)
{
  /* closing needs no answer; the stream holds itself until it is done */
  g_io_stream_close_async (linger->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  linger_free (linger);
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  Linger *linger = user_data;

  linger->timeout_id = 0;
  g_cancellable_cancel (linger->cancellable);
  return G_SOURCE_REMOVE;
}

static void
server_cancelled_cb (GCancellable *server_cancellable,
                     gpointer      user_data)
{
  Linger *linger = user_data;

  g_cancellable_cancel (linger->cancellable);
}

static void drain_next (Linger *linger);

static void
drained_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Linger *linger = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0 || linger->drained + (guint64) n > EM_REST_LINGER_MAX_BYTES)
    {
      linger_finish (linger);
      return;
    }
  linger->drained += (guint64) n;
  drain_next (linger);
}

static void
drain_next (Linger *linger)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (linger->stream),
                             linger->buffer, sizeof linger->buffer,
                             G_PRIORITY_LOW, linger->cancellable, drained_cb, linger);
}

static void
wrote_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Linger *linger = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      linger_finish (linger);
      return;
    }
  /* the end of the answer, for clients that read until the end of the stream */
  if (linger->socket != NULL)
    g_socket_shutdown (linger->socket, FALSE, TRUE, NULL);
  drain_next (linger);
}

gboolean
em_rest_linger_respond (SoupServerMessage *msg,
                        GBytes            *response,
                        GCancellable      *server_cancellable)
{
  g_autoptr(GBytes) owned = response;
  g_autoptr(GSocket) socket = NULL;
  Linger *linger;
  GIOStream *stream;

  /* taken before the steal, which takes it out of the message */
  socket = soup_server_message_get_socket (msg) != NULL ?
           g_object_ref (soup_server_message_get_socket (msg)) : NULL;
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return FALSE;

  linger = g_new0 (Linger, 1);
  linger->stream = stream;
  linger->socket = g_steal_pointer (&socket);
  linger->cancellable = g_cancellable_new ();
  linger->response = g_steal_pointer (&owned);
  linger->timeout_id = g_timeout_add (EM_REST_LINGER_TIMEOUT_MS, linger_timeout_cb, linger);
  if (server_cancellable != NULL)
    {
      linger->server_cancellable = g_object_ref (server_cancellable);
      count_lingering (server_cancellable, 1);
      linger->server_cancelled_id =
        g_cancellable_connect (server_cancellable, G_CALLBACK (server_cancelled_cb),
                               linger, NULL);
    }

  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream),
                                   g_bytes_get_data (linger->response, NULL),
                                   g_bytes_get_size (linger->response),
                                   G_PRIORITY_DEFAULT, linger->cancellable,
                                   wrote_cb, linger);
  return TRUE;
}

/* the head libsoup would write, less what framing it decides itself */
static gboolean
is_framing (const char *name)
{
  return g_ascii_strcasecmp (name, "Content-Length") == 0 ||
         g_ascii_strcasecmp (name, "Transfer-Encoding") == 0 ||
         g_ascii_strcasecmp (name, "Connection") == 0;
}

gboolean
em_rest_linger_respond_message (SoupServerMessage *msg,
                                GCancellable      *server_cancellable)
{
  guint status = soup_server_message_get_status (msg);
  const char *reason = soup_server_message_get_reason_phrase (msg);
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  g_autoptr(GBytes) content = soup_message_body_flatten (body);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  GString *response = g_string_new (NULL);

  g_string_append_printf (response, "HTTP/1.1 %u %s\r\n", status,
                          reason != NULL ? reason : em_rest_status_phrase (status));
  soup_message_headers_iter_init (&iter, soup_server_message_get_response_headers (msg));
  while (soup_message_headers_iter_next (&iter, &name, &value))
    if (!is_framing (name))
      g_string_append_printf (response, "%s: %s\r\n", name, value);
  g_string_append_printf (response, "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                          "Connection: close\r\n\r\n", g_bytes_get_size (content));
  /* a HEAD answer has the length of the body it does not send */
  if (!g_str_equal (soup_server_message_get_method (msg), "HEAD"))
    g_string_append_len (response, g_bytes_get_data (content, NULL), g_bytes_get_size (content));
  return em_rest_linger_respond (msg, g_string_free_to_bytes (response), server_cancellable);
}

guint
em_rest_linger_count (GCancellable *server_cancellable)
{
  g_return_val_if_fail (G_IS_CANCELLABLE (server_cancellable), 0);

  return GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (server_cancellable), LINGERING_KEY));
}
