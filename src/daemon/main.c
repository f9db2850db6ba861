#define G_LOG_DOMAIN "engine-manager"

#include "config.h"

#include <locale.h>
#include <signal.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <gst/gst.h>

#include "daemon/em-daemon.h"

typedef struct {
  GMainLoop *loop;
  EmDaemon  *daemon;
  int        exit_status;
} Context;

static void
replace_str (char **target, const char *value)
{
  g_free (*target);
  *target = g_strdup (value);
}

/* a key the command line set wins over GSettings, also when GSettings changes */
static void
pin (GPtrArray *pinned, const char *key)
{
  g_ptr_array_add (pinned, g_strdup (key));
}

/* what an integer option holds when it was not given: no option accepts it */
#define UNSET G_MININT

/* @max of G_MAXINT: no upper bound */
static gboolean
check_range (const char *option, int value, int min, int max)
{
  g_autofree char *message = NULL;

  if (value == UNSET || (value >= min && value <= max))
    return TRUE;
  if (max == G_MAXINT)
    message = g_strdup_printf (_("--%s must be at least %d, not %d"), option, min, value);
  else
    message = g_strdup_printf (_("--%s must be between %d and %d, not %d"),
                               option, min, max, value);
  g_printerr ("engine-manager: %s\n", message);
  return FALSE;
}

static gboolean
check_not_empty (const char *option, const char *value)
{
  g_autofree char *message = NULL;

  if (value == NULL || *value != '\0')
    return TRUE;
  message = g_strdup_printf (_("--%s must not be empty"), option);
  g_printerr ("engine-manager: %s\n", message);
  return FALSE;
}

/* the server's own default when not given */
static int
or_default (int value)
{
  return value != UNSET ? value : -1;
}

static gboolean
parse_bus (const char *text, EmBusType *out, GError **error)
{
  if (g_strcmp0 (text, "session") == 0)
    *out = EM_BUS_SESSION;
  else if (g_strcmp0 (text, "none") == 0)
    *out = EM_BUS_NONE;
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--bus must be “session” or “none”, not “%s”"), text);
      return FALSE;
    }
  return TRUE;
}

static gboolean
signal_cb (gpointer user_data)
{
  Context *ctx = user_data;

  g_message (_("Stopping"));
  em_daemon_stop (ctx->daemon);
  return G_SOURCE_CONTINUE;
}

static void
stopped_cb (EmDaemon *daemon, Context *ctx)
{
  if (em_daemon_get_failed (daemon))
    ctx->exit_status = 1;
  g_main_loop_quit (ctx->loop);
}

static void
started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Context *ctx = user_data;
  g_autoptr(GError) error = NULL;

  if (!em_daemon_start_finish (ctx->daemon, result, &error))
    {
      g_printerr ("engine-manager: %s\n", error->message);
      ctx->exit_status = 1;
      em_daemon_stop (ctx->daemon);
      return;
    }
  g_message (_("Engine Manager %s ready"), PACKAGE_VERSION);
}

