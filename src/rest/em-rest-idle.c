#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <errno.h>
#include <sys/socket.h>

#include "rest/em-rest-idle.h"

#define SWEEP_INTERVAL_S 1

/* a connection, as its latest request shows it */
typedef struct
{
  gconstpointer last;          /* its latest request, compared, never used */
  guint         idle_since;    /* monotonic second its last request finished; 0 while
                                * one is under way */
  guint         reading_since; /* monotonic second its latest request started; 0 once
                                * that request has been read whole */
  gboolean      ending;        /* seen gone (or shut down) by the last sweep */
  GObject      *conn;          /* (owned) (nullable) libsoup's SoupServerConnection */
} Connection;

struct _EmRestIdle
{
  GHashTable *connections;         /* (GSocket, owned) → Connection */
  guint       timeout_s;
  guint       sweep_source;
};

/* every instance, for the hook below; all on the main thread */
static GList *instances;
static gulong connected_hook;

static void
connection_free (Connection *connection)
{
  g_clear_object (&connection->conn);
  g_free (connection);
}

/* libsoup 3.2 has no public type for its connections: the hook on their
 * "connected" signal tells which one holds a socket */
static gboolean
connected_cb (GSignalInvocationHint *hint,
              guint                  n_params,
              const GValue          *params,
              gpointer               user_data)
{
  GObject *conn = g_value_get_object (&params[0]);
  g_autoptr(GSocket) socket = NULL;

  if (g_object_class_find_property (G_OBJECT_GET_CLASS (conn), "socket") == NULL)
    return TRUE;
  g_object_get (conn, "socket", &socket, NULL);
  for (GList *l = instances; l != NULL && socket != NULL; l = l->next)
    {
      EmRestIdle *self = l->data;
      Connection *connection = g_hash_table_lookup (self->connections, socket);

      if (connection != NULL && connection->conn == NULL)
        connection->conn = g_object_ref (conn);
    }
  return TRUE;
}

/* once libsoup has made its first connection, its type is known; each
 * connection starts its first request before it is connected */
static void
install_connected_hook (void)
{
  GType type;
  guint signal_id;

  if (connected_hook != 0 || (type = g_type_from_name ("SoupServerConnection")) == 0 ||
      (signal_id = g_signal_lookup ("connected", type)) == 0)
    return;
  connected_hook = g_signal_add_emission_hook (signal_id, 0, connected_cb, NULL, NULL);
}

static guint
now_s (void)
{
  /* never 0, which means busy */
  return (guint) (g_get_monotonic_time () / G_USEC_PER_SEC) + 1;
}

EmRestIdle *
em_rest_idle_new (void)
{
  EmRestIdle *self = g_new0 (EmRestIdle, 1);

  self->connections = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref,
                                             (GDestroyNotify) connection_free);
  instances = g_list_prepend (instances, self);
  return self;
}

static void forget (GHashTableIter *iter, GSocket *socket, Connection *connection);

void
em_rest_idle_free (EmRestIdle *self)
{
  GHashTableIter iter;
  gpointer socket, connection;

  if (self == NULL)
    return;
  instances = g_list_remove (instances, self);
  g_clear_handle_id (&self->sweep_source, g_source_remove);
  /* the connections that ended since the last sweep, and those the stopped
   * server closed */
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &socket, &connection))
    if (g_socket_is_closed (socket))
      forget (&iter, socket, connection);
  g_hash_table_unref (self->connections);
  g_free (self);
}

void
em_rest_idle_set_timeout (EmRestIdle *self, guint seconds)
{
  self->timeout_s = seconds;
}

