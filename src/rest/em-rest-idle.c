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
  gboolean      ending;        /* seen gone (or shut down) by the last sweep */
} Connection;

struct _EmRestIdle
{
  GHashTable *connections;         /* (GSocket, owned) → Connection */
  guint       timeout_s;
  guint       sweep_source;
};

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

  self->connections = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, g_free);
  return self;
}

void
em_rest_idle_free (EmRestIdle *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->sweep_source, g_source_remove);
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
          g_hash_table_iter_remove (&iter);
          continue;
        }
      if (connection->idle_since == 0)
        continue;
      /* a sweep after the one that saw it gone: libsoup has had a turn of
       * the loop to read the end of the stream and stop reading, but keeps
       * the connection; its socket is closed here (GSocket refuses any later
       * call on it, so the descriptor number is never touched again) */
      if (connection->ending)
        {
          g_debug ("closing a connection its client left");
          g_socket_close (socket, NULL);
          g_hash_table_iter_remove (&iter);
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
  connection = g_hash_table_lookup (self->connections, socket);
  if (connection == NULL)
    {
      connection = g_new0 (Connection, 1);
      g_hash_table_insert (self->connections, g_object_ref (socket), connection);
    }
  connection->last = msg;
  connection->idle_since = 0;
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
