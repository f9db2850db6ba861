#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <stdio.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "engine/em-error.h"
#include "cli/em-ctl.h"

/* what GetEvents gives at most per call */
#define PAGE 1000
/* a read that failed while the service stayed on the bus is tried again,
 * waiting twice as long each time up to the longest */
#define RETRY_FIRST_MS 100
#define RETRY_LONGEST_MS 5000

/* watch --since: the event log read over D-Bus. Every change of LastEventSeq
 * asks for what follows the last seq printed, so events come in seq order with
 * no gap and no duplicate, whether they are old or new. Every call is
 * asynchronous, under the main loop from the start: Ctrl+C ends it at once,
 * while the service has not answered yet as well as between pages. */
typedef struct {
  EmDBusEngineManager1 *proxy;
  GMainLoop *loop;
  GCancellable *cancellable;
  gboolean json;
  guint64 last;
  gboolean watching;       /* the first catch-up is done: errors are transient */
  gboolean busy;           /* a read of the log is under way */
  gboolean again;          /* LastEventSeq moved meanwhile: read once more */
  gboolean check_restart;  /* the service came back: does its log reach last? */
  gboolean away;           /* the service left the bus and is not known back yet */
  /* the log last is a seq of (EventLogId); NULL from a service without one */
  char *log_id;
  gboolean new_log;        /* the service has another log: read it from its start */
  GVariant *last_event;    /* the event last printed, to find it again after a restart */
  guint retry_source;      /* a failed read waits to be tried again */
  guint retry_ms;          /* the next wait; 0 while reads succeed */
  int status;
} Follow;

static char *
format_time (const char *timestamp)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_iso8601 (timestamp, NULL);
  g_autoptr(GDateTime) local = NULL;

  if (time == NULL)
    return g_strdup ("--:--:--");
  local = g_date_time_to_local (time);
  return g_date_time_format (local, "%H:%M:%S");
}

/* what a text line says after the id, by event type */
static char *
describe (GVariant   *event,
          const char *type)
{
  g_autoptr(GVariant) result = NULL;
  gdouble progress = 0;
  gint64 attempt = 0;

  if (g_str_equal (type, "task_scheduled"))
    return g_strdup_printf ("%s “%s”", em_ctl_dict_get_string (event, "action"),
                            em_ctl_dict_get_string (event, "name"));
  if (g_str_equal (type, "task_failed"))
    return g_strdup (em_ctl_dict_get_string (event, "error"));
  if (g_str_equal (type, "task_retrying") && g_variant_lookup (event, "attempt", "x", &attempt))
    return g_strdup_printf (_("attempt %u failed: %s"), (guint) attempt,
                            em_ctl_dict_get_string (event, "error"));
  if (g_str_equal (type, "task_progress") && g_variant_lookup (event, "progress", "d", &progress))
    return g_strdup_printf ("%.0f %%", progress * 100.0);
  if (g_str_equal (type, "task_completed") &&
      (result = g_variant_lookup_value (event, "result", G_VARIANT_TYPE_VARDICT)) != NULL)
    return em_ctl_dict_to_json (result, FALSE);
  return NULL;
}

static void
print_event (Follow   *follow,
             GVariant *event,
             guint64   seq)
{
  const char *type = em_ctl_dict_get_string (event, "type");

  if (follow->json)
    {
      g_autofree char *line = em_ctl_dict_to_json (event, FALSE);

      g_print ("%s\n", line);
    }
  else
    {
      g_autofree char *time = format_time (em_ctl_dict_get_string (event, "timestamp"));
      g_autofree char *text = describe (event, type);
      const char *id = em_ctl_dict_get_string (event, "task_id");

      g_autofree char *line = em_ctl_event_text (type, id, text);

      g_print ("%-6" G_GUINT64_FORMAT " %s  %s\n", seq, time, line);
    }
}