int
main (int argc, char **argv)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(EmDaemon) daemon = NULL;
  EmEngineManager *engine = NULL;
  g_autofree char *http_address = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *camera_pipeline = NULL;
  g_autofree char *token_file = NULL;
  g_autoptr(GSettings) settings = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_null_terminated (8, g_free, TRUE);
  const char *localedir = g_getenv ("ENGINE_MANAGER_LOCALEDIR");
  g_autofree char *bus = NULL;
  int http_port = UNSET;
  int camera_width = UNSET;
  int camera_height = UNSET;
  int retention_max_tasks = UNSET;
  int retention_max_age = UNSET;
  int max_concurrent = UNSET;
  gboolean insecure = FALSE;
  g_autofree char *tls_certificate = NULL;
  g_autofree char *tls_key = NULL;
  g_auto(GStrv) cors_origins = NULL;
  int max_pending = UNSET;
  int keep_finished = UNSET;
  int finished_cache_size = UNSET;
  int ws_max_clients = UNSET;
  int max_header_size = UNSET;
  int idle_timeout = UNSET;
  int dbus_max_calls_per_sender = UNSET;
  gboolean no_http = FALSE;
  gboolean in_memory = FALSE;
  gboolean version = FALSE;
  Context ctx = { 0, };
  guint sigint_id, sigterm_id, sighup_id;
  const GOptionEntry entries[] = {
    { "http-address", 0, 0, G_OPTION_ARG_STRING, &http_address,
      N_("Address the REST and WebSocket server listens on (default 127.0.0.1)"), N_("ADDR") },
    { "http-port", 0, 0, G_OPTION_ARG_INT, &http_port,
      N_("Port of the REST server; 0 picks a free port (default 8000)"), N_("PORT") },
    { "no-http", 0, 0, G_OPTION_ARG_NONE, &no_http,
      N_("Do not serve REST and WebSocket"), NULL },
    { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file,
      N_("File whose first line is the token REST clients must present"), N_("FILE") },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir,
      N_("Where tasks and captured images are kept (default $XDG_DATA_HOME/engine-manager)"), N_("DIR") },
    { "camera-pipeline", 0, 0, G_OPTION_ARG_STRING, &camera_pipeline,
      N_("GStreamer source description of the camera, e.g. “v4l2src device=/dev/video0”"), N_("DESC") },
    { "camera-width", 0, 0, G_OPTION_ARG_INT, &camera_width,
      N_("Width of captured images in pixels (default 640)"), N_("PIXELS") },
    { "camera-height", 0, 0, G_OPTION_ARG_INT, &camera_height,
      N_("Height of captured images in pixels (default 480)"), N_("PIXELS") },
    { "retention-max-tasks", 0, 0, G_OPTION_ARG_INT, &retention_max_tasks,
      N_("Keep at most N tasks in the history; older finished ones are pruned (default 0: no limit)"), N_("N") },
    { "retention-max-age", 0, 0, G_OPTION_ARG_INT, &retention_max_age,
      N_("Prune finished tasks older than DAYS days from the history (default 0: no limit)"), N_("DAYS") },
    { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
      N_("Serve REST on a non-loopback address without a token"), NULL },
    { "tls-certificate", 0, 0, G_OPTION_ARG_FILENAME, &tls_certificate,
      N_("PEM certificate for HTTPS and WSS (with --tls-key)"), N_("FILE") },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key,
      N_("PEM private key of --tls-certificate"), N_("FILE") },
    { "cors-origin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cors_origins,
      N_("An origin (e.g. https://lab.example.org) whose web pages may use the REST API; repeatable"), N_("ORIGIN") },
    { "max-pending", 0, 0, G_OPTION_ARG_INT, &max_pending,
      N_("Pending tasks beyond which submissions are refused (REST 429, D-Bus Unavailable); 0: no limit (default 100000)"), N_("N") },
    { "keep-finished", 0, 0, G_OPTION_ARG_INT, &keep_finished,
      N_("Finished tasks kept whole in memory for quick answers; the rest are read from the task database (default 1000)"), N_("N") },
    { "finished-cache-size", 0, 0, G_OPTION_ARG_INT, &finished_cache_size,
      N_("Finished tasks whose final status stays in memory for depends_on; older ones are read from the task database (default 100000)"), N_("N") },
    { "ws-max-clients", 0, 0, G_OPTION_ARG_INT, &ws_max_clients,
      N_("WebSocket clients served at once (default 4096)"), N_("N") },
    { "max-header-size", 0, 0, G_OPTION_ARG_INT, &max_header_size,
      N_("Bytes of request headers beyond which a request gets 431 (default 16384)"), N_("BYTES") },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout,
      N_("Seconds an HTTP connection may stay silent before it is closed; 0: never (default 60)"), N_("SECONDS") },
    { "max-concurrent", 0, 0, G_OPTION_ARG_INT, &max_concurrent,
      N_("How many tasks may run at once; 0: no limit (default 4)"), N_("N") },
    { "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
      N_("Which D-Bus bus to serve on: session (default) or none"), N_("BUS") },
    { "dbus-max-calls-per-sender", 0, 0, G_OPTION_ARG_INT, &dbus_max_calls_per_sender,
      N_("D-Bus method calls one client may have waiting for a reply; more get Unavailable (default 64)"), N_("N") },
    /* hidden: it gives up the durable record, which no lab should want */
    { "in-memory", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &in_memory,
      N_("Keep no task database: history lives in memory and is lost at exit (for benchmarks)"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { NULL }
  };

  /* a file-size limit must turn into write errors the service reports, not kill it */
  signal (SIGXFSZ, SIG_IGN);

  setlocale (LC_ALL, "");
  /* the build tree's catalogues under meson devenv and in the tests */
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL && *localedir != '\0' ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  option_context = g_option_context_new (NULL);
  g_option_context_set_summary (option_context,
                                _("Schedules and runs microscope operations as tasks."));
  g_option_context_add_main_entries (option_context, entries, GETTEXT_PACKAGE);
  g_option_context_add_group (option_context, gst_init_get_option_group ());
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("engine-manager: %s\n", error->message);
      return 2;
    }

  if (version)
    {
      g_print ("engine-manager %s\n", PACKAGE_VERSION);
      return 0;
    }

  /* the schema's ranges where a key has one; a bad value is refused, never
   * replaced by a default */
  if (!check_range ("http-port", http_port, 0, 65535) ||
      !check_range ("camera-width", camera_width, 16, 16384) ||
      !check_range ("camera-height", camera_height, 16, 16384) ||
      !check_range ("max-concurrent", max_concurrent, 0, 1024) ||
      !check_range ("retention-max-tasks", retention_max_tasks, 0, G_MAXINT) ||
      !check_range ("retention-max-age", retention_max_age, 0, G_MAXINT) ||
      !check_range ("max-pending", max_pending, 0, G_MAXINT) ||
      !check_range ("keep-finished", keep_finished, 0, G_MAXINT) ||
      !check_range ("finished-cache-size", finished_cache_size, 1, G_MAXINT) ||
      !check_range ("ws-max-clients", ws_max_clients, 1, G_MAXINT) ||
      !check_range ("max-header-size", max_header_size, 0, G_MAXINT) ||
      !check_range ("idle-timeout", idle_timeout, 0, G_MAXINT) ||
      !check_range ("dbus-max-calls-per-sender", dbus_max_calls_per_sender, 1, G_MAXINT) ||
      !check_not_empty ("http-address", http_address) ||
      !check_not_empty ("data-dir", data_dir) ||
      !check_not_empty ("camera-pipeline", camera_pipeline))
    return 2;

  /* built-in defaults, then GSettings when its schema is there, then the
   * command line on top */
  em_daemon_config_init_defaults (&config);
  settings = em_daemon_settings_lookup ();
  if (settings != NULL)
    em_daemon_config_load_settings (&config, settings);

  if (http_address != NULL)
    {
      replace_str (&config.http_address, http_address);
      pin (pinned, "http-address");
    }
  if (http_port != UNSET)
    {
      config.http_port = http_port;
      pin (pinned, "http-port");
    }
  if (no_http)
    {
      config.http_enabled = FALSE;
      pin (pinned, "http-enabled");
    }
  config.in_memory = in_memory;
  if (token_file != NULL)
    {
      replace_str (&config.token_file, *token_file != '\0' ? token_file : NULL);
      pin (pinned, "token-file");
    }
  if (data_dir != NULL)
    {
      replace_str (&config.data_dir, data_dir);
      pin (pinned, "data-dir");
    }
  if (camera_pipeline != NULL)
    {
      replace_str (&config.camera_pipeline, camera_pipeline);
      pin (pinned, "camera-pipeline");
    }
  if (camera_width != UNSET)
    {
      config.camera_width = camera_width;
      pin (pinned, "camera-width");
    }
  if (camera_height != UNSET)
    {
      config.camera_height = camera_height;
      pin (pinned, "camera-height");
    }
  config.insecure = insecure;
  replace_str (&config.tls_certificate, tls_certificate);
  replace_str (&config.tls_key, tls_key);
  config.cors_origins = g_steal_pointer (&cors_origins);
  config.max_pending = or_default (max_pending);
  config.keep_finished = or_default (keep_finished);
  config.finished_cache_size = or_default (finished_cache_size);
  config.ws_max_clients = or_default (ws_max_clients);
  config.max_header_size = or_default (max_header_size);
  config.idle_timeout = or_default (idle_timeout);
  config.dbus_max_calls_per_sender = or_default (dbus_max_calls_per_sender);
  if (max_concurrent != UNSET)
    {
      config.max_concurrent = max_concurrent;
      pin (pinned, "max-concurrent");
    }
  if (retention_max_tasks != UNSET)
    {
      config.retention_max_tasks = retention_max_tasks;
      pin (pinned, "retention-max-tasks");
    }
  if (retention_max_age != UNSET)
    {
      config.retention_max_age_days = retention_max_age;
      pin (pinned, "retention-max-age-days");
    }
  if (bus != NULL && !parse_bus (bus, &config.bus, &error))
    {
      g_printerr ("engine-manager: %s\n", error->message);
      return 2;
    }
  if (!config.http_enabled && config.bus == EM_BUS_NONE)
    {
      g_printerr ("engine-manager: %s\n",
                  _("--bus none with HTTP off (--no-http or the http-enabled setting) "
                    "leaves no way to reach the service"));
      return 2;
    }
  config.pinned = (GStrv) g_ptr_array_steal (pinned, NULL);

  gst_init (NULL, NULL);

  loop = g_main_loop_new (NULL, FALSE);
  daemon = em_daemon_new (&config, settings);
  ctx.loop = loop;
  ctx.daemon = daemon;

  sigint_id = g_unix_signal_add (SIGINT, signal_cb, &ctx);
  sigterm_id = g_unix_signal_add (SIGTERM, signal_cb, &ctx);
  /* the terminal it ran in went away: stop as cleanly as on SIGTERM rather
   * than die with running tasks unrecorded */
  sighup_id = g_unix_signal_add (SIGHUP, signal_cb, &ctx);
  g_signal_connect (daemon, "stopped", G_CALLBACK (stopped_cb), &ctx);

  em_daemon_start_async (daemon, NULL, started_cb, &ctx);
  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_source_remove (sighup_id);
  /* requests still unanswered when the stop's grace ran out hold the engine,
   * and so the camera's streaming thread, which gst_deinit() would wait for
   * forever */
  engine = em_daemon_get_engine (daemon);
  if (engine != NULL)
    g_object_add_weak_pointer (G_OBJECT (engine), (gpointer *) &engine);
  g_clear_object (&daemon);
  if (engine == NULL)
    gst_deinit ();
  else
    g_object_remove_weak_pointer (G_OBJECT (engine), (gpointer *) &engine);
  return ctx.exit_status;
}
