#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rest/em-rest-tls.h"

/* a handshake with a key that fits takes milliseconds */
#define HANDSHAKE_TIMEOUT_S 10

typedef struct {
  guint         pending;
  GError       *error;   /* the first side's failure */
  GCancellable *cancellable;
} Handshake;

static gboolean
accept_any_cb (GTlsConnection       *connection,
               GTlsCertificate      *peer,
               GTlsCertificateFlags  errors,
               gpointer              user_data)
{
  /* who issued it is the clients' business; only the key is checked here */
  return TRUE;
}

static void
handshake_done_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Handshake *handshake = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error) &&
      handshake->error == NULL)
    {
      handshake->error = g_steal_pointer (&error);
      /* the other side may wait for a message that will not come */
      g_cancellable_cancel (handshake->cancellable);
    }
  handshake->pending--;
}

static gboolean
timeout_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static GIOStream *
stream_for_fd (int fd, GError **error)
{
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, error);

  if (socket == NULL)
    {
      close (fd);
      return NULL;
    }
  return G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
}

gboolean
em_rest_tls_check_certificate (GTlsCertificate  *certificate,
                               GError          **error)
{
  g_autoptr(GMainContext) context = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(GSource) timeout = NULL;
  g_autoptr(GIOStream) server_base = NULL;
  g_autoptr(GIOStream) client_base = NULL;
  g_autoptr(GIOStream) server = NULL;
  g_autoptr(GIOStream) client = NULL;
  Handshake handshake = { 2, NULL, NULL };
  int fds[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "socketpair: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  server_base = stream_for_fd (fds[0], error);
  if (server_base == NULL)
    {
      close (fds[1]);
      return FALSE;
    }
  client_base = stream_for_fd (fds[1], error);
  if (client_base == NULL)
    return FALSE;
  server = g_tls_server_connection_new (server_base, certificate, error);
  if (server == NULL)
    return FALSE;
  client = g_tls_client_connection_new (client_base, NULL, error);
  if (client == NULL)
    return FALSE;
  g_signal_connect (client, "accept-certificate", G_CALLBACK (accept_any_cb), NULL);

  /* a private context: nothing else runs while it is iterated */
  context = g_main_context_new ();
  cancellable = g_cancellable_new ();
  handshake.cancellable = cancellable;
  g_main_context_push_thread_default (context);
  timeout = g_timeout_source_new_seconds (HANDSHAKE_TIMEOUT_S);
  g_source_set_callback (timeout, timeout_cb, cancellable, NULL);
  g_source_attach (timeout, context);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (server), G_PRIORITY_DEFAULT, cancellable,
                                    handshake_done_cb, &handshake);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (client), G_PRIORITY_DEFAULT, cancellable,
                                    handshake_done_cb, &handshake);
  while (handshake.pending > 0)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  g_io_stream_close (client, NULL, NULL);
  g_io_stream_close (server, NULL, NULL);
  g_main_context_pop_thread_default (context);

  if (handshake.error != NULL)
    {
      g_propagate_error (error, handshake.error);
      return FALSE;
    }
  return TRUE;
}