/* @started_over: the log is another one, not the same one pruned */
static void
print_resync_line (Follow   *follow,
                   guint64   oldest,
                   gboolean  started_over)
{
  /* as the WebSocket's; the id comes from the bus, so it is escaped as JSON */
  if (follow->json && follow->log_id != NULL)
    {
      g_autoptr(GVariant) line = NULL;
      g_autofree char *text = NULL;
      GVariantBuilder builder;

      /* a builder keeps the WebSocket's order of the members */
      g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&builder, "{sv}", "type", g_variant_new_string ("resync_required"));
      g_variant_builder_add (&builder, "{sv}", "oldest_seq", g_variant_new_int64 ((gint64) oldest));
      g_variant_builder_add (&builder, "{sv}", "log_id", g_variant_new_string (follow->log_id));
      line = g_variant_ref_sink (g_variant_builder_end (&builder));
      text = em_ctl_dict_to_json (line, FALSE);
      g_print ("%s\n", text);
    }
  else if (follow->json)
    g_print ("{\"type\":\"resync_required\",\"oldest_seq\":%" G_GUINT64_FORMAT "}\n", oldest);
  else if (started_over)
    g_print (_("resync_required  the service's event log started over; it starts at seq %llu\n"),
             (unsigned long long) oldest);
  else
    g_print (_("resync_required  events were pruned; the log starts at seq %llu\n"),
             (unsigned long long) oldest);
}

static void
print_resync (Follow  *follow,
              guint64  oldest)
{
  print_resync_line (follow, oldest, FALSE);
  g_printerr (_("enginectl: the events after %llu are no longer kept; "
                "the oldest is %llu. Take a fresh snapshot "
                "(enginectl list) and go on from there.\n"),
              (unsigned long long) follow->last, (unsigned long long) oldest);
}

static void read_log (Follow *follow);

static void
stop (Follow *follow,
      int     status)
{
  follow->status = status;
  g_main_loop_quit (follow->loop);
}

static gboolean
retry_cb (gpointer user_data)
{
  Follow *follow = user_data;

  follow->retry_source = 0;
  read_log (follow);
  return G_SOURCE_REMOVE;
}

/* before watching, a failure ends it. After, it is tried again after a
 * while: waiting for the next change of LastEventSeq left the events up to
 * the current one unprinted for as long as the service had nothing new.
 * A service that left the bus is read again once it is back */
static void
read_failed (Follow *follow,
             GError *error)
{
  follow->busy = FALSE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  em_ctl_print_error (error);
  if (!follow->watching)
    {
      stop (follow, EM_CTL_EXIT_ERROR);
      return;
    }
  follow->retry_ms = follow->retry_ms == 0 ? RETRY_FIRST_MS
                                           : MIN (follow->retry_ms * 2, RETRY_LONGEST_MS);
  if (follow->retry_source == 0)
    follow->retry_source = g_timeout_add (follow->retry_ms, retry_cb, follow);
}

static void
read_done (Follow *follow)
{
  follow->busy = FALSE;
  follow->retry_ms = 0;
  if (!follow->watching)
    {
      follow->watching = TRUE;
      /* said once the log is read up to now; with the log, to resume in it */
      if (follow->log_id != NULL)
        g_printerr (_("Watching events after seq %llu of event log %s; press Ctrl+C to stop.\n"),
                    (unsigned long long) follow->last, follow->log_id);
      else
        g_printerr (_("Watching events after seq %llu; press Ctrl+C to stop.\n"),
                    (unsigned long long) follow->last);
    }
  if (follow->again)
    read_log (follow);
}

static void request_page (Follow *follow);

/* prints a page of the events after follow->last; a full one asks for the next */
static void
page_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Follow *follow = user_data;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  guint64 oldest = 0;
  guint64 before = follow->last;
  gsize n;

  if (!em_dbus_engine_manager1_call_get_events_finish (EM_DBUS_ENGINE_MANAGER1 (source), &events,
                                                       &oldest, result, &error))
    {
      read_failed (follow, error);
      return;
    }
  /* a page that came in just as Ctrl+C did is not printed after it */
  if (g_cancellable_is_cancelled (follow->cancellable))
    {
      follow->busy = FALSE;
      return;
    }

  /* any read can find a gap: a restart's retention may prune what we had
   * not read yet. From 0 too, as on the WebSocket: whoever builds its
   * state from the events must know the first ones are gone */
  if (follow->last + 1 < oldest)
    print_resync (follow, oldest);

  n = g_variant_n_children (events);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) event = g_variant_get_child_value (events, i);
      gint64 seq = 0;

      if (!g_variant_lookup (event, "seq", "x", &seq) || (guint64) seq <= follow->last)
        continue;
      print_event (follow, event, seq);
      follow->last = seq;
      g_clear_pointer (&follow->last_event, g_variant_unref);
      follow->last_event = g_variant_ref (event);
    }
  fflush (stdout);

  /* a page is shorter than asked for at the end of the log, and also where
   * its events are large (a tile scan's result): read on up to LastEventSeq */
  if (n >= PAGE ||
      (follow->last > before &&
       follow->last < em_dbus_engine_manager1_get_last_event_seq (follow->proxy)))
    request_page (follow);
  else
    read_done (follow);
}

