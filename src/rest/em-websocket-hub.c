#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <glib/gi18n.h>

#include "rest/em-counting-output-stream.h"
#include "rest/em-problem.h"
#include "rest/em-rest-limits.h"
#include "rest/em-websocket-hub.h"

typedef struct {
  EmWebsocketHub          *hub;
  SoupWebsocketConnection *conn;
  /* the stream libsoup handed over; closing the connection's own stream leaves
   * the socket open, so this one is closed when the client goes */
  GIOStream               *base_stream;
  EmCountingOutputStream  *counter;
  guint64                  queued;
  gboolean                 dropped;
} Client;

struct _EmWebsocketHub
{
  GObject          parent_instance;

  EmEngineManager *manager;
  gulong           event_id;
  GQueue           clients;
  guint64          max_backlog;
  guint            keepalive_seconds;
  guint            max_clients;
  gboolean         closed;
};

G_DEFINE_FINAL_TYPE (EmWebsocketHub, em_websocket_hub, G_TYPE_OBJECT)

/* what a server frame of @length payload bytes occupies on the wire */
static guint64
frame_size (gsize length)
{
  if (length < 126)
    return length + 2;
  if (length <= G_MAXUINT16)
    return length + 4;
  return length + 10;
}

static guint64
client_backlog (Client *client)
{
  guint64 written = em_counting_output_stream_get_written (client->counter);

  /* pings and pongs are written but never queued here, so written can pass queued */
  return client->queued > written ? client->queued - written : 0;
}

