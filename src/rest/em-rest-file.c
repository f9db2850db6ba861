#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-problem.h"
#include "rest/em-rest-conditional.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-status.h"

#define CHUNK_SIZE (64 * 1024)

/* one response in flight; holds the message until the last async call returns */
typedef struct {
  SoupServerMessage *msg;
  GFile             *file;
  char              *content_type;
  char              *tag;
  GInputStream      *stream;
  GCancellable      *cancellable;
  GCancellable      *server_cancellable;
  gulong             server_cancelled_id;
  gulong             finished_id;
  gulong             disconnected_id;
  gulong             wrote_chunk_id;
  gboolean           finished;
  gboolean           busy;
} FileSend;

static void
file_send_free (FileSend *send)
{
  if (send->server_cancellable != NULL)
    g_cancellable_disconnect (send->server_cancellable, send->server_cancelled_id);
  g_clear_object (&send->server_cancellable);
  g_clear_signal_handler (&send->finished_id, send->msg);
  g_clear_signal_handler (&send->disconnected_id, send->msg);
  g_clear_signal_handler (&send->wrote_chunk_id, send->msg);
  g_clear_object (&send->msg);
  g_clear_object (&send->file);
  g_clear_object (&send->stream);
  g_clear_object (&send->cancellable);
  g_free (send->content_type);
  g_free (send->tag);
  g_free (send);
}

static void
finished_cb (SoupServerMessage *msg,
             gpointer           user_data)
{
  FileSend *send = user_data;

  /* the client went away, the response is done, or the server dropped the
   * connection (at shutdown, which ends no paused message, and libsoup
   * refuses to unpause one without a connection): stop reading */
  send->finished = TRUE;
  g_cancellable_cancel (send->cancellable);
  /* with no call pending, nothing else would free it */
  if (!send->busy)
    file_send_free (send);
}

static void
server_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  FileSend *send = user_data;

  g_cancellable_cancel (send->cancellable);
}

static void read_next (FileSend *send);

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  FileSend *send = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  SoupMessageBody *body;

  send->busy = FALSE;
  if (send->finished)
    {
      file_send_free (send);
      return;
    }

  body = soup_server_message_get_response_body (send->msg);
  if (chunk == NULL)
    {
      /* headers already promised a length; cutting the connection is all that is left */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("reading %s failed: %s", g_file_peek_path (send->file), error->message);
      soup_server_message_unpause (send->msg);
      g_clear_signal_handler (&send->wrote_chunk_id, send->msg);
      soup_message_body_complete (body);
      file_send_free (send);
      return;
    }
  if (g_bytes_get_size (chunk) == 0)
    {
      soup_message_body_complete (body);
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }
  soup_message_body_append_bytes (body, chunk);
  soup_server_message_unpause (send->msg);
}

static void
read_next (FileSend *send)
{
  send->busy = TRUE;
  g_input_stream_read_bytes_async (send->stream, CHUNK_SIZE, G_PRIORITY_DEFAULT,
                                   send->cancellable, read_cb, send);
}

static void
wrote_chunk_cb (SoupServerMessage *msg,
                gpointer           user_data)
{
  read_next (user_data);
}

/* a captured file is written once and never changed, so what it is, its
 * size and when it was written tell one version from another; the tag is a
 * digest of those, telling nothing of the path */
static char *
make_etag (const char *tag,
           GFileInfo  *info)
{
  g_autoptr(GDateTime) modified = g_file_info_get_modification_date_time (info);
  g_autofree char *seed = g_strdup_printf ("%s\n%" G_GOFFSET_FORMAT "\n%" G_GINT64_FORMAT,
                                           tag, g_file_info_get_size (info),
                                           modified != NULL ?
                                           g_date_time_to_unix (modified) * G_USEC_PER_SEC +
                                           g_date_time_get_microsecond (modified) : 0);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, seed, -1);

  return g_strdup_printf ("\"%.32s\"", digest);
}

static void
query_info_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  FileSend *send = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFileInfo) info = g_file_input_stream_query_info_finish (G_FILE_INPUT_STREAM (source),
                                                                     result, &error);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (send->msg);
  g_autoptr(GDateTime) modified = NULL;
  g_autofree char *etag = NULL;

  send->busy = FALSE;
  if (send->finished)
    {
      file_send_free (send);
      return;
    }
  if (info == NULL)
    {
      em_problem_respond (send->msg, 500, NULL, error->message);
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }

  modified = g_file_info_get_modification_date_time (info);
  etag = make_etag (send->tag, info);
  soup_message_headers_replace (headers, "ETag", etag);
  if (modified != NULL)
    {
      g_autofree char *date = soup_date_time_to_string (modified, SOUP_DATE_HTTP);

      soup_message_headers_replace (headers, "Last-Modified", date);
    }
  /* the token guards it, so no shared cache may keep it; the client asks
   * each time, since the task and its file may have been deleted meanwhile */
  soup_message_headers_replace (headers, "Cache-Control", "private, no-cache");
  soup_message_headers_set_content_length (headers, g_file_info_get_size (info));
  if (em_rest_not_modified (send->msg, etag, modified))
    {
      /* the length is the file's, as for a 200 (RFC 9110 §8.6): libsoup
       * would claim 0 for the empty body */
      em_rest_set_status (send->msg, 304);
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }

  em_rest_set_status (send->msg, 200);
  soup_message_headers_set_content_type (headers, send->content_type, NULL);
  /* chunks are dropped once written, so memory stays at one chunk */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (send->msg), FALSE);
  send->wrote_chunk_id = g_signal_connect (send->msg, "wrote-chunk",
                                           G_CALLBACK (wrote_chunk_cb), send);
  read_next (send);
}

static void
open_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  FileSend *send = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFileInputStream) stream = g_file_read_finish (G_FILE (source), result, &error);

  send->busy = FALSE;
  if (send->finished)
    {
      file_send_free (send);
      return;
    }
  if (stream == NULL)
    {
      /* the file went away after the task completed */
      em_problem_respond_printf (send->msg, 404, _("image: the file of this task is gone: %s"),
                                 error->message);
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }
  send->stream = G_INPUT_STREAM (g_steal_pointer (&stream));
  send->busy = TRUE;
  g_file_input_stream_query_info_async (G_FILE_INPUT_STREAM (send->stream),
                                        G_FILE_ATTRIBUTE_STANDARD_SIZE ","
                                        G_FILE_ATTRIBUTE_TIME_MODIFIED ","
                                        G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC, G_PRIORITY_DEFAULT,
                                        send->cancellable, query_info_cb, send);
}

void
em_rest_send_file (SoupServerMessage *msg,
                   const char        *path,
                   const char        *content_type,
                   const char        *tag,
                   GCancellable      *cancellable)
{
  FileSend *send = g_new0 (FileSend, 1);

  send->msg = g_object_ref (msg);
  send->file = g_file_new_for_path (path);
  send->content_type = g_strdup (content_type);
  send->tag = g_strdup (tag);
  send->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      send->server_cancellable = g_object_ref (cancellable);
      send->server_cancelled_id = g_cancellable_connect (cancellable,
                                                         G_CALLBACK (server_cancelled_cb),
                                                         send, NULL);
    }
  send->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (finished_cb), send);
  send->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (finished_cb), send);

  soup_server_message_pause (msg);
  send->busy = TRUE;
  g_file_read_async (send->file, G_PRIORITY_DEFAULT, send->cancellable, open_cb, send);
}
