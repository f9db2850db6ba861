/* The idle sweep against a real libsoup server: it ends the connections
 * libsoup 3.2 keeps, but must never tell libsoup a connection is gone while a
 * request of it is alive. libsoup takes the request's I/O data on
 * "disconnected" and leaves its source, which then runs on none (a paused
 * request's at once): a crash inside libsoup. */

#include "config.h"

#include <string.h>
#include <libsoup/soup.h>

#include "rest/em-rest-idle.h"

typedef struct
{
  SoupServer        *server;
  EmRestIdle        *idle;
  SoupServerMessage *paused;
  guint16            port;
} Fixture;

static void
started_cb (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  em_rest_idle_started (user_data, msg);
}

static void
read_cb (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  em_rest_idle_read (user_data, msg);
}

static void
finished_cb (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  em_rest_idle_finished (user_data, msg);
}

/* a request answered later; its record already says it is over, the state
 * in which the sweep used to end the connection under libsoup */
static void
later_handler (SoupServer        *server,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  Fixture *f = user_data;

  soup_server_message_pause (msg);
  f->paused = g_object_ref (msg);
  em_rest_idle_finished (f->idle, msg);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoslist(GUri) uris = NULL;

  f->server = soup_server_new (NULL, NULL);
  f->idle = em_rest_idle_new ();
  g_signal_connect (f->server, "request-started", G_CALLBACK (started_cb), f->idle);
  g_signal_connect (f->server, "request-read", G_CALLBACK (read_cb), f->idle);
  g_signal_connect (f->server, "request-finished", G_CALLBACK (finished_cb), f->idle);
  soup_server_add_handler (f->server, "/later", later_handler, f, NULL);
  g_assert_true (soup_server_listen_local (f->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (f->server);
  f->port = (guint16) g_uri_get_port (uris->data);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->paused);
  soup_server_disconnect (f->server);
  g_clear_object (&f->server);
  g_clear_pointer (&f->idle, em_rest_idle_free);
}

static GSocket *
connect_client (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, f->port);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_connect (socket, address, NULL, &error));
  g_assert_no_error (error);
  return socket;
}

static void
iterate_for (gint64 usec)
{
  gint64 deadline = g_get_monotonic_time () + usec;

  while (g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

/* the client leaves while its request waits for its answer, and the record
 * says the connection is idle: the sweep shuts it down and leaves the rest
 * to libsoup, which ends the connection once the answer cannot be written */
static void
test_gone_with_paused_request (Fixture *f, gconstpointer data)
{
  const char *request = "GET /later HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  g_autoptr(GSocket) client = connect_client (f);
  g_autoptr(GSocket) socket = NULL;
  gint64 deadline;

  em_rest_idle_set_timeout (f->idle, 60);
  g_assert_cmpint (g_socket_send (client, request, strlen (request), NULL, NULL), ==,
                   (gssize) strlen (request));
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (f->paused == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (f->paused);
  socket = g_object_ref (soup_server_message_get_socket (f->paused));
  g_socket_close (client, NULL);

  /* two sweeps and more: one sees the client gone, the next used to close */
  iterate_for (3 * G_USEC_PER_SEC);
  /* left to libsoup while its request is alive */
  g_assert_false (g_socket_is_closed (socket));

  /* the answer comes, cannot be written, and libsoup ends the connection */
  soup_server_message_set_status (f->paused, SOUP_STATUS_OK, NULL);
  soup_server_message_unpause (f->paused);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (!g_socket_is_closed (socket) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (g_socket_is_closed (socket));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/rest-idle/gone-with-paused-request", Fixture, NULL, fixture_setup,
              test_gone_with_paused_request, fixture_teardown);
  return g_test_run ();
}