static void
client_free (Client *client)
{
  g_signal_handlers_disconnect_by_data (client->conn, client);
  g_clear_object (&client->conn);
  if (client->base_stream != NULL)
    g_io_stream_close_async (client->base_stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_clear_object (&client->base_stream);
  g_free (client);
}

static void
client_closed_cb (SoupWebsocketConnection *conn,
                  gpointer                 user_data)
{
  Client *client = user_data;

  g_debug ("WebSocket client closed (code %u)", soup_websocket_connection_get_close_code (conn));
  g_queue_remove (&client->hub->clients, client);
  client_free (client);
}

static void
client_message_cb (SoupWebsocketConnection *conn,
                   gint                     type,
                   GBytes                  *message,
                   gpointer                 user_data)
{
  /* the stream is one-way; what a client says is ignored */
}

static void
client_drop (Client     *client,
             gushort     code,
             const char *reason)
{
  client->dropped = TRUE;
  if (soup_websocket_connection_get_state (client->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (client->conn, code, reason);
}

static void
event_cb (EmEngineManager *manager,
          EmEvent         *event,
          gpointer         user_data)
{
  EmWebsocketHub *self = user_data;
  g_autoptr(GBytes) bytes = NULL;
  guint64 size;
  GList *link;
  char *text;

  if (self->clients.length == 0)
    return;

  /* serialized once; every client's frame is built from the same bytes */
  text = em_event_to_json_string (event);
  size = strlen (text);
  bytes = g_bytes_new_take (text, size);
  size = frame_size (size);

  for (link = self->clients.head; link != NULL;)
    {
      Client *client = link->data;

      link = link->next;
      if (client->dropped ||
          soup_websocket_connection_get_state (client->conn) != SOUP_WEBSOCKET_STATE_OPEN)
        continue;

      if (client_backlog (client) + size > self->max_backlog)
        {
          g_debug ("dropping a WebSocket client that stopped reading (%" G_GUINT64_FORMAT
                   " bytes queued)", client_backlog (client));
          client_drop (client, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "backlog limit exceeded");
          continue;
        }
      client->queued += size;
      soup_websocket_connection_send_message (client->conn, SOUP_WEBSOCKET_DATA_TEXT, bytes);
    }
}

static void
wrote_informational_cb (SoupServerMessage *msg,
                        gpointer           user_data)
{
  EmWebsocketHub *self = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GOutputStream) counter = NULL;
  g_autoptr(GIOStream) wrapped = NULL;
  Client *client;

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;

  /* a peer that vanished leaves our pings unacknowledged: let the kernel give up */
  if (socket != NULL)
    {
      g_socket_set_option (socket, IPPROTO_TCP, TCP_USER_TIMEOUT,
                           EM_REST_WS_TCP_USER_TIMEOUT_MS, NULL);
      g_socket_set_option (socket, SOL_SOCKET, SO_SNDBUF, EM_REST_WS_SEND_BUFFER, NULL);
      /* events are small frames: waiting to coalesce them only adds latency */
      g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    }

  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;
  if (self->closed)
    {
      g_io_stream_close_async (stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      return;
    }

  counter = em_counting_output_stream_new (g_io_stream_get_output_stream (stream));
  g_filter_output_stream_set_close_base_stream (G_FILTER_OUTPUT_STREAM (counter), FALSE);
  wrapped = g_simple_io_stream_new (g_io_stream_get_input_stream (stream), counter);

  client = g_new0 (Client, 1);
  client->hub = self;
  client->base_stream = g_steal_pointer (&stream);
  client->counter = EM_COUNTING_OUTPUT_STREAM (counter);
  client->conn = soup_websocket_connection_new (wrapped, soup_server_message_get_uri (msg),
                                                SOUP_WEBSOCKET_CONNECTION_SERVER,
                                                NULL, NULL, NULL);
  soup_websocket_connection_set_max_incoming_payload_size (client->conn,
                                                           EM_REST_WS_MAX_INCOMING_PAYLOAD);
  soup_websocket_connection_set_keepalive_interval (client->conn, self->keepalive_seconds);
  g_signal_connect (client->conn, "closed", G_CALLBACK (client_closed_cb), client);
  g_signal_connect (client->conn, "message", G_CALLBACK (client_message_cb), client);
  g_queue_push_tail (&self->clients, client);
  g_debug ("WebSocket client connected (%u in all)", self->clients.length);
}

void
em_websocket_hub_handle (EmWebsocketHub    *self,
                         SoupServerMessage *msg)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (EM_IS_WEBSOCKET_HUB (self));

  if (self->closed)
    {
      em_problem_respond (msg, 503, NULL, _("the service is shutting down"));
      return;
    }
  if (!soup_websocket_server_check_handshake (msg, NULL, NULL, NULL, &error))
    {
      em_problem_respond_printf (msg, 400, _("upgrade: not a WebSocket handshake: %s"),
                                 error->message);
      return;
    }
  if (self->clients.length >= self->max_clients)
    {
      em_problem_respond_printf (msg, 503, _("upgrade: too many WebSocket clients (limit %u)"),
                                 self->max_clients);
      return;
    }
  /* no extensions: a per-message deflate would give each client its own bytes */
  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    return;

  g_signal_connect_object (msg, "wrote-informational",
                           G_CALLBACK (wrote_informational_cb), self, 0);
}

guint
em_websocket_hub_get_n_clients (EmWebsocketHub *self)
{
  guint n = 0;

  g_return_val_if_fail (EM_IS_WEBSOCKET_HUB (self), 0);

  for (GList *link = self->clients.head; link != NULL; link = link->next)
    {
      Client *client = link->data;

      n += !client->dropped &&
           soup_websocket_connection_get_state (client->conn) == SOUP_WEBSOCKET_STATE_OPEN;
    }
  return n;
}

void
em_websocket_hub_set_limits (EmWebsocketHub *self,
                             guint64         max_backlog,
                             guint           keepalive_seconds,
                             guint           max_clients)
{
  g_return_if_fail (EM_IS_WEBSOCKET_HUB (self));
  self->max_backlog = max_backlog;
  self->keepalive_seconds = keepalive_seconds;
  self->max_clients = max_clients;
}

void
em_websocket_hub_close_all (EmWebsocketHub *self,
                            gushort         code,
                            const char     *reason)
{
  g_return_if_fail (EM_IS_WEBSOCKET_HUB (self));

  self->closed = TRUE;
  g_clear_signal_handler (&self->event_id, self->manager);
  for (GList *link = self->clients.head; link != NULL;)
    {
      Client *client = link->data;

      link = link->next;
      client_drop (client, code, reason);
    }
}

static void
em_websocket_hub_dispose (GObject *object)
{
  EmWebsocketHub *self = EM_WEBSOCKET_HUB (object);
  Client *client;

  if (self->manager != NULL)
    g_clear_signal_handler (&self->event_id, self->manager);
  while ((client = g_queue_pop_head (&self->clients)) != NULL)
    client_free (client);
  g_clear_object (&self->manager);

  G_OBJECT_CLASS (em_websocket_hub_parent_class)->dispose (object);
}

static void
em_websocket_hub_class_init (EmWebsocketHubClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = em_websocket_hub_dispose;
}

static void
em_websocket_hub_init (EmWebsocketHub *self)
{
  g_queue_init (&self->clients);
  self->max_backlog = EM_REST_DEFAULT_WS_BACKLOG;
  self->keepalive_seconds = EM_REST_DEFAULT_WS_KEEPALIVE;
  self->max_clients = EM_REST_DEFAULT_WS_MAX_CLIENTS;
}

EmWebsocketHub *
em_websocket_hub_new (EmEngineManager *manager)
{
  EmWebsocketHub *self = g_object_new (EM_TYPE_WEBSOCKET_HUB, NULL);

  self->manager = g_object_ref (manager);
  self->event_id = g_signal_connect (manager, "event", G_CALLBACK (event_cb), self);
  return self;
}
