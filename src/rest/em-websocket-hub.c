#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-durable-feed.h"
#include "rest/em-coalescing-output-stream.h"
#include "rest/em-message-limit-input-stream.h"
#include "rest/em-problem.h"
#include "rest/em-rest-limits.h"
#include "rest/em-websocket-hub.h"

typedef struct {
  EmWebsocketHub            *hub;
  SoupWebsocketConnection   *conn;
  /* the stream libsoup handed over; closing the connection's own stream leaves
   * the socket open, so this one is closed when the client goes */
  GIOStream                 *base_stream;
  GInputStream              *input;
  EmCoalescingOutputStream  *output;
  gboolean                   dropped;
  /* resuming from ?since=: live events wait in @pending until the history
   * before them has been sent; @last_sent is the seq of the last frame sent */
  gboolean                   catching_up;
  /* the page of history being sent, from @page_next on; @page_asked: how
   * many events it was read for, @page_item: its events' mean size;
   * @page_cut: the store stopped it at CATCH_UP_PAGE_BYTES */
  GPtrArray                 *page;
  guint                      page_next;
  guint                      page_asked;
  gsize                      page_item;
  gboolean                   page_cut;
  /* the history is out; @pending drains, paced as the history was */
  gboolean                   history_done;
  gboolean                   reading;
  gboolean                   orphaned;
  GQueue                     pending;
  guint64                    pending_bytes;
  /* an event larger than the backlog limit was queued, or buffered: the
   * limit counts this much on top of it until that drained */
  guint64                    allowance;
  guint64                    pending_allowance;
  guint64                    last_sent;
  /* it resumed with the seq of another log: resync_required comes first */
  gboolean                   other_log;
  /* the last event before it joined: later ones reach it live, these only
   * through the history */
  guint64                    joined_seq;
  guint                      wait_id;
  /* live, @pending holds what a burst queued past the stream's share of the
   * backlog (references to the shared events, not copies); @turn is the
   * hub's turn the client was last judged in; the socket took
   * @stall_written bytes when last seen taking any, at @stall_since */
  guint64                    turn;
  guint64                    stall_written;
  gint64                     stall_since;
} Client;

struct _EmWebsocketHub
{
  GObject          parent_instance;

  EmEngineManager *manager;
  EmDurableFeed   *feed;
  GQueue           clients;
  guint64          max_backlog;
  guint            keepalive_seconds;
  guint            max_clients;
  gboolean         closed;
  /* counts main-loop turns that delivered events; @turn_id ends the current one */
  guint64          turn;
  guint            turn_id;
};

/* what ?since= (and &log=) asked for */
typedef struct {
  guint64  seq;
  gboolean other_log;
} Resume;

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

/* every frame the socket did not take yet: events, and the pongs and pings
 * libsoup writes beside them, so that pongs a client read earn it no room
 * for events it does not; libsoup queues a frame itself only once the stream
 * refuses it, at twice the backlog limit, which is over the limit already */
static guint64
client_backlog (Client *client)
{
  guint64 backlog = em_coalescing_output_stream_get_buffered (client->output);

  /* while catching up, the buffer has its own limit (client_buffer()) */
  return client->catching_up ? backlog : backlog + client->pending_bytes;
}

/* whether @extra more bytes would take the backlog past @limit; frames wait
 * for the end of the main-loop iteration before they are sent, so before a
 * client is judged, the socket gets what it can take */
static gboolean
client_over_limit (Client  *client,
                   guint64  extra,
                   guint64  limit)
{
  if (client_backlog (client) + extra <= limit)
    return FALSE;
  em_coalescing_output_stream_flush_nonblocking (client->output);
  return client_backlog (client) + extra > limit;
}

/* whether @client's backlog passed its limit with @extra more bytes. An event
 * larger than the limit (a tile scan's task_completed lists every tile)
 * counts as the limit, so it reaches a client that has nothing queued,
 * and until it drained the limit counts on top of it: what is judged is
 * what waits before an event */
static gboolean
client_over_backlog (Client  *client,
                     guint64  extra)
{
  guint64 limit = client->hub->max_backlog;

  if (client->allowance > 0 && !client_over_limit (client, 0, limit))
    client->allowance = 0;
  return client_over_limit (client, MIN (extra, limit), limit + client->allowance);
}

static void
client_allow (Client  *client,
              guint64  size)
{
  if (size > client->hub->max_backlog)
    client->allowance = MAX (client->allowance, size - client->hub->max_backlog);
}

