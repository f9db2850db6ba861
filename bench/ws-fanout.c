/* WebSocket fan-out: N clients follow /ws while tasks are posted until E events
 * went out; reports delivered events per second and, per event, the time from
 * the state change (the event's timestamp) to its delivery to the last client */

#define G_LOG_DOMAIN "ws-fanout"

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <libsoup/soup.h>

typedef struct {
  guint64  received;
  gboolean closed;
} Client;

static guint n_clients = 100;
static guint64 n_events = 10000;
static char *base_url;
static SoupSession *session;
static Client *clients;
static guint connected;
static gint64 *first_seen_stamp;   /* the event's own timestamp, µs since the epoch */
static gint64 *last_delivery;      /* real time of the last client to get it */
static guint *deliveries;
static guint64 first_seq;
static guint64 total_received;
static gint64 start_time;
static gint64 end_time;
static guint posted;
static guint in_flight;
static guint n_tasks;

static gint64
stamp_of (const char *text,
          gsize       length)
{
  const char *key = g_strstr_len (text, (gssize) length, "\"timestamp\":\"");
  g_autofree char *value = NULL;
  g_autoptr(GDateTime) time = NULL;
  const char *end;

  if (key == NULL)
    return 0;
  key += strlen ("\"timestamp\":\"");
  end = strchr (key, '"');
  value = g_strndup (key, end - key);
  time = g_date_time_new_from_iso8601 (value, NULL);
  return time != NULL ? g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time) : 0;
}

static void
message_cb (SoupWebsocketConnection *conn,
            gint                     type,
            GBytes                  *message,
            gpointer                 user_data)
{
  Client *client = user_data;
  gsize length;
  const char *text = g_bytes_get_data (message, &length);
  const char *seq_text = g_strstr_len (text, (gssize) length, "\"seq\":");
  guint64 seq, index;

  if (seq_text == NULL)
    return;
  seq = g_ascii_strtoull (seq_text + strlen ("\"seq\":"), NULL, 10);
  if (first_seq == 0)
    first_seq = seq;
  if (seq < first_seq || seq - first_seq >= n_events)
    return;
  index = seq - first_seq;
  if (deliveries[index]++ == 0)
    first_seen_stamp[index] = stamp_of (text, length);
  last_delivery[index] = g_get_real_time ();
  client->received++;
  total_received++;
  if (total_received == (guint64) n_clients * n_events)
    end_time = g_get_monotonic_time ();
}

static void
closed_cb (SoupWebsocketConnection *conn,
           gpointer                 user_data)
{
  Client *client = user_data;

  client->closed = TRUE;
  g_printerr ("a client was closed by the server (code %u)\n",
              soup_websocket_connection_get_close_code (conn));
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *conn = soup_session_websocket_connect_finish (session, result, &error);

  if (conn == NULL)
    g_error ("connect: %s", error->message);
  soup_websocket_connection_set_max_incoming_payload_size (conn, 1 << 20);
  g_signal_connect (conn, "message", G_CALLBACK (message_cb), user_data);
  g_signal_connect (conn, "closed", G_CALLBACK (closed_cb), user_data);
  connected++;
}

/* tasks are posted on plain keep-alive sockets, each request in one write, so
 * the client's own HTTP stack is not what is measured */
typedef struct {
  GSocket *socket;
  GString *input;
} Poster;

static char *post_request;

static void
post_one (Poster *poster)
{
  if (posted >= n_tasks)
    return;
  if (g_socket_send (poster->socket, post_request, strlen (post_request), NULL, NULL) < 0)
    g_error ("posting failed");
  posted++;
  in_flight++;
}

static gboolean
poster_readable_cb (GSocket      *socket,
                    GIOCondition  condition,
                    gpointer      user_data)
{
  Poster *poster = user_data;
  char buffer[16384];
  gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL);
  const char *end;

  if (n <= 0)
    return G_SOURCE_REMOVE;
  g_string_append_len (poster->input, buffer, n);
  while ((end = strstr (poster->input->str, "\r\n\r\n")) != NULL)
    {
      const char *length = strstr (poster->input->str, "Content-Length: ");
      gsize total = (gsize) (end + 4 - poster->input->str) +
                    (length != NULL && length < end ? g_ascii_strtoull (length + 16, NULL, 10) : 0);

      if (poster->input->len < total)
        break;
      if (!g_str_has_prefix (poster->input->str, "HTTP/1.1 201"))
        g_error ("POST /tasks: %.40s", poster->input->str);
      g_string_erase (poster->input, 0, (gssize) total);
      in_flight--;
      post_one (poster);
    }
  return G_SOURCE_CONTINUE;
}

