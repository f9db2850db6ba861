#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <stdio.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "engine/em-error.h"
#include "cli/em-ctl.h"

/* what GetEvents gives at most per call; a shorter page means we are level */
#define PAGE 1000

/* watch --since: the event log read over D-Bus. Every change of LastEventSeq
 * asks for what follows the last seq printed, so events come in seq order with
 * no gap and no duplicate, whether they are old or new. */
typedef struct {
  EmDBusEngineManager1 *proxy;
  GMainLoop *loop;
  gboolean json;
  guint64 last;
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
  if (follow->json)
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

/* prints every event after follow->last, page by page */
static gboolean
catch_up (Follow  *follow,
          GError **error)
{
  gsize n;

  do
    {
      g_autoptr(GVariant) events = NULL;
      guint64 oldest = 0;

      if (!em_dbus_engine_manager1_call_get_events_sync (follow->proxy, follow->last, PAGE,
                                                         G_DBUS_CALL_FLAGS_NONE, -1,
                                                         &events, &oldest, NULL, error))
        return FALSE;

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
        }
      fflush (stdout);
    }
  while (n >= PAGE);

  return TRUE;
}

/* whether the service's log reaches the event follow->last: it holds it, or
 * pruned it; *out_oldest is the oldest event it keeps */
static gboolean
log_reaches_last (Follow   *follow,
                  gboolean *out_reaches,
                  guint64  *out_oldest,
                  GError  **error)
{
  g_autoptr(GVariant) events = NULL;

  *out_reaches = TRUE;
  *out_oldest = 1;
  if (follow->last == 0)
    return TRUE;
  /* that event, or the oldest kept when it was pruned: nothing only beyond the log */
  if (!em_dbus_engine_manager1_call_get_events_sync (follow->proxy, follow->last - 1, 1,
                                                     G_DBUS_CALL_FLAGS_NONE, -1,
                                                     &events, out_oldest, NULL, error))
    return FALSE;
  *out_reaches = g_variant_n_children (events) > 0;
  return TRUE;
}

/* whether the service has recorded the event follow->last: from a seq it never
 * reached, every event up to that seq would be skipped without a word */
static gboolean
since_reached (Follow  *follow,
               GError **error)
{
  gboolean reaches;
  guint64 oldest;

  if (!log_reaches_last (follow, &reaches, &oldest, error))
    return FALSE;
  if (reaches)
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("--since %llu is ahead of the last recorded event; take SEQ from an earlier "
                 "“watch --since” line or from the LastEventSeq property"),
               (unsigned long long) follow->last);
  return FALSE;
}

static void
follow_up (Follow *follow)
{
  g_autoptr(GError) error = NULL;

  /* a transient failure (the service restarting) is retried on the next change */
  if (!catch_up (follow, &error))
    em_ctl_print_error (error);
}

/* a service back with a log that ends before what was printed (--in-memory, another
 * data directory) numbers its events from 1 again: reading after the old seq
 * would skip them all without a word */
static void
restarted_log (Follow *follow)
{
  g_autoptr(GError) error = NULL;
  gboolean reaches;
  guint64 oldest;

  if (!log_reaches_last (follow, &reaches, &oldest, &error))
    {
      em_ctl_print_error (error);
      return;
    }
  if (reaches)
    return;
  print_resync_line (follow, oldest, TRUE);
  g_printerr (_("enginectl: the service came back with an event log that ends before "
                "seq %llu; following it from its oldest event, %llu. Take a fresh "
                "snapshot (enginectl list) and go on from there.\n"),
              (unsigned long long) follow->last, (unsigned long long) oldest);
  follow->last = oldest - 1;
}

static void
last_event_seq_cb (GObject    *proxy,
                   GParamSpec *pspec,
                   Follow     *follow)
{
  if (em_dbus_engine_manager1_get_last_event_seq (follow->proxy) > follow->last)
    follow_up (follow);
}

static void
name_owner_cb (GObject    *proxy,
               GParamSpec *pspec,
               Follow     *follow)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  if (owner == NULL)
    {
      g_printerr (_("enginectl: Engine Manager left the bus; waiting for it to return\n"));
      return;
    }
  g_printerr (_("enginectl: Engine Manager is back on the bus\n"));
  restarted_log (follow);
  follow_up (follow);
}

static gboolean
interrupt_cb (gpointer user_data)
{
  Follow *follow = user_data;

  g_main_loop_quit (follow->loop);
  return G_SOURCE_CONTINUE;
}

int
em_ctl_watch_since (guint64  since,
                    gboolean json)
{
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GError) error = NULL;
  Follow follow = { NULL, NULL, json, since };
  guint sigint, sigterm;

  /* properties followed from the start, so no change after the first read is missed */
  proxy = em_ctl_connect_with_properties (&error);
  if (proxy == NULL || !em_ctl_ping (proxy, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }
  follow.proxy = proxy;
  g_signal_connect (proxy, "notify::last-event-seq", G_CALLBACK (last_event_seq_cb), &follow);
  g_signal_connect (proxy, "notify::g-name-owner", G_CALLBACK (name_owner_cb), &follow);

  if (!since_reached (&follow, &error) || !catch_up (&follow, &error))
    {
      em_ctl_print_error (error);
      g_signal_handlers_disconnect_by_data (proxy, &follow);
      return EM_CTL_EXIT_ERROR;
    }
  loop = g_main_loop_new (NULL, FALSE);
  follow.loop = loop;
  sigint = g_unix_signal_add (SIGINT, interrupt_cb, &follow);
  sigterm = g_unix_signal_add (SIGTERM, interrupt_cb, &follow);
  /* said once Ctrl+C is ours to handle */
  g_printerr (_("Watching events after seq %llu; press Ctrl+C to stop.\n"),
              (unsigned long long) follow.last);
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);

  g_signal_handlers_disconnect_by_data (proxy, &follow);
  return EM_CTL_EXIT_OK;
}
