#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <gio/gunixinputstream.h>

#include "rest/em-problem.h"
#include "rest/em-rest-conditional.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-status.h"

#define CHUNK_SIZE (64 * 1024)

/* one response in flight; holds the message until the last async call returns */
typedef struct {
  SoupServerMessage *msg;
  char              *path;
  char              *content_type;
  char              *tag;
  GInputStream      *stream;
  GCancellable      *cancellable;
  GCancellable      *server_cancellable;
  gulong             server_cancelled_id;
  gint64             remaining;      /* of the length the headers promised */
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
  g_free (send->path);
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
  if (chunk == NULL || g_bytes_get_size (chunk) == 0)
    {
      if (chunk == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("reading %s failed: %s", send->path, error->message);
      else if (chunk != NULL && send->remaining > 0)
        g_warning ("reading %s failed: it ended %" G_GINT64_FORMAT " bytes early",
                   send->path, send->remaining);
      /* the headers promised a length the body falls short of: a client
       * would wait for the rest on a kept connection until the idle
       * timeout, so it is closed once what was read has gone out */
      if (send->remaining > 0)
        soup_message_headers_replace (soup_server_message_get_response_headers (send->msg),
                                      "Connection", "close");
      g_clear_signal_handler (&send->wrote_chunk_id, send->msg);
      soup_message_body_complete (body);
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }
  /* a file grown since its size was taken is sent as long as promised */
  if ((gint64) g_bytes_get_size (chunk) > send->remaining)
    {
      g_autoptr(GBytes) whole = g_steal_pointer (&chunk);

      chunk = g_bytes_new_from_bytes (whole, 0, (gsize) send->remaining);
    }
  send->remaining -= (gint64) g_bytes_get_size (chunk);
  soup_message_body_append_bytes (body, chunk);
  if (send->remaining == 0)
    {
      g_clear_signal_handler (&send->wrote_chunk_id, send->msg);
      soup_message_body_complete (body);
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }
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

/* what the worker learnt of the file it opened */
typedef struct {
  int    fd;
  gint64 size;
  gint64 modified_us;
} Opened;

static void
opened_free (Opened *opened)
{
  if (opened->fd >= 0)
    close (opened->fd);
  g_free (opened);
}

/* the last component is never followed: a link planted where an image
 * belongs must not serve whatever it points at; and only a regular file is
 * served, not a FIFO that would hold the worker, nor a device */
static void
open_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  const char *path = task_data;
  g_autofree Opened *opened = g_new0 (Opened, 1);
  struct stat info;
  int saved_errno;

  opened->fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (opened->fd < 0)
    {
      saved_errno = errno;
      if (saved_errno == ELOOP)
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TOO_MANY_LINKS,
                                 "%s", _("it is a symbolic link"));
      /* a socket, or a device without its driver */
      else if (saved_errno == ENXIO || saved_errno == ENODEV)
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                                 "%s", _("it is not a regular file"));
      else
        g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                                 "%s", g_strerror (saved_errno));
      return;
    }
  if (fstat (opened->fd, &info) != 0 || !S_ISREG (info.st_mode))
    {
      close (opened->fd);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                               "%s", _("it is not a regular file"));
      return;
    }
  opened->size = info.st_size;
  opened->modified_us = (gint64) info.st_mtim.tv_sec * G_USEC_PER_SEC +
                        info.st_mtim.tv_nsec / 1000;
  g_task_return_pointer (task, g_steal_pointer (&opened), (GDestroyNotify) opened_free);
}

/* a captured file is written once and never changed, so what it is, its
 * size and when it was written tell one version from another; the tag is a
 * digest of those, telling nothing of the path */
static char *
make_etag (const char   *tag,
           const Opened *opened)
{
  g_autofree char *seed = g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n%" G_GINT64_FORMAT,
                                           tag, opened->size, opened->modified_us);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, seed, -1);

  return g_strdup_printf ("\"%.32s\"", digest);
}

static void
opened_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  FileSend *send = user_data;
  g_autoptr(GError) error = NULL;
  Opened *opened = g_task_propagate_pointer (G_TASK (result), &error);
  SoupMessageHeaders *headers;
  g_autoptr(GDateTime) modified = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *date = NULL;

  send->busy = FALSE;
  if (send->finished)
    {
      g_clear_pointer (&opened, opened_free);
      file_send_free (send);
      return;
    }
  if (opened == NULL)
    {
      /* the file went away after the task completed, or is not one to serve */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        em_problem_respond_printf (send->msg, 404, _("image: the file of this task is gone: %s"),
                                   error->message);
      else
        /* a file that is there but cannot be opened now (out of descriptors,
         * an I/O error, its permissions) is no 404: the client would take
         * the image for lost, when asking again later may get it */
        em_problem_respond_printf (send->msg,
                                   g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_LINKS) ||
                                   g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE)
                                     ? 404 : 500,
                                   _("image: the file of this task cannot be served: %s"),
                                   error->message);
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }

  send->stream = g_unix_input_stream_new (opened->fd, TRUE);
  opened->fd = -1;
  headers = soup_server_message_get_response_headers (send->msg);
  etag = make_etag (send->tag, opened);
  modified = g_date_time_new_from_unix_utc (opened->modified_us / G_USEC_PER_SEC);
  date = soup_date_time_to_string (modified, SOUP_DATE_HTTP);
  soup_message_headers_replace (headers, "ETag", etag);
  soup_message_headers_replace (headers, "Last-Modified", date);
  /* the token guards it, so no shared cache may keep it; the client asks
   * each time, since the task and its file may have been deleted meanwhile */
  soup_message_headers_replace (headers, "Cache-Control", "private, no-cache");
  soup_message_headers_set_content_length (headers, opened->size);
  send->remaining = opened->size;
  g_clear_pointer (&opened, opened_free);
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
  /* opened on its own in a browser, the file is no document that may run
   * anything or reach anywhere, whatever its bytes hold */
  soup_message_headers_replace (headers, "Content-Security-Policy", "default-src 'none'; sandbox");
  /* an empty file, even one written to since, has nothing to send */
  if (send->remaining == 0)
    {
      soup_message_body_complete (soup_server_message_get_response_body (send->msg));
      soup_server_message_unpause (send->msg);
      file_send_free (send);
      return;
    }
  /* chunks are dropped once written, so memory stays at one chunk */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (send->msg), FALSE);
  send->wrote_chunk_id = g_signal_connect (send->msg, "wrote-chunk",
                                           G_CALLBACK (wrote_chunk_cb), send);
  read_next (send);
}

void
em_rest_send_file (SoupServerMessage *msg,
                   const char        *path,
                   const char        *content_type,
                   const char        *tag,
                   GCancellable      *cancellable)
{
  FileSend *send = g_new0 (FileSend, 1);
  g_autoptr(GTask) task = NULL;

  send->msg = g_object_ref (msg);
  send->path = g_strdup (path);
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
  task = g_task_new (NULL, send->cancellable, opened_cb, send);
  g_task_set_source_tag (task, em_rest_send_file);
  g_task_set_name (task, "[engine-manager] open a file to serve");
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, open_thread);
}