static void
post_start (guint n_posters)
{
  static const char body[] = "{\"name\":\"fanout\",\"action\":\"wait\",\"parameters\":{\"duration\":0}}";
  g_autoptr(GUri) uri = g_uri_parse (base_url, G_URI_FLAGS_NONE, NULL);
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  post_request = g_strdup_printf ("POST /tasks HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                  "Content-Length: %zu\r\n\r\n%s",
                                  g_uri_get_host (uri), sizeof body - 1, body);
  for (guint i = 0; i < n_posters; i++)
    {
      g_autoptr(GError) error = NULL;
      GSocketConnection *connection = g_socket_client_connect_to_host (client, g_uri_get_host (uri),
                                                                       (guint16) g_uri_get_port (uri),
                                                                       NULL, &error);
      Poster *poster = g_new0 (Poster, 1);
      GSource *source;

      if (connection == NULL)
        g_error ("connect: %s", error->message);
      poster->socket = g_socket_connection_get_socket (connection);
      poster->input = g_string_new (NULL);
      g_socket_set_blocking (poster->socket, FALSE);
      source = g_socket_create_source (poster->socket, G_IO_IN, NULL);
      g_source_set_callback (source, (GSourceFunc) (void (*) (void)) poster_readable_cb, poster, NULL);
      g_source_attach (source, NULL);
      g_source_unref (source);
      post_one (poster);
    }
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  g_autofree char *ws_url = NULL;
  g_autofree gint64 *latency = NULL;
  guint n_latency = 0;
  gint64 deadline;
  guint dropped = 0;
  double seconds;

  if (argc < 2)
    {
      g_printerr ("usage: %s BASE_URL [CLIENTS] [EVENTS]\n", argv[0]);
      return 2;
    }
  base_url = argv[1];
  if (argc > 2)
    n_clients = (guint) atoi (argv[2]);
  if (argc > 3)
    n_events = (guint64) atoll (argv[3]);

  ws_url = g_strconcat ("ws", base_url + strlen ("http"), "/ws", NULL);
  session = soup_session_new_with_options ("max-conns", 4096, "max-conns-per-host", 4096, NULL);
  clients = g_new0 (Client, n_clients);
  first_seen_stamp = g_new0 (gint64, n_events);
  last_delivery = g_new0 (gint64, n_events);
  deliveries = g_new0 (guint, n_events);

  for (guint i = 0; i < n_clients; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("GET", ws_url);

      soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                            connected_cb, &clients[i]);
    }
  while (connected < n_clients)
    g_main_context_iteration (NULL, TRUE);

  /* each wait task makes three events: scheduled, started, completed */
  n_tasks = (guint) ((n_events + 2) / 3);
  start_time = g_get_monotonic_time ();
  post_start (8);
  deadline = start_time + 120 * G_USEC_PER_SEC;
  while (end_time == 0 && g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (NULL, TRUE);
      dropped = 0;
      for (guint i = 0; i < n_clients; i++)
        dropped += clients[i].closed;
      if (dropped > 0 && in_flight == 0 && posted == n_tasks)
        break;
    }
  if (end_time == 0)
    end_time = g_get_monotonic_time ();

  latency = g_new0 (gint64, n_events);
  for (guint64 i = 0; i < n_events; i++)
    if (deliveries[i] == n_clients && first_seen_stamp[i] > 0)
      latency[n_latency++] = last_delivery[i] - first_seen_stamp[i];
  qsort (latency, n_latency, sizeof *latency, compare_gint64);

  seconds = (double) (end_time - start_time) / G_USEC_PER_SEC;
  g_print ("fanout_clients %u\n", n_clients);
  g_print ("fanout_events %" G_GUINT64_FORMAT "\n", n_events);
  g_print ("fanout_delivered %" G_GUINT64_FORMAT "\n", total_received);
  g_print ("fanout_dropped_clients %u\n", dropped);
  g_print ("fanout_seconds %.3f\n", seconds);
  g_print ("fanout_delivered_per_second %.0f\n", (double) total_received / seconds);
  if (n_latency > 0)
    {
      g_print ("fanout_last_delivery_ms_p50 %.2f\n", latency[n_latency / 2] / 1000.0);
      g_print ("fanout_last_delivery_ms_p99 %.2f\n", latency[(n_latency * 99) / 100] / 1000.0);
      g_print ("fanout_last_delivery_ms_max %.2f\n", latency[n_latency - 1] / 1000.0);
    }
  return total_received == (guint64) n_clients * n_events ? 0 : 1;
}