static void
request_page (Follow *follow)
{
  em_dbus_engine_manager1_call_get_events (follow->proxy, follow->last, PAGE,
                                           G_DBUS_CALL_FLAGS_NONE, -1, follow->cancellable,
                                           page_cb, follow);
}

/* whether the service's log reaches the event follow->last: it holds it, or
 * pruned it; the reply's oldest is the oldest event it keeps. That event, or
 * the oldest kept when it was pruned: nothing only beyond the log */
static void
request_last (Follow              *follow,
              GAsyncReadyCallback  callback)
{
  em_dbus_engine_manager1_call_get_events (follow->proxy, follow->last - 1, 1,
                                           G_DBUS_CALL_FLAGS_NONE, -1, follow->cancellable,
                                           callback, follow);
}

/* whether @events (from the seq before follow->last) hold the event last
 * printed as it was: the log keeps each event as recorded, so another event
 * under that seq means another history; a pruned one cannot be compared */
static gboolean
same_last_event (Follow   *follow,
                 GVariant *events)
{
  g_autoptr(GVariant) first = g_variant_get_child_value (events, 0);
  gint64 seq = 0, printed = 0;

  /* follow->last moves without a print when a log is followed from its oldest */
  if (follow->last_event == NULL ||
      !g_variant_lookup (follow->last_event, "seq", "x", &printed) || (guint64) printed != follow->last ||
      !g_variant_lookup (first, "seq", "x", &seq) || (guint64) seq != follow->last)
    return TRUE;
  return g_variant_equal (first, follow->last_event);
}

/* whether GetEvents refused a seq beyond the service's last event */
static gboolean
beyond_log (const GError *error)
{
  return g_error_matches (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
}

/* the service's log is not the one follow->last is from: says so, with
 * @message, and reads it from @oldest, its oldest event */
static void
follow_from_oldest (Follow     *follow,
                    guint64     oldest,
                    const char *message)
{
  print_resync_line (follow, oldest, TRUE);
  g_printerr ("%s", message);
  follow->last = oldest - 1;
}

/* the service's log ends before follow->last */
static void
follow_short_log (Follow  *follow,
                  guint64  oldest)
{
  g_autofree char *message = NULL;

  oldest = MAX (oldest, 1);
  message = g_strdup_printf (_("enginectl: the service came back with an event log that ends "
                               "before seq %llu; following it from its oldest event, %llu. Take "
                               "a fresh snapshot (enginectl list) and go on from there.\n"),
                             (unsigned long long) follow->last, (unsigned long long) oldest);
  follow_from_oldest (follow, oldest, message);
}

/* the oldest event of a log that ends before follow->last - 1 */
static void
short_log_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Follow *follow = user_data;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  guint64 oldest = 1;

  if (!em_dbus_engine_manager1_call_get_events_finish (EM_DBUS_ENGINE_MANAGER1 (source), &events,
                                                       &oldest, result, &error))
    {
      follow->check_restart = TRUE;
      read_failed (follow, error);
      return;
    }
  follow_short_log (follow, oldest);
  request_page (follow);
}

/* a service back with a log that ends before what was printed (--in-memory,
 * another data directory) numbers its events from 1 again: reading after the
 * old seq would skip them all without a word */