/* whether the client closed its side: a peek that reads the end of the stream */
static gboolean
client_gone (GSocket *socket)
{
  char byte;
  gssize n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* whether libsoup still has a request on @conn: each of its requests follows
 * its connection's "accept-certificate" (nothing else does) until it is freed */
static gboolean
holds_request (GObject *conn)
{
  guint signal_id = g_signal_lookup ("accept-certificate", G_OBJECT_TYPE (conn));

  return signal_id == 0 || g_signal_has_handler_pending (conn, signal_id, 0, TRUE);
}

/* libsoup 3.2's listener never drops the reference g_socket_accept() gave it
 * (about 700 bytes a connection, for good). Once a connection has ended and
 * nothing but that reference and ours holds its socket, the socket is freed.
 * Only for 3.2, whose source shows the leak: elsewhere a second holder may be
 * a real one. */
static void
forget (GHashTableIter *iter,
        GSocket        *socket,
        Connection     *connection)
{
  g_clear_object (&connection->conn);
  if (soup_get_major_version () == 3 && soup_get_minor_version () == 2 &&
      G_OBJECT (socket)->ref_count == 2)
    g_object_unref (socket);
  g_hash_table_iter_remove (iter);
}

static gboolean
sweep_cb (gpointer user_data)
{
  EmRestIdle *self = user_data;
  guint now = now_s ();
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GSocket *socket = key;
      Connection *connection = value;
      gboolean expired;

      /* closed by libsoup (no keep-alive, a refused request), or a WebSocket
       * that has ended */
      if (g_socket_is_closed (socket))
        {
          forget (&iter, socket, connection);
          continue;
        }
      /* slowloris: a byte now and then restarts the socket's timeout, but
       * the whole request, head and body, has the timeout */
      if (connection->reading_since != 0 && !connection->ending && self->timeout_s > 0 &&
          now - connection->reading_since > self->timeout_s)
        {
          g_debug ("ending a connection whose request took over %u s", self->timeout_s);
          g_socket_shutdown (socket, TRUE, TRUE, NULL);
          connection->ending = TRUE;
          continue;
        }
      if (connection->idle_since == 0)
        continue;
      /* a sweep after the one that saw it gone: libsoup has had a turn of
       * the loop to read the end of the stream and stop reading, but keeps
       * the connection; its socket is closed here (GSocket refuses any later
       * call on it, so the descriptor number is never touched again), and
       * its server lets go of the connection (kept until the server stopped)
       * once the connection says it is disconnected */
      if (connection->ending)
        {
          /* not while libsoup holds a request on it: "disconnected" takes the
           * request's I/O data but leaves its source, which then runs on none
           * (a paused request's at once). Shut down, its read or write fails
           * and libsoup ends the request; a later sweep closes. */
          if (connection->conn != NULL && holds_request (connection->conn))
            {
              g_socket_shutdown (socket, TRUE, TRUE, NULL);
              continue;
            }
          g_debug ("closing a connection its client left");
          g_socket_close (socket, NULL);
          if (connection->conn != NULL)
            g_signal_emit_by_name (connection->conn, "disconnected");
          forget (&iter, socket, connection);
          continue;
        }
      expired = self->timeout_s > 0 && now - connection->idle_since > self->timeout_s;
      if (client_gone (socket))
        connection->ending = TRUE;
      else if (expired)
        {
          /* libsoup, reading for the next request, reads the end of the
           * stream, as when the client goes */
          g_debug ("ending a connection idle for %u s", self->timeout_s);
          g_socket_shutdown (socket, TRUE, TRUE, NULL);
          connection->ending = TRUE;
        }
    }
  if (g_hash_table_size (self->connections) > 0)
    return G_SOURCE_CONTINUE;
  self->sweep_source = 0;
  return G_SOURCE_REMOVE;
}

void
em_rest_idle_started (EmRestIdle *self, SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  Connection *connection;

  if (socket == NULL)
    return;
  install_connected_hook ();
  connection = g_hash_table_lookup (self->connections, socket);
  if (connection == NULL)
    {
      connection = g_new0 (Connection, 1);
      g_hash_table_insert (self->connections, g_object_ref (socket), connection);
    }
  connection->last = msg;
  connection->idle_since = 0;
  connection->reading_since = now_s ();
  connection->ending = FALSE;
  if (self->sweep_source == 0)
    self->sweep_source = g_timeout_add_seconds (SWEEP_INTERVAL_S, sweep_cb, self);
}

void
em_rest_idle_finished (EmRestIdle *self, SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  Connection *connection = socket != NULL ? g_hash_table_lookup (self->connections, socket) : NULL;

  if (connection != NULL && connection->last == msg)
    connection->idle_since = now_s ();
}

void
em_rest_idle_read (EmRestIdle *self, SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  Connection *connection = socket != NULL ? g_hash_table_lookup (self->connections, socket) : NULL;

  if (connection != NULL && connection->last == msg)
    connection->reading_since = 0;
}
