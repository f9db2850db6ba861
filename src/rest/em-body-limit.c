#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-body-limit.h"
#include "rest/em-problem.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-limits.h"
#include "rest/em-rest-status.h"

typedef struct {
  guint64       max_bytes;
  guint64       received;
  gboolean      refused;
  GCancellable *cancellable;
} Watch;

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  g_clear_object (&watch->cancellable);
  g_free (watch);
}

/* the answer is written by hand on the stolen connection, and the connection is
 * kept for a short while to drain input: closing with unread data would reset it
 * and the client could lose the 413 */
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

static void
linger_free (Linger *linger)
{
  g_clear_handle_id (&linger->timeout_id, g_source_remove);
  if (linger->server_cancellable != NULL)
    g_cancellable_disconnect (linger->server_cancellable, linger->server_cancelled_id);
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

static void
refuse (SoupServerMessage *msg,
        Watch             *watch,
        guint              status,
        const char        *detail)
{
  g_autofree char *problem = NULL;
  g_autoptr(GSocket) socket = NULL;
  GString *response;
  Linger *linger;
  GIOStream *stream;

  watch->refused = TRUE;
  problem = em_problem_to_string (status, NULL, detail);
  response = g_string_new (NULL);
  g_string_append_printf (response,
                          "HTTP/1.1 %u %s\r\n"
                          "Content-Type: application/problem+json\r\n"
                          "Vary: Accept-Language\r\n"
                          "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                          "Connection: close\r\n"
                          "\r\n%s",
                          status, em_rest_status_phrase (status), strlen (problem), problem);

  /* taken before the steal, which takes it out of the message */
  socket = soup_server_message_get_socket (msg) != NULL ?
           g_object_ref (soup_server_message_get_socket (msg)) : NULL;
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    {
      g_string_free (response, TRUE);
      return;
    }
  g_debug ("refused a request body: %s", detail);

  linger = g_new0 (Linger, 1);
  linger->stream = stream;
  linger->socket = g_steal_pointer (&socket);
  linger->cancellable = g_cancellable_new ();
  linger->response = g_string_free_to_bytes (response);
  linger->timeout_id = g_timeout_add (EM_REST_LINGER_TIMEOUT_MS, linger_timeout_cb, linger);
  if (watch->cancellable != NULL)
    {
      linger->server_cancellable = g_object_ref (watch->cancellable);
      linger->server_cancelled_id =
        g_cancellable_connect (watch->cancellable, G_CALLBACK (server_cancelled_cb),
                               linger, NULL);
    }

  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream),
                                   g_bytes_get_data (linger->response, NULL),
                                   g_bytes_get_size (linger->response),
                                   G_PRIORITY_DEFAULT, linger->cancellable,
                                   wrote_cb, linger);
}

static void
refuse_too_large (SoupServerMessage *msg,
                  Watch             *watch)
{
  /* the number apart: a format macro would cut the msgid short */
  g_autofree char *max_bytes = g_strdup_printf ("%" G_GUINT64_FORMAT, watch->max_bytes);
  g_autofree char *detail = g_strdup_printf (_("body: larger than the limit of %s bytes"), max_bytes);

  refuse (msg, watch, 413, detail);
}

static void
got_chunk_cb (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  Watch *watch = user_data;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

  if (watch->refused)
    return;
  watch->received += g_bytes_get_size (chunk);
  if (watch->received <= watch->max_bytes)
    return;
  /* before any handler: the answer speaks the client's language from here */
  em_rest_i18n_scope_enter_for_message (&scope, msg);
  refuse_too_large (msg, watch);
}

/* RFC 9110's 1*DIGIT, given once: libsoup reads "-5" and "+5" with strtoull,
 * the first as 2^64 - 5, and of two Content-Length headers believes the last */
static gboolean
is_one_length (const char *text)
{
  if (text == NULL || *text == '\0')
    return FALSE;
  for (; *text != '\0'; text++)
    if (!g_ascii_isdigit (*text))
      return FALSE;
  return TRUE;
}

gboolean
em_body_limit_check_head (SoupServerMessage *msg,
                          const EmBodyLimit *limit)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  gboolean bad_length = FALSE;
  gboolean both = FALSE;
  Watch *watch;

  /* both framings: a proxy in front goes by the Transfer-Encoding (RFC 9112
   * §6.3), while libsoup lets a Content-Length read after one other than
   * chunked decide where the body ends; the two would read different requests
   * from the same bytes. Refused, and the connection closed */
  switch (soup_message_headers_get_encoding (headers))
    {
    case SOUP_ENCODING_CONTENT_LENGTH:
      /* the common case costs three header lookups and nothing else */
      both = soup_message_headers_get_list (headers, "Transfer-Encoding") != NULL;
      bad_length = !is_one_length (soup_message_headers_get_list (headers, "Content-Length"));
      if (!both && !bad_length &&
          (guint64) soup_message_headers_get_content_length (headers) <= limit->max_bytes)
        return TRUE;
      break;
    case SOUP_ENCODING_NONE:
      return TRUE;
    default:
      both = soup_message_headers_get_list (headers, "Content-Length") != NULL;
      break;
    }

  watch = g_new0 (Watch, 1);
  watch->max_bytes = limit->max_bytes;
  watch->cancellable = limit->cancellable != NULL ? g_object_ref (limit->cancellable) : NULL;
  g_object_set_data_full (G_OBJECT (msg), "em-body-limit", watch, watch_free);
  em_rest_i18n_scope_enter_for_message (&scope, msg);
  /* where the body ends is unknown: answered, and the connection closed */
  if (both)
    refuse (msg, watch, 400,
            _("Transfer-Encoding and Content-Length: give one of them, not both"));
  else if (bad_length)
    refuse (msg, watch, 400,
            _("Content-Length: must be one number of bytes, in decimal digits"));
  else if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH)
    refuse_too_large (msg, watch);
  else
    {
      g_signal_connect (msg, "got-chunk", G_CALLBACK (got_chunk_cb), watch);
      return TRUE;
    }
  return FALSE;
}