static void
client_free (Client *client)
{
  g_clear_handle_id (&client->wait_id, g_source_remove);
  g_queue_clear_full (&client->pending, (GDestroyNotify) em_event_unref);
  g_clear_pointer (&client->page, g_ptr_array_unref);
  if (client->conn != NULL)
    g_signal_handlers_disconnect_by_data (client->conn, client);
  if (client->input != NULL)
    g_signal_handlers_disconnect_by_data (client->input, client);
  g_clear_object (&client->conn);
  g_clear_object (&client->input);
  g_clear_object (&client->output);
  if (client->base_stream != NULL)
    g_io_stream_close_async (client->base_stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_clear_object (&client->base_stream);
  /* a history read still running frees the rest when it returns */
  if (client->reading)
    {
      client->orphaned = TRUE;
      return;
    }
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

/* RFC 6455 registry: "try again later"; libsoup 3.2 has no name for it */
#define EM_WS_CLOSE_TRY_AGAIN_LATER 1013
/* the Retry-After of a handshake refused at the client limit */
#define WS_FULL_RETRY_AFTER_SECONDS "5"

/* libsoup 3.2 sends no close code under 3000 that it does not know, 1013
 * among them: it closes with 1002 (protocol error) instead. The close frame is
 * written here, and libsoup's, which follows it, dropped; libsoup then waits
 * for the client's close frame as usual. */
static void
client_close_try_again_later (Client     *client,
                              const char *reason)
{
  guint8 frame[4 + 123];
  gsize length = MIN (strlen (reason), sizeof frame - 4);

  frame[0] = 0x88;
  frame[1] = (guint8) (2 + length);
  frame[2] = EM_WS_CLOSE_TRY_AGAIN_LATER >> 8;
  frame[3] = EM_WS_CLOSE_TRY_AGAIN_LATER & 0xff;
  memcpy (frame + 4, reason, length);
  g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (client->output),
                                              frame, 4 + length, NULL, NULL);
  em_coalescing_output_stream_seal (client->output);
  soup_websocket_connection_close (client->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

static void
client_drop (Client     *client,
             gushort     code,
             const char *reason)
{
  client->dropped = TRUE;
  /* the events it was still to get are not sent now */
  g_queue_clear_full (&client->pending, (GDestroyNotify) em_event_unref);
  client->pending_bytes = 0;
  if (soup_websocket_connection_get_state (client->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  /* what the socket takes now still goes out; the close frame must not wait
   * behind the rest, which a slow client would take minutes to read */
  em_coalescing_output_stream_flush_nonblocking (client->output);
  em_coalescing_output_stream_discard_unsent (client->output);
  if (code == EM_WS_CLOSE_TRY_AGAIN_LATER)
    client_close_try_again_later (client, reason);
  else
    soup_websocket_connection_close (client->conn, code, reason);
  /* at shutdown the main loop may not turn again */
  em_coalescing_output_stream_flush_nonblocking (client->output);
}

static gboolean
client_is_open (Client *client)
{
  return !client->dropped && client->conn != NULL &&
         soup_websocket_connection_get_state (client->conn) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void
client_too_big_cb (EmMessageLimitInputStream *input,
                   gpointer                   user_data)
{
  Client *client = user_data;

  g_debug ("dropping a WebSocket client that sent a message over %d bytes",
           EM_REST_WS_MAX_INCOMING_MESSAGE);
  client_drop (client, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
}

/* libsoup answers a ping at once: a client that pings and does not read
 * fills its backlog with pongs, with no event to have it judged */
static void
client_ping_cb (EmMessageLimitInputStream *input,
                guint64                    length,
                gpointer                   user_data)
{
  Client *client = user_data;

  if (!client_is_open (client) || !client_over_backlog (client, frame_size (length)))
    return;
  g_debug ("dropping a WebSocket client that pings and does not read (%" G_GUINT64_FORMAT
           " bytes queued)", client_backlog (client));
  client_drop (client, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "backlog limit exceeded");
}

/* --- resuming with ?since=SEQ --- */

/* a page of history per read: at most CATCH_UP_PAGE events and, at the size
 * of the page before, about CATCH_UP_PAGE_BYTES of them. A task_completed
 * event carries the task's result (1.5 MB for a 10 000-tile scan): a
 * thousand such events read at once held hundreds of megabytes per client.
 * A page shorter than asked for, unless its bytes cut it short, means the
 * history is exhausted */
#define CATCH_UP_PAGE 1000
#define CATCH_UP_PAGE_BYTES (1024 * 1024)
#define CATCH_UP_FIRST_PAGE 16
#define CATCH_UP_GROWTH 8
/* while a client's backlog is above half its limit, history waits this long
 * before it looks again */
#define CATCH_UP_WAIT_MS 10

/* the seq of a frame of em_event_to_json_string(), which ends with "seq":N} */
static guint64
frame_seq (GBytes *frame)
{
  gsize length;
  const char *data = g_bytes_get_data (frame, &length);
  gsize end = length;
  gsize start;
  static const char key[] = "\"seq\":";

  if (end == 0 || data[end - 1] != '}')
    return 0;
  end--;
  start = end;
  while (start > 0 && g_ascii_isdigit (data[start - 1]))
    start--;
  if (start == end || start < sizeof key - 1 ||
      memcmp (data + start - (sizeof key - 1), key, sizeof key - 1) != 0)
    return 0;
  return g_ascii_strtoull (data + start, NULL, 10);
}

static void
client_buffer (Client  *client,
               EmEvent *event,
               guint64  size)
{
  guint64 limit = client->hub->max_backlog;

  /* an event larger than the limit is judged as client_over_backlog() does */
  if (client->pending_bytes + MIN (size, limit) > limit + client->pending_allowance)
    {
      g_debug ("dropping a WebSocket client that could not catch up");
      client_drop (client, EM_WS_CLOSE_TRY_AGAIN_LATER, "could not catch up");
      return;
    }
  if (size > limit)
    client->pending_allowance = MAX (client->pending_allowance, size - limit);
  client->pending_bytes += size;
  g_queue_push_tail (&client->pending, em_event_ref (event));
}

/* a write that fails (a client gone without reading) closes the connection
 * at once: nothing more may be sent to it, which libsoup would refuse with
 * a critical, and the catch-up stops there */
static gboolean
client_send (Client *client,
             GBytes *frame)
{
  if (!client_is_open (client))
    return FALSE;
  soup_websocket_connection_send_message (client->conn, SOUP_WEBSOCKET_DATA_TEXT, frame);
  return TRUE;
}

static gboolean client_wait_cb (gpointer user_data);

/* the history is out: what arrived meanwhile follows, without duplicates.
 * Live events are judged against the full backlog, so the client goes live
 * only with its backlog under half of it, as the history waits for;
 * until then the buffer drains at the pace the client reads, and keeps
 * taking live events up to its own limit */
static void
client_drain_pending (Client *client)
{
  EmEvent *event;

  client->history_done = TRUE;
  while ((event = g_queue_peek_head (&client->pending)) != NULL ||
         client_backlog (client) > client->hub->max_backlog / 2)
    {
      if (client_over_limit (client, 0, client->hub->max_backlog / 2))
        {
          client->wait_id = g_timeout_add (CATCH_UP_WAIT_MS, client_wait_cb, client);
          return;
        }
      if (event == NULL)
        break;
      g_queue_pop_head (&client->pending);
      client->pending_bytes -= frame_size (g_bytes_get_size (em_event_get_json_bytes (event)));
      if (client->pending_bytes <= client->hub->max_backlog)
        client->pending_allowance = 0;
      if (em_event_get_seq (event) > client->last_sent)
        {
          client->last_sent = em_event_get_seq (event);
          if (!client_send (client, em_event_get_json_bytes (event)))
            {
              em_event_unref (event);
              return;
            }
          client_allow (client, frame_size (g_bytes_get_size (em_event_get_json_bytes (event))));
        }
      em_event_unref (event);
    }
  client->pending_bytes = 0;
  client->pending_allowance = 0;
  client->catching_up = FALSE;
  g_debug ("WebSocket client caught up at seq %" G_GUINT64_FORMAT, client->last_sent);
}

static void client_read_history (Client *client);

/* a page goes out a frame at a time while the backlog is under half the
 * limit: sent at once, it would put the client over the limit it is judged
 * by at its next ping */
static void
client_send_page (Client *client)
{
  gboolean short_page;

  while (client->page_next < client->page->len)
    {
      GBytes *frame = g_ptr_array_index (client->page, client->page_next);
      guint64 seq = frame_seq (frame);

      if (client_over_limit (client, 0, client->hub->max_backlog / 2))
        {
          client->wait_id = g_timeout_add (CATCH_UP_WAIT_MS, client_wait_cb, client);
          return;
        }
      client->page_next++;
      if (seq != 0 && seq <= client->last_sent)
        continue;
      if (!client_send (client, frame))
        return;
      client_allow (client, frame_size (g_bytes_get_size (frame)));
      if (seq != 0)
        client->last_sent = seq;
    }
  short_page = client->page->len < client->page_asked && !client->page_cut;
  g_clear_pointer (&client->page, g_ptr_array_unref);

  /* past the event it joined at, the live events it buffered take over: a
   * history chasing the newest event would never get a short page while
   * events come as fast as it goes out, and the buffer would overflow */
  if (short_page || client->last_sent >= client->joined_seq)
    client_drain_pending (client);
  else
    client_read_history (client);
}

static gboolean client_live_wait (Client *client);

static gboolean
client_wait_cb (gpointer user_data)
{
  Client *client = user_data;

  if (!client->catching_up && client_is_open (client))
    return client_live_wait (client);
  if (client_is_open (client) && client_backlog (client) > client->hub->max_backlog / 2)
    return G_SOURCE_CONTINUE;
  client->wait_id = 0;
  if (!client_is_open (client))
    return G_SOURCE_REMOVE;
  if (client->page != NULL)
    client_send_page (client);
  else
    client_drain_pending (client);
  return G_SOURCE_REMOVE;
}

static void
send_resync (Client  *client,
             guint64  oldest)
{
  /* the id is 16 hex digits: nothing to escape */
  g_autofree char *text = g_strdup_printf ("{\"type\":\"resync_required\",\"oldest_seq\":%"
                                           G_GUINT64_FORMAT ",\"log_id\":\"%s\"}", oldest,
                                           em_engine_manager_get_event_log_id (client->hub->manager));
  g_autoptr(GBytes) frame = g_bytes_new_take (g_steal_pointer (&text), strlen (text));

  client_send (client, frame);
}

static void
history_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Client *client = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  guint64 oldest = 0;
  gboolean cut = FALSE;

  client->reading = FALSE;
  frames = em_engine_manager_read_events_finish (EM_ENGINE_MANAGER (source), result, &oldest, &cut,
                                                 &error);
  if (client->orphaned)
    {
      g_free (client);
      return;
    }
  if (!client_is_open (client))
    return;
  if (frames == NULL)
    {
      g_debug ("cannot read the event history: %s", error->message);
      client_drop (client, EM_WS_CLOSE_TRY_AGAIN_LATER, "event history unavailable");
      return;
    }

  /* events after the one asked for were pruned, or the seq was another
   * log's: say so, then send what is left */
  if (client->other_log || client->last_sent + 1 < oldest)
    {
      client->other_log = FALSE;
      send_resync (client, oldest);
      client->last_sent = oldest - 1;
    }
  client->page = g_steal_pointer (&frames);
  client->page_next = 0;
  client->page_cut = cut;
  if (client->page->len > 0)
    {
      gsize bytes = 0;

      for (guint i = 0; i < client->page->len; i++)
        bytes += g_bytes_get_size (g_ptr_array_index (client->page, i));
      client->page_item = MAX (bytes / client->page->len, 1);
    }
  client_send_page (client);
}

static void
client_synced_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Client *client = user_data;
  g_autoptr(GError) error = NULL;
  gboolean synced = em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error);

  client->reading = FALSE;
  if (client->orphaned)
    {
      g_free (client);
      return;
    }
  if (!client_is_open (client))
    return;
  if (!synced)
    {
      g_debug ("cannot record the events to resume from: %s", error->message);
      client_drop (client, EM_WS_CLOSE_TRY_AGAIN_LATER, "event history unavailable");
      return;
    }
  client_read_history (client);
}

/* the sizes ahead are unknown: a page grows at most CATCH_UP_GROWTH times */
static guint
catch_up_length (Client *client)
{
  gsize length = CATCH_UP_FIRST_PAGE;

  if (client->page_item > 0)
    length = MIN (CATCH_UP_PAGE_BYTES / client->page_item + 1,
                  (gsize) client->page_asked * CATCH_UP_GROWTH);
  return (guint) CLAMP (length, 1, CATCH_UP_PAGE);
}

static void
client_read_history (Client *client)
{
  EmEngineManager *manager = client->hub->manager;

  client->reading = TRUE;
  /* the history holds only recorded events, and the feed passed the ones not
   * yet recorded when the client joined to nobody: ask the journal for them */
  if (em_engine_manager_get_committed_event_seq (manager) < client->joined_seq)
    {
      em_engine_manager_sync_async (manager, NULL, client_synced_cb, client);
      return;
    }
  client->page_asked = catch_up_length (client);
  /* the store stops at the bytes too: a page sized by small events before
   * read as many large ones, a hundred MiB and more */
  em_engine_manager_read_events_async (manager, client->last_sent, client->page_asked,
                                       CATCH_UP_PAGE_BYTES, NULL, history_cb, client);
}

/* --- live bursts --- */

/* whether a frame of @size would take the stream past the backlog limit,
 * after the socket took what it could; an empty stream takes any frame */
static gboolean
client_stream_full (Client  *client,
                    guint64  size)
{
  guint64 limit = client->hub->max_backlog;

  if (em_coalescing_output_stream_get_buffered (client->output) == 0 ||
      em_coalescing_output_stream_get_buffered (client->output) + size <= limit)
    return FALSE;
  em_coalescing_output_stream_flush_nonblocking (client->output);
  return em_coalescing_output_stream_get_buffered (client->output) > 0 &&
         em_coalescing_output_stream_get_buffered (client->output) + size > limit;
}

/* what waits in @pending goes out as the socket takes it: the stream holds
 * at most a backlog of copies, however large the burst */
static void
client_drain_live (Client *client)
{
  EmEvent *event;

  while ((event = g_queue_peek_head (&client->pending)) != NULL)
    {
      GBytes *bytes = em_event_get_json_bytes (event);
      guint64 size = frame_size (g_bytes_get_size (bytes));

      if (client_stream_full (client, size))
        {
          /* the time to take something counts from here */
          if (client->wait_id == 0)
            {
              client->stall_written = em_coalescing_output_stream_get_written (client->output);
              client->stall_since = g_get_monotonic_time ();
              client->wait_id = g_timeout_add (CATCH_UP_WAIT_MS, client_wait_cb, client);
            }
          return;
        }
      g_queue_pop_head (&client->pending);
      client->pending_bytes -= size;
      if (!client_send (client, bytes))
        {
          em_event_unref (event);
          return;
        }
      em_event_unref (event);
    }
}

/* a client over its limit whose socket took nothing for EM_REST_WS_STALL_MS
 * has stopped reading; one that reads gets the rest once the stream is down
 * to half the limit */
static gboolean
client_live_wait (Client *client)
{
  guint64 written = em_coalescing_output_stream_get_written (client->output);
  gint64 now = g_get_monotonic_time ();

  if (written != client->stall_written)
    {
      client->stall_written = written;
      client->stall_since = now;
    }
  else if (client_backlog (client) > client->hub->max_backlog &&
           now - client->stall_since >= EM_REST_WS_STALL_MS * G_TIME_SPAN_MILLISECOND)
    {
      client->wait_id = 0;
      g_debug ("dropping a WebSocket client that stopped reading in a burst (%" G_GUINT64_FORMAT
               " bytes queued)", client_backlog (client));
      client_drop (client, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "backlog limit exceeded");
      return G_SOURCE_REMOVE;
    }
  /* under the limit, all that waits fits in the stream */
  if (em_coalescing_output_stream_get_buffered (client->output) > client->hub->max_backlog / 2 &&
      client_backlog (client) > client->hub->max_backlog)
    return G_SOURCE_CONTINUE;
  client->wait_id = 0;
  client_drain_live (client);
  return G_SOURCE_REMOVE;
}

/* a live event: straight into the stream, or behind what waits already */
static void
client_queue_live (Client  *client,
                   EmEvent *event,
                   guint64  size)
{
  if (client->pending.length == 0 && !client_stream_full (client, size))
    {
      soup_websocket_connection_send_message (client->conn, SOUP_WEBSOCKET_DATA_TEXT,
                                              em_event_get_json_bytes (event));
      return;
    }
  g_queue_push_tail (&client->pending, em_event_ref (event));
  client->pending_bytes += size;
  /* a waiting client is drained by its timer: not a send per event */
  if (client->wait_id == 0)
    client_drain_live (client);
}

static gboolean
turn_end_cb (gpointer user_data)
{
  EmWebsocketHub *self = user_data;

  self->turn_id = 0;
  return G_SOURCE_REMOVE;
}

/* a durable event: a client never sees one that a crash could take back */
static void
deliver_cb (EmEvent  *event,
            gpointer  user_data)
{
  EmWebsocketHub *self = user_data;
  GBytes *bytes;
  guint64 size;
  gboolean burst;
  gboolean over;
  GList *link;

  if (self->clients.length == 0)
    return;

  /* serialized once; every client's frame is built from the same bytes */
  bytes = em_event_get_json_bytes (event);
  size = frame_size (g_bytes_get_size (bytes));
  if (self->turn_id == 0)
    {
      self->turn++;
      self->turn_id = g_idle_add_full (G_PRIORITY_DEFAULT, turn_end_cb, self, NULL);
    }

  for (link = self->clients.head; link != NULL;)
    {
      Client *client = link->data;

      link = link->next;
      if (client->dropped ||
          soup_websocket_connection_get_state (client->conn) != SOUP_WEBSOCKET_STATE_OPEN)
        continue;

      if (client->catching_up)
        {
          client_buffer (client, event, size);
          continue;
        }
      /* judged at the first event of a turn, by what was queued before it:
       * the events one turn delivers (a batch makes 5 000) are a burst that
       * a reading client takes as fast as it reads, and may pass the limit
       * by up to EM_REST_WS_MAX_BURST; until it is back under the limit,
       * the limit counts the burst on top of it */
      burst = client->turn == self->turn;
      client->turn = self->turn;
      if (!burst)
        over = client_over_backlog (client, size);
      else
        over = client_backlog (client) + size > self->max_backlog + EM_REST_WS_MAX_BURST;
      if (over)
        {
          g_debug ("dropping a WebSocket client that stopped reading (%" G_GUINT64_FORMAT
                   " bytes queued)", client_backlog (client));
          client_drop (client, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "backlog limit exceeded");
          continue;
        }
      client_allow (client, size);
      client_queue_live (client, event, size);
      if (burst && client_backlog (client) > self->max_backlog)
        client->allowance = MAX (client->allowance, client_backlog (client) - self->max_backlog);
    }
}

static gboolean
wanted_cb (gpointer user_data)
{
  EmWebsocketHub *self = user_data;

  return self->clients.length > 0;
}

static void
drop_all (EmWebsocketHub *self,
          gushort         code,
          const char     *reason)
{
  for (GList *link = self->clients.head; link != NULL;)
    {
      Client *client = link->data;

      link = link->next;
      client_drop (client, code, reason);
    }
}

/* the store fell so far behind that EM_REST_WS_MAX_BURST of events waits for
 * it: the clients resume with ?since= once it has caught up */
static void
overflow_cb (gpointer user_data)
{
  g_debug ("dropping every WebSocket client: the task store is a backlog behind");
  drop_all (user_data, EM_WS_CLOSE_TRY_AGAIN_LATER, "events are not recorded yet");
}

static const EmDurableFeedFuncs feed_funcs = { deliver_cb, wanted_cb, overflow_cb };

static void
wrote_informational_cb (SoupServerMessage *msg,
                        gpointer           user_data)
{
  EmWebsocketHub *self = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GOutputStream) output = NULL;
  g_autoptr(GIOStream) wrapped = NULL;
  Client *client;
  Resume *since = g_object_get_data (G_OBJECT (msg), "em-ws-since");

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;

  /* a peer that vanished leaves our pings unacknowledged: let the kernel give up */
  if (socket != NULL)
    {
      g_socket_set_option (socket, IPPROTO_TCP, TCP_USER_TIMEOUT,
                           EM_REST_WS_TCP_USER_TIMEOUT_MS, NULL);
      g_socket_set_option (socket, SOL_SOCKET, SO_SNDBUF, EM_REST_WS_SEND_BUFFER, NULL);
      /* the cork the HTTP response had is lifted, which also sends the 101;
       * Nagle is off already (set on the listening socket): events are small
       * frames, and the stream coalesces what one iteration writes */
      g_socket_set_option (socket, IPPROTO_TCP, TCP_CORK, 0, NULL);
      /* the HTTP idle timeout does not apply: a quiet event stream is normal,
       * and keepalive pings find dead peers */
      g_socket_set_timeout (socket, 0);
    }

  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;
  if (self->closed)
    {
      g_io_stream_close_async (stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      return;
    }

  /* the hub drops a client past its backlog limit, which bounds the buffer;
   * the stream's own limit is only a safety net */
  output = em_coalescing_output_stream_new (g_io_stream_get_output_stream (stream),
                                            MIN (self->max_backlog, G_MAXSIZE / 2) * 2);
  g_filter_output_stream_set_close_base_stream (G_FILTER_OUTPUT_STREAM (output), FALSE);
  /* libsoup bounds each frame, not the message its fragments make up */
  input = em_message_limit_input_stream_new (g_io_stream_get_input_stream (stream),
                                             EM_REST_WS_MAX_INCOMING_MESSAGE,
                                             EM_REST_WS_MAX_DISCARDED);
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (input), FALSE);
  wrapped = g_simple_io_stream_new (input, output);

  client = g_new0 (Client, 1);
  client->hub = self;
  client->base_stream = g_steal_pointer (&stream);
  client->input = g_object_ref (input);
  client->output = EM_COALESCING_OUTPUT_STREAM (g_object_ref (output));
  client->conn = soup_websocket_connection_new (wrapped, soup_server_message_get_uri (msg),
                                                SOUP_WEBSOCKET_CONNECTION_SERVER,
                                                NULL, NULL, NULL);
  /* the input stream passes on no frame this large; a second guard */
  soup_websocket_connection_set_max_incoming_payload_size (client->conn,
                                                           EM_REST_WS_MAX_INCOMING_MESSAGE);
  soup_websocket_connection_set_keepalive_interval (client->conn, self->keepalive_seconds);
  g_signal_connect (client->conn, "closed", G_CALLBACK (client_closed_cb), client);
  g_signal_connect (client->conn, "message", G_CALLBACK (client_message_cb), client);
  g_signal_connect (input, "too-big", G_CALLBACK (client_too_big_cb), client);
  g_signal_connect (input, "ping", G_CALLBACK (client_ping_cb), client);
  g_queue_init (&client->pending);
  g_queue_push_tail (&self->clients, client);
  g_debug ("WebSocket client connected (%u in all)", self->clients.length);

  /* live events are buffered from now on, so history read next meets them */
  if (since != NULL)
    {
      client->catching_up = TRUE;
      client->last_sent = since->seq;
      client->other_log = since->other_log;
      client->joined_seq = em_engine_manager_get_last_event_seq (self->manager);
      client_read_history (client);
    }
}

/* ?since=SEQ: the last seq the client has; 0 asks for everything retained.
 * &log=ID: the log that seq is from; another log's seq means nothing here,
 * whether or not this one has reached it, so it reads this one from the start */
static gboolean
parse_since (EmWebsocketHub     *self,
             SoupServerMessage  *msg,
             GHashTable         *query,
             Resume            **out_since)
{
  const char *text = query != NULL ? g_hash_table_lookup (query, "since") : NULL;
  const char *log = query != NULL ? g_hash_table_lookup (query, "log") : NULL;
  guint64 last = em_engine_manager_get_last_event_seq (self->manager);
  guint64 since;

  *out_since = NULL;
  if (log != NULL && *log == '\0')
    {
      em_problem_respond (msg, 400, NULL,
                          _("log: must be an event log id, as the Event-Log-Id header gives it"));
      return FALSE;
    }
  if (log != NULL && text == NULL)
    {
      em_problem_respond (msg, 400, NULL, _("log: names the log of since’s seq; give since too"));
      return FALSE;
    }
  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &since, NULL))
    {
      em_problem_respond (msg, 400, NULL, _("since: must be an event seq, an integer ≥ 0"));
      return FALSE;
    }
  if (log != NULL && !g_str_equal (log, em_engine_manager_get_event_log_id (self->manager)))
    {
      *out_since = g_new0 (Resume, 1);
      (*out_since)->other_log = TRUE;
      return TRUE;
    }
  if (since > last)
    {
      em_problem_respond_printf (msg, 400,
                                 _("since: %llu is ahead of the last event (%llu)"),
                                 (unsigned long long) since, (unsigned long long) last);
      return FALSE;
    }
  *out_since = g_new0 (Resume, 1);
  (*out_since)->seq = since;
  return TRUE;
}

void
em_websocket_hub_handle (EmWebsocketHub    *self,
                         SoupServerMessage *msg,
                         GHashTable        *query)
{
  g_autoptr(GError) error = NULL;
  Resume *since = NULL;

  g_return_if_fail (EM_IS_WEBSOCKET_HUB (self));

  if (self->closed)
    {
      em_problem_respond (msg, 503, NULL, _("the service is shutting down"));
      return;
    }
  if (!soup_websocket_server_check_handshake (msg, NULL, NULL, NULL, &error))
    {
      SoupMessageHeaders *request = soup_server_message_get_request_headers (msg);
      const char *version = soup_message_headers_get_one (request, "Sec-WebSocket-Version");

      /* RFC 6455 §4.4: a client of another version learns which one we speak */
      if (version != NULL && g_strcmp0 (version, "13") != 0)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      "Sec-WebSocket-Version", "13");
      em_problem_respond_printf (msg, 400, _("upgrade: not a WebSocket handshake: %s"),
                                 error->message);
      return;
    }
  /* a GET with a body is no handshake a client means (RFC 6455 §4.1), and a
   * chunked one's answer would lose its "Connection: Upgrade" to the close
   * that ends such a request */
  if (soup_message_headers_get_encoding (soup_server_message_get_request_headers (msg)) ==
        SOUP_ENCODING_CHUNKED ||
      soup_server_message_get_request_body (msg)->length > 0)
    {
      em_problem_respond (msg, 400, NULL, _("upgrade: a WebSocket handshake has no body"));
      return;
    }
  /* a client in its close handshake is gone but for its socket (its backlog is
   * dropped); counting it until the handshake ends, 5 s for one that does not
   * answer, would refuse the reconnects that follow a mass close; they are
   * counted out only when the list is long enough to matter */
  if (self->clients.length >= self->max_clients &&
      em_websocket_hub_get_n_clients (self) >= self->max_clients)
    {
      em_problem_respond_printf (msg, 503, _("upgrade: too many WebSocket clients (limit %u)"),
                                 self->max_clients);
      /* a place frees only as a client leaves, which a second rarely sees */
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Retry-After", WS_FULL_RETRY_AFTER_SECONDS);
      return;
    }
  if (query != NULL)
    {
      GHashTableIter iter;
      const char *key;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
        {
          if (!g_str_equal (key, "since") && !g_str_equal (key, "log") &&
              !g_str_equal (key, "access_token"))
            {
              g_autofree char *quoted = em_clip_for_message (key);

              em_problem_respond_printf (msg, 400,
                                         _("%s: unknown query parameter; use since, log or access_token"),
                                         quoted);
              return;
            }
        }
    }
  if (!parse_since (self, msg, query, &since))
    return;
  /* the server asked for a refusal to end the connection; this is no refusal */
  soup_message_headers_remove (soup_server_message_get_response_headers (msg), "Connection");
  /* the log the stream's seqs belong to, for a later ?since=SEQ&log=ID */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Event-Log-Id",
                                em_engine_manager_get_event_log_id (self->manager));
  /* no extensions: a per-message deflate would give each client its own bytes */
  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    {
      g_free (since);
      return;
    }
  if (since != NULL)
    g_object_set_data_full (G_OBJECT (msg), "em-ws-since", since, g_free);

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

