/* GET /health latency while the service is busy: N tasks submitted over HTTP,
 * W WebSocket clients following every event, one of which stops reading.
 *
 *   health-under-load PORT [TASKS] [WS_CLIENTS] [SUBMITTERS]
 *
 * SUBMITTERS (default 1) connections submit at once, each waiting for its 201.
 *
 * Each role has its own thread and blocking sockets, so the client side adds
 * as little as it can to what is measured. Prints p50, p99 and max of the
 * probes taken while the tasks were submitted and run.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <gio/gio.h>

#define PROBE_INTERVAL_US 2000
/* most connections submitting at once */
#define MAX_SUBMITTERS 64

typedef struct {
  guint16   port;
  guint     n_tasks;
  guint     n_clients;
  gint      done;        /* atomic: submission and execution finished */
  gint      next_task;   /* atomic */
  GArray   *latencies;   /* gdouble ms, probe thread only */
  guint64   events_read; /* ws thread only */
} Bench;

static GSocket *
connect_blocking (guint16 port, int rcvbuf)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);

  if (socket == NULL)
    g_error ("socket: %s", error->message);
  if (rcvbuf > 0)
    g_socket_set_option (socket, SOL_SOCKET, SO_RCVBUF, rcvbuf, NULL);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  if (!g_socket_connect (socket, address, NULL, &error))
    g_error ("connect to port %u: %s", port, error->message);
  return g_steal_pointer (&socket);
}

static void
send_all (GSocket *socket, const char *data, gsize length)
{
  gsize sent = 0;

  while (sent < length)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (socket, data + sent, length - sent, NULL, &error);

      if (n < 0)
        g_error ("send: %s", error->message);
      sent += (gsize) n;
    }
}

/* reads one response with a Content-Length body; returns the status */
static guint
read_response (GSocket *socket, GString *buffer)
{
  for (;;)
    {
      const char *end = strstr (buffer->str, "\r\n\r\n");
      char chunk[16384];
      gssize n;

      if (end != NULL)
        {
          const char *length = g_strstr_len (buffer->str, end - buffer->str, "Content-Length: ");
          gsize head = (gsize) (end - buffer->str) + 4;
          gsize body = length != NULL ? g_ascii_strtoull (length + 16, NULL, 10) : 0;

          if (buffer->len >= head + body)
            {
              guint status = (guint) g_ascii_strtoull (buffer->str + 9, NULL, 10);

              g_string_erase (buffer, 0, (gssize) (head + body));
              return status;
            }
        }
      n = g_socket_receive (socket, chunk, sizeof chunk, NULL, NULL);
      if (n <= 0)
        g_error ("the service closed the connection");
      g_string_append_len (buffer, chunk, n);
    }
}

static gpointer
submit_thread (gpointer user_data)
{
  Bench *bench = user_data;
  g_autoptr(GSocket) socket = connect_blocking (bench->port, 0);
  g_autoptr(GString) buffer = g_string_new (NULL);
  const char *body = "{\"name\":\"load\",\"action\":\"wait\",\"parameters\":{\"duration\":0}}";
  g_autofree char *request = g_strdup_printf ("POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              "Content-Type: application/json\r\n"
                                              "Content-Length: %zu\r\n\r\n%s",
                                              strlen (body), body);

  while ((guint) g_atomic_int_add (&bench->next_task, 1) < bench->n_tasks)
    {
      guint status;

      send_all (socket, request, strlen (request));
      status = read_response (socket, buffer);
      if (status != 201)
        g_error ("POST /tasks answered %u", status);
    }
  return NULL;
}

static guint
queue_active (GSocket *socket, GString *buffer)
{
  const char *request = "GET /queue HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  guint pending, running;
  const char *p;

  send_all (socket, request, strlen (request));
  g_string_truncate (buffer, 0);
  for (;;)
    {
      char chunk[16384];
      gssize n = g_socket_receive (socket, chunk, sizeof chunk, NULL, NULL);
      const char *end;

      if (n <= 0)
        g_error ("GET /queue: connection closed");
      g_string_append_len (buffer, chunk, n);
      end = strstr (buffer->str, "\r\n\r\n");
      if (end != NULL && strchr (end, '}') != NULL && g_str_has_suffix (buffer->str, "}"))
        break;
    }
  p = strstr (buffer->str, "\"pending\":");
  pending = p != NULL ? (guint) g_ascii_strtoull (p + 10, NULL, 10) : 1;
  /* "running" is the array of running ids */
  running = strstr (buffer->str, "\"running\":[]") != NULL ? 0 : 1;
  g_string_truncate (buffer, 0);
  return pending + running;
}

