#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "cli/em-ctl.h"

typedef struct {
  GMainLoop *loop;
  gboolean json;
  EmDBusEngineManager1 *proxy;
  GCancellable *cancellable;
  gboolean starting;  /* connecting or in the first round trip */
  int status;
} Watch;

/* one line per event: JSON with the WebSocket event's field names (the bus
 * signals carry no seq or timestamp; --since has them), or text */
static void
print_event (Watch      *watch,
             const char *type,
             const char *id,
             JsonObject *members,
             const char *text)
{
  if (watch->json)
    {
      g_autoptr(JsonObject) object = json_object_new ();
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
      g_autofree char *line = NULL;

      json_object_set_string_member (object, "type", type);
      if (id != NULL)
        json_object_set_string_member (object, "task_id", id);
      if (members != NULL)
        {
          JsonObjectIter iter;
          const char *key;
          JsonNode *member;

          json_object_iter_init_ordered (&iter, members);
          while (json_object_iter_next_ordered (&iter, &key, &member))
            json_object_set_member (object, key, json_node_copy (member));
        }
      json_node_set_object (root, object);
      line = em_ctl_node_to_json (root, FALSE);
      g_print ("%s\n", line);
    }
  else
    {
      g_autoptr(GDateTime) now = g_date_time_new_now_local ();
      g_autofree char *time = g_date_time_format (now, "%H:%M:%S");

      g_autofree char *line = em_ctl_event_text (type, id, text);

      g_print ("%s  %s\n", time, line);
    }

  /* one line per event, even into a pipe */
  fflush (stdout);
}

static void
scheduled_cb (EmDBusEngineManager1 *proxy,
              const char           *id,
              const char           *name,
              const char           *action,
              Watch                *watch)
{
  g_autoptr(JsonObject) members = json_object_new ();
  g_autofree char *text = g_strdup_printf ("%s “%s”", action, name);

  json_object_set_string_member (members, "name", name);
  json_object_set_string_member (members, "action", action);
  print_event (watch, "task_scheduled", id, members, text);
}

static void
started_cb (EmDBusEngineManager1 *proxy,
            const char           *id,
            Watch                *watch)
{
  print_event (watch, "task_started", id, NULL, NULL);
}

static void
progress_cb (EmDBusEngineManager1 *proxy,
             const char           *id,
             gdouble               progress,
             Watch                *watch)
{
  g_autoptr(JsonObject) members = json_object_new ();
  g_autofree char *text = g_strdup_printf ("%.0f %%", progress * 100.0);

  json_object_set_double_member (members, "progress", progress);
  print_event (watch, "task_progress", id, members, text);
}

static void
completed_cb (EmDBusEngineManager1 *proxy,
              const char           *id,
              GVariant             *result,
              Watch                *watch)
{
  g_autoptr(JsonObject) members = json_object_new ();
  JsonNode *node = em_ctl_dict_to_node (result);
  g_autofree char *text = em_ctl_node_to_json (node, FALSE);

  json_object_set_member (members, "result", node);
  print_event (watch, "task_completed", id, members, text);
}

static void
failed_cb (EmDBusEngineManager1 *proxy,
           const char           *id,
           const char           *error,
           Watch                *watch)
{
  g_autoptr(JsonObject) members = json_object_new ();

  json_object_set_string_member (members, "error", error);
  print_event (watch, "task_failed", id, members, error);
}

static void
cancelled_cb (EmDBusEngineManager1 *proxy,
              const char           *id,
              Watch                *watch)
{
  print_event (watch, "task_cancelled", id, NULL, NULL);
}

static void
retrying_cb (EmDBusEngineManager1 *proxy,
             const char           *id,
             guint                 attempt,
             const char           *error,
             Watch                *watch)
{
  g_autoptr(JsonObject) members = json_object_new ();
  g_autofree char *text = g_strdup_printf (_("attempt %u failed: %s"), attempt, error);

  json_object_set_int_member (members, "attempt", attempt);
  json_object_set_string_member (members, "error", error);
  print_event (watch, "task_retrying", id, members, text);
}