static void
restarted_log_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Follow *follow = user_data;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  guint64 oldest = 1;

  if (!em_dbus_engine_manager1_call_get_events_finish (EM_DBUS_ENGINE_MANAGER1 (source), &events,
                                                       &oldest, result, &error))
    {
      /* a log that ends before follow->last - 1: its oldest seq is asked for */
      if (beyond_log (error))
        {
          em_dbus_engine_manager1_call_get_events (follow->proxy, 0, 1, G_DBUS_CALL_FLAGS_NONE,
                                                   -1, follow->cancellable, short_log_cb, follow);
          return;
        }
      /* asked again with the next read */
      follow->check_restart = TRUE;
      read_failed (follow, error);
      return;
    }
  if (g_variant_n_children (events) == 0)
    follow_short_log (follow, oldest);
  else if (!same_last_event (follow, events))
    {
      /* the same id, but not the same events: a database restored from a
       * backup, which went on from an older seq than ours */
      g_autofree char *message =
        g_strdup_printf (_("enginectl: the service came back with an event log whose seq %llu is "
                           "another event than the one printed; following it from its oldest "
                           "event, %llu. Take a fresh snapshot (enginectl list) and go on from "
                           "there.\n"),
                         (unsigned long long) follow->last, (unsigned long long) oldest);

      follow_from_oldest (follow, oldest, message);
    }
  request_page (follow);
}

/* the service has another log (EventLogId changed, or is not the one of
 * --log): its seqs say nothing of ours, even where it has reached them, so
 * it is read from its oldest event */
static void
new_log_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Follow *follow = user_data;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  guint64 oldest = 1;
  g_autofree char *message = NULL;

  if (!em_dbus_engine_manager1_call_get_events_finish (EM_DBUS_ENGINE_MANAGER1 (source), &events,
                                                       &oldest, result, &error))
    {
      follow->new_log = TRUE;
      read_failed (follow, error);
      return;
    }
  oldest = MAX (oldest, 1);
  message = g_strdup_printf (_("enginectl: the service's event log is now %s, not the one seq "
                               "%llu is from; following it from its oldest event, %llu. Take a "
                               "fresh snapshot (enginectl list) and go on from there.\n"),
                             follow->log_id, (unsigned long long) follow->last,
                             (unsigned long long) oldest);
  follow_from_oldest (follow, oldest, message);
  request_page (follow);
}

/* whether the service's log is still the one read: FALSE while its id is
 * not known yet (the service just came back), to wait for it */
static gboolean
check_log_id (Follow *follow)
{
  const char *current = em_dbus_engine_manager1_get_event_log_id (follow->proxy);

  if (follow->log_id == NULL)
    return TRUE;
  if (current == NULL || *current == '\0')
    return FALSE;
  if (!g_str_equal (current, follow->log_id))
    {
      g_free (follow->log_id);
      follow->log_id = g_strdup (current);
      follow->new_log = TRUE;
    }
  return TRUE;
}

/* reads the log after follow->last, one read at a time */
static void
read_log (Follow *follow)
{
  if (follow->busy)
    {
      follow->again = TRUE;
      return;
    }
  /* asked again once the service is back with its properties (name_owner_cb):
   * its signals may come first, and a read then would skip the checks */
  if (follow->away || !check_log_id (follow))
    return;
  g_clear_handle_id (&follow->retry_source, g_source_remove);
  follow->busy = TRUE;
  follow->again = FALSE;
  if (follow->new_log)
    {
      follow->new_log = FALSE;
      follow->check_restart = FALSE;
      em_dbus_engine_manager1_call_get_events (follow->proxy, 0, 1, G_DBUS_CALL_FLAGS_NONE, -1,
                                               follow->cancellable, new_log_cb, follow);
      return;
    }
  if (follow->check_restart && follow->last > 0)
    {
      follow->check_restart = FALSE;
      request_last (follow, restarted_log_cb);
      return;
    }
  follow->check_restart = FALSE;
  request_page (follow);
}

static void
last_event_seq_cb (GObject    *proxy,
                   GParamSpec *pspec,
                   Follow     *follow)
{
  if (em_dbus_engine_manager1_get_last_event_seq (follow->proxy) > follow->last)
    read_log (follow);
}

static void
name_owner_cb (GObject    *proxy,
               GParamSpec *pspec,
               Follow     *follow)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  if (owner == NULL)
    {
      follow->away = TRUE;
      g_printerr (_("enginectl: Engine Manager left the bus; waiting for it to return\n"));
      return;
    }
  follow->away = FALSE;
  g_printerr (_("enginectl: Engine Manager is back on the bus\n"));
  /* its properties are in by now: one without EventLogId names no log */
  if (em_dbus_engine_manager1_get_event_log_id (follow->proxy) == NULL)
    g_clear_pointer (&follow->log_id, g_free);
  follow->check_restart = TRUE;
  read_log (follow);
}