gboolean
em_websocket_hub_is_flushing (EmWebsocketHub *self)
{
  g_return_val_if_fail (EM_IS_WEBSOCKET_HUB (self), FALSE);

  for (GList *link = self->clients.head; link != NULL; link = link->next)
    {
      Client *client = link->data;

      if (client->output != NULL && em_coalescing_output_stream_get_buffered (client->output) > 0)
        return TRUE;
    }
  return FALSE;
}

/* events wait for the journal once for all clients: as many as one
 * submission makes (a client's backlog may not hold them, see deliver_cb) */
static guint64
feed_max_held (guint64 max_backlog)
{
  return MAX (max_backlog, EM_REST_WS_MAX_BURST);
}

void
em_websocket_hub_set_limits (EmWebsocketHub *self,
                             guint64         max_backlog,
                             guint           keepalive_seconds,
                             guint           max_clients)
{
  g_return_if_fail (EM_IS_WEBSOCKET_HUB (self));
  self->max_backlog = max_backlog;
  if (self->feed != NULL)
    em_durable_feed_set_max_held_bytes (self->feed, feed_max_held (max_backlog));
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
  g_clear_pointer (&self->feed, em_durable_feed_free);
  drop_all (self, code, reason);
}

static void
em_websocket_hub_dispose (GObject *object)
{
  EmWebsocketHub *self = EM_WEBSOCKET_HUB (object);
  Client *client;

  g_clear_pointer (&self->feed, em_durable_feed_free);
  g_clear_handle_id (&self->turn_id, g_source_remove);
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
  self->feed = em_durable_feed_new (manager, feed_max_held (self->max_backlog), &feed_funcs, self);
  return self;
}