static void
queue_paused_cb (EmDBusEngineManager1 *proxy,
                 Watch                *watch)
{
  print_event (watch, "queue_paused", NULL, NULL, NULL);
}

static void
queue_resumed_cb (EmDBusEngineManager1 *proxy,
                  Watch                *watch)
{
  print_event (watch, "queue_resumed", NULL, NULL, NULL);
}

static void
name_owner_cb (GObject    *proxy,
               GParamSpec *pspec,
               Watch      *watch)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  /* keep watching: a restarted service is picked up by the same match rules */
  if (owner == NULL)
    g_printerr (_("enginectl: Engine Manager left the bus; waiting for it to return\n"));
  else
    g_printerr (_("enginectl: Engine Manager is back on the bus\n"));
}

/* Ctrl+C ends the watch, also while the service has not answered yet */
static gboolean
interrupt_cb (gpointer user_data)
{
  Watch *watch = user_data;

  g_cancellable_cancel (watch->cancellable);
  g_main_loop_quit (watch->loop);
  return G_SOURCE_CONTINUE;
}

static void
start_failed (Watch  *watch,
              GError *error)
{
  watch->starting = FALSE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  em_ctl_print_error (error);
  watch->status = EM_CTL_EXIT_ERROR;
  g_main_loop_quit (watch->loop);
}

static void
ping_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Watch *watch = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      start_failed (watch, error);
      return;
    }
  watch->starting = FALSE;
  if (g_cancellable_is_cancelled (watch->cancellable))
    return;
  g_printerr (_("Watching task events; press Ctrl+C to stop.\n"));
}

static void
proxy_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Watch *watch = user_data;
  g_autoptr(GError) error = NULL;
  EmDBusEngineManager1 *proxy;

  watch->proxy = proxy = em_dbus_engine_manager1_proxy_new_for_bus_finish (result, &error);
  if (proxy == NULL)
    {
      start_failed (watch, error);
      return;
    }
  g_signal_connect (proxy, "task-scheduled", G_CALLBACK (scheduled_cb), watch);
  g_signal_connect (proxy, "task-started", G_CALLBACK (started_cb), watch);
  g_signal_connect (proxy, "task-progress", G_CALLBACK (progress_cb), watch);
  g_signal_connect (proxy, "task-completed", G_CALLBACK (completed_cb), watch);
  g_signal_connect (proxy, "task-failed", G_CALLBACK (failed_cb), watch);
  g_signal_connect (proxy, "task-cancelled", G_CALLBACK (cancelled_cb), watch);
  g_signal_connect (proxy, "task-retrying", G_CALLBACK (retrying_cb), watch);
  g_signal_connect (proxy, "queue-paused", G_CALLBACK (queue_paused_cb), watch);
  g_signal_connect (proxy, "queue-resumed", G_CALLBACK (queue_resumed_cb), watch);
  g_signal_connect (proxy, "notify::g-name-owner", G_CALLBACK (name_owner_cb), watch);

  /* a round trip, so the match rules are in place before we say we are
   * watching, and the service is started if it was not running */
  em_ctl_ping_async (proxy, watch->cancellable, ping_cb, watch);
}

/* the form the service gives its event log ids in: 16 lowercase hex digits */
static gboolean
is_event_log_id (const char *text)
{
  return strlen (text) == 16 && text[strspn (text, "0123456789abcdef")] == '\0';
}