/* whether the service has recorded the event follow->last: from a seq it never
 * reached, every event up to that seq would be skipped without a word */
static void
since_reached_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Follow *follow = user_data;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  guint64 oldest = 0;

  if (!em_dbus_engine_manager1_call_get_events_finish (EM_DBUS_ENGINE_MANAGER1 (source), &events,
                                                       &oldest, result, &error))
    {
      if (!beyond_log (error))
        {
          read_failed (follow, error);
          return;
        }
      g_clear_pointer (&events, g_variant_unref);
    }
  if (events == NULL || g_variant_n_children (events) == 0)
    {
      g_clear_error (&error);
      g_set_error (&error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("--since %llu is ahead of the last recorded event; take SEQ from an earlier "
                     "“watch --since” line or from the LastEventSeq property"),
                   (unsigned long long) follow->last);
      read_failed (follow, error);
      return;
    }
  request_page (follow);
}

static void
ping_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Follow *follow = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  const char *current;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      read_failed (follow, error);
      return;
    }
  /* the first read: no change after the properties were first read is missed,
   * as a change meanwhile asks for another */
  current = em_dbus_engine_manager1_get_event_log_id (follow->proxy);
  if (current == NULL || *current == '\0')
    {
      /* a service that names no log: seqs are all there is */
      g_clear_pointer (&follow->log_id, g_free);
    }
  else if (follow->log_id != NULL && !g_str_equal (current, follow->log_id))
    {
      /* SEQ is another log's (--log): whether this one reached it says nothing */
      g_free (follow->log_id);
      follow->log_id = g_strdup (current);
      follow->busy = FALSE;
      follow->new_log = TRUE;
      read_log (follow);
      return;
    }
  else
    {
      g_free (follow->log_id);
      follow->log_id = g_strdup (current);
    }
  if (follow->last == 0)
    request_page (follow);
  else
    request_last (follow, since_reached_cb);
}

static void
proxy_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Follow *follow = user_data;
  g_autoptr(GError) error = NULL;

  follow->proxy = em_dbus_engine_manager1_proxy_new_for_bus_finish (result, &error);
  if (follow->proxy == NULL)
    {
      read_failed (follow, error);
      return;
    }
  g_signal_connect (follow->proxy, "notify::last-event-seq", G_CALLBACK (last_event_seq_cb), follow);
  g_signal_connect (follow->proxy, "notify::g-name-owner", G_CALLBACK (name_owner_cb), follow);
  /* a round trip, starting the service if it was not running */
  em_ctl_ping_async (follow->proxy, follow->cancellable, ping_cb, follow);
}

/* Ctrl+C ends the watch, whatever it was waiting for: the end a user asks for */
static gboolean
interrupt_cb (gpointer user_data)
{
  Follow *follow = user_data;

  g_cancellable_cancel (follow->cancellable);
  stop (follow, EM_CTL_EXIT_OK);
  return G_SOURCE_CONTINUE;
}

int
em_ctl_watch_since (guint64     since,
                    const char *log_id,
                    gboolean    json)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Follow follow = { NULL, loop, cancellable, json, since, FALSE, TRUE, FALSE, FALSE,
                    FALSE, g_strdup (log_id), FALSE, NULL, 0, 0, EM_CTL_EXIT_OK };
  guint sigint, sigterm;

  /* before the first call: Ctrl+C while the service starts or answers ends
   * the watch as it does later, not by death from SIGINT */
  sigint = g_unix_signal_add (SIGINT, interrupt_cb, &follow);
  sigterm = g_unix_signal_add (SIGTERM, interrupt_cb, &follow);
  /* properties followed from the start, so no change after the first read is missed */
  em_ctl_connect_async (TRUE, cancellable, proxy_cb, &follow);
  g_main_loop_run (loop);
  /* the cancelled calls end soon; their callbacks must not outlive @follow */
  while (follow.busy)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_clear_handle_id (&follow.retry_source, g_source_remove);

  if (follow.proxy != NULL)
    {
      g_signal_handlers_disconnect_by_data (follow.proxy, &follow);
      g_object_unref (follow.proxy);
    }
  g_free (follow.log_id);
  g_clear_pointer (&follow.last_event, g_variant_unref);
  return follow.status;
}