static gpointer
probe_thread (gpointer user_data)
{
  Bench *bench = user_data;
  g_autoptr(GSocket) socket = connect_blocking (bench->port, 0);
  g_autoptr(GString) buffer = g_string_new (NULL);
  const char *request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

  while (!g_atomic_int_get (&bench->done))
    {
      gint64 start = g_get_monotonic_time ();
      gdouble ms;

      send_all (socket, request, strlen (request));
      if (read_response (socket, buffer) != 200)
        g_error ("GET /health failed");
      ms = (g_get_monotonic_time () - start) / 1000.0;
      g_array_append_val (bench->latencies, ms);
      g_usleep (PROBE_INTERVAL_US);
    }
  return NULL;
}

static const char ws_request[] =
  "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/* the readers: one thread polls every socket and throws the bytes away */
static gpointer
ws_thread (gpointer user_data)
{
  Bench *bench = user_data;
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree GPollFD *fds = NULL;

  for (guint i = 0; i + 1 < bench->n_clients; i++)
    {
      GSocket *socket = connect_blocking (bench->port, 0);

      send_all (socket, ws_request, strlen (ws_request));
      g_socket_set_blocking (socket, FALSE);
      g_ptr_array_add (sockets, socket);
    }
  fds = g_new0 (GPollFD, sockets->len);
  for (guint i = 0; i < sockets->len; i++)
    {
      fds[i].fd = g_socket_get_fd (g_ptr_array_index (sockets, i));
      fds[i].events = G_IO_IN;
    }
  while (!g_atomic_int_get (&bench->done))
    {
      if (g_poll (fds, sockets->len, 100) <= 0)
        continue;
      for (guint i = 0; i < sockets->len; i++)
        {
          char chunk[65536];
          gssize n;

          if ((fds[i].revents & G_IO_IN) == 0)
            continue;
          n = g_socket_receive (g_ptr_array_index (sockets, i), chunk, sizeof chunk, NULL, NULL);
          if (n > 0)
            bench->events_read += (guint64) n;
        }
    }
  return NULL;
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
  Bench bench = { 0, };
  g_autoptr(GSocket) stalled = NULL;
  g_autoptr(GSocket) control = NULL;
  g_autoptr(GString) buffer = g_string_new (NULL);
  GThread *ws, *probe;
  GThread *submit[MAX_SUBMITTERS];
  guint n_submitters;
  gint64 start;
  gdouble seconds;
  GArray *l;

  if (argc < 2)
    {
      g_printerr ("usage: %s PORT [TASKS] [WS_CLIENTS]\n", argv[0]);
      return 2;
    }
  bench.port = (guint16) g_ascii_strtoull (argv[1], NULL, 10);
  bench.n_tasks = argc > 2 ? (guint) g_ascii_strtoull (argv[2], NULL, 10) : 10000;
  bench.n_clients = argc > 3 ? (guint) g_ascii_strtoull (argv[3], NULL, 10) : 200;
  n_submitters = argc > 4 ? CLAMP ((guint) g_ascii_strtoull (argv[4], NULL, 10), 1, MAX_SUBMITTERS) : 1;
  bench.latencies = g_array_new (FALSE, FALSE, sizeof (gdouble));

  /* the client that stops reading: a small window, never read */
  stalled = connect_blocking (bench.port, 4096);
  send_all (stalled, ws_request, strlen (ws_request));
  ws = g_thread_new ("ws", ws_thread, &bench);
  g_usleep (G_USEC_PER_SEC / 2);

  start = g_get_monotonic_time ();
  probe = g_thread_new ("probe", probe_thread, &bench);
  for (guint i = 0; i < n_submitters; i++)
    submit[i] = g_thread_new ("submit", submit_thread, &bench);
  for (guint i = 0; i < n_submitters; i++)
    g_thread_join (submit[i]);
  /* and until the queue has drained */
  control = connect_blocking (bench.port, 0);
  while (queue_active (control, buffer) > 0)
    g_usleep (20000);
  seconds = (g_get_monotonic_time () - start) / (gdouble) G_USEC_PER_SEC;
  g_atomic_int_set (&bench.done, 1);
  g_thread_join (probe);
  g_thread_join (ws);

  l = bench.latencies;
  g_array_sort (l, compare_double);
  g_print ("tasks: %u submitted over %u connection(s) and run in %.1f s (%.0f/s), "
           "%u WebSocket clients (one not reading), %.1f MB of events read\n",
           bench.n_tasks, n_submitters, seconds, bench.n_tasks / seconds, bench.n_clients,
           bench.events_read / 1e6);
  if (l->len == 0)
    return 1;
  g_print ("GET /health under load: %u probes, p50 %.2f ms, p99 %.2f ms, max %.2f ms "
           "(target p99 < 20 ms)\n", l->len,
           g_array_index (l, gdouble, l->len / 2),
           g_array_index (l, gdouble, MIN (l->len - 1, (guint) (l->len * 0.99))),
           g_array_index (l, gdouble, l->len - 1));
  g_array_unref (l);
  return 0;
}