int
em_ctl_watch (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("watch");
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(GError) error = NULL;
  Watch watch = { NULL, FALSE, NULL, NULL, FALSE, EM_CTL_EXIT_OK };
  g_auto(GStrv) since_args = NULL;
  g_auto(GStrv) log_args = NULL;
  const char *since = NULL;
  const char *log_id = NULL;
  guint64 since_seq = 0;
  guint sigint, sigterm;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &watch.json,
      N_("Print each event as one line of JSON, with the WebSocket event’s field names"), NULL },
    { "since", 's', 0, G_OPTION_ARG_FILENAME_ARRAY, &since_args,
      N_("First print every event after SEQ from the service’s event log, then the live "
         "ones, each with its seq"), N_("SEQ") },
    { "log", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &log_args,
      N_("With --since: the event log SEQ is from; another log is read from its start"),
      N_("ID") },
    { NULL }
  };

  g_option_context_set_description (context,
    _("Prints one line per event until interrupted with Ctrl+C.\n"
      "With --since, the events come from the service’s event log with their seq\n"
      "and timestamp, with no gap and no duplicate; take SEQ from an earlier\n"
      "“watch --since” line or from the LastEventSeq property. When SEQ is older\n"
      "than the log retains, a resync_required line says so first. So does it\n"
      "when the service has another event log than the --log given (its\n"
      "EventLogId), or comes back with another one; that log is then read from\n"
      "its start."));
  if (!em_ctl_parse_options (context, entries, "watch", &argc, &argv) ||
      !em_ctl_option_texts ("watch", since_args) || !em_ctl_option_texts ("watch", log_args))
    return EM_CTL_EXIT_USAGE;
  if (argc > 1)
    {
      em_ctl_usage_error ("watch", _("unexpected argument “%s”"), argv[1]);
      return EM_CTL_EXIT_USAGE;
    }
  if (!em_ctl_option_once ("--since", since_args, &since, &error) ||
      !em_ctl_option_once ("--log", log_args, &log_id, &error))
    {
      em_ctl_usage_error ("watch", "%s", error->message);
      return EM_CTL_EXIT_USAGE;
    }
  if (log_id != NULL && since == NULL)
    {
      em_ctl_usage_error ("watch", _("--log names the log of --since’s SEQ; give --since too"));
      return EM_CTL_EXIT_USAGE;
    }
  /* no log has such an id (an empty one, a typo, one cut short): it could
   * never match and would read the whole log again without a word, where
   * /ws?since=SEQ&log= answers 400 for an empty one */
  if (log_id != NULL && !is_event_log_id (log_id))
    {
      em_ctl_usage_error ("watch", _("--log takes an event log id, 16 hex digits (0-9, a-f) as "
                                     "the Watching line or EventLogId gives it, not “%s”"),
                          log_id);
      return EM_CTL_EXIT_USAGE;
    }
  if (since != NULL)
    {
      if (!g_ascii_string_to_unsigned (since, 10, 0, G_MAXUINT64, &since_seq, NULL))
        {
          em_ctl_usage_error ("watch", _("--since takes an event seq, not “%s”"), since);
          return EM_CTL_EXIT_USAGE;
        }
      return em_ctl_watch_since (since_seq, log_id, watch.json);
    }

  loop = g_main_loop_new (NULL, FALSE);
  cancellable = g_cancellable_new ();
  watch.loop = loop;
  watch.cancellable = cancellable;
  watch.starting = TRUE;
  /* before the first call: Ctrl+C while the service starts or answers ends
   * the watch as it does later, not by death from SIGINT */
  sigint = g_unix_signal_add (SIGINT, interrupt_cb, &watch);
  sigterm = g_unix_signal_add (SIGTERM, interrupt_cb, &watch);
  em_ctl_connect_async (FALSE, cancellable, proxy_cb, &watch);
  g_main_loop_run (loop);
  /* the cancelled calls end soon; their callbacks must not outlive @watch */
  while (watch.starting)
    g_main_context_iteration (NULL, TRUE);
  g_clear_handle_id (&sigint, g_source_remove);
  g_clear_handle_id (&sigterm, g_source_remove);

  if (watch.proxy != NULL)
    {
      g_signal_handlers_disconnect_by_data (watch.proxy, &watch);
      g_object_unref (watch.proxy);
    }
  return watch.status;
}
