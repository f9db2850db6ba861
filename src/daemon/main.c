#define G_LOG_DOMAIN "engine-manager"

#include "config.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <gst/gst.h>

#ifdef EM_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include "daemon/em-daemon.h"
#include "daemon/em-daemon-args.h"

typedef struct {
  GMainLoop *loop;
  EmDaemon  *daemon;
  int        exit_status;
  gboolean   stop_requested;
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

/* the integer options, each with the schema's range where its key has one;
 * whether one was given is tracked apart from its value, so no value stands
 * for "not given" and escapes the range check */
enum {
  OPT_HTTP_PORT,
  OPT_CAMERA_WIDTH,
  OPT_CAMERA_HEIGHT,
  OPT_RETENTION_MAX_TASKS,
  OPT_RETENTION_MAX_AGE,
  OPT_MAX_CONCURRENT,
  OPT_MAX_PENDING,
  OPT_KEEP_FINISHED,
  OPT_KEEP_FINISHED_BYTES,
  OPT_FINISHED_CACHE_SIZE,
  OPT_WS_MAX_CLIENTS,
  OPT_MAX_HEADER_SIZE,
  OPT_IDLE_TIMEOUT,
  OPT_DBUS_MAX_CALLS_PER_SENDER,
  N_INT_OPTIONS
};

typedef struct {
  const char *name;
  int         min;
  int         max;  /* G_MAXINT: no upper bound */
  gboolean    given;
  int         value;
  char       *text;  /* as given, for a message */
} IntOption;

/* the options that take one text value; GOption would keep the last of one
 * given twice without a word, so they come through string_option_cb */
enum {
  OPT_HTTP_ADDRESS,
  OPT_TOKEN_FILE,
  OPT_DATA_DIR,
  OPT_CAMERA_PIPELINE,
  OPT_TLS_CERTIFICATE,
  OPT_TLS_KEY,
  OPT_BUS,
  N_STRING_OPTIONS
};

typedef struct {
  const char *name;
  gboolean    text;   /* UTF-8 text; else a path, the bytes as given */
  char       *value;  /* NULL: not given */
} StringOption;

/* what the option callbacks fill in */
typedef struct {
  IntOption    ints[N_INT_OPTIONS];
  StringOption strings[N_STRING_OPTIONS];
} Options;

static void
options_clear (Options *options)
{
  for (guint i = 0; i < N_INT_OPTIONS; i++)
    g_clear_pointer (&options->ints[i].text, g_free);
  for (guint i = 0; i < N_STRING_OPTIONS; i++)
    g_clear_pointer (&options->strings[i].value, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Options, options_clear)

/* a message is text: a value given as bytes that are not UTF-8 (a path,
 * a mistyped number) is shown with U+FFFD for what is not, never passed on
 * raw to the terminal or a log */
static void
print_error (const char *message)
{
  g_autofree char *shown = g_utf8_make_valid (message, -1);

  g_printerr ("engine-manager: %s\n", shown);
}

/* as enginectl refuses a flag given twice: which value was meant is the user's call */
static gboolean
set_twice_error (const char *name, const char *first, const char *second, GError **error)
{
  g_autofree char *flag = g_strconcat ("--", name, NULL);
  g_autofree char *first_shown = g_utf8_make_valid (first, -1);
  g_autofree char *second_shown = g_utf8_make_valid (second, -1);

  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("%s is given twice, as “%s” and as “%s”"), flag, first_shown, second_shown);
  return FALSE;
}

static void
set_range_error (const IntOption *option, const char *text, gboolean below, GError **error)
{
  if (option->max == G_MAXINT && below)
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _("--%s must be at least %d, not %s"), option->name, option->min, text);
  else
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _("--%s must be between %d and %d, not %s"),
                 option->name, option->min, option->max, text);
}

/* an optional minus and decimal digits, nothing else */
static gboolean
is_whole_number (const char *text)
{
  const char *digits = *text == '-' ? text + 1 : text;

  return *digits != '\0' && strspn (digits, "0123456789") == strlen (digits);
}

/* in decimal, as the REST API and enginectl read numbers: GOption's own
 * integers take 010 as 8 and 0x10 as 16 */
static gboolean
int_option_cb (const char  *option_name,
               const char  *text,
               gpointer     user_data,
               GError     **error)
{
  Options *options = user_data;
  IntOption *option = NULL;
  gint64 value;

  for (guint i = 0; i < N_INT_OPTIONS; i++)
    if (g_str_equal (option_name + strlen ("--"), options->ints[i].name))
      option = &options->ints[i];
  g_assert (option != NULL);

  if (option->text != NULL)
    return set_twice_error (option->name, option->text, text, error);
  option->text = g_strdup (text);

  if (!is_whole_number (text))
    {
      g_autofree char *shown = g_utf8_make_valid (text, -1);

      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--%s takes a whole number, not “%s”"), option->name, shown);
      return FALSE;
    }
  /* digits past 64 bits are a number too, just out of range */
  if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, NULL))
    value = *text == '-' ? G_MININT64 : G_MAXINT64;
  if (value < option->min || value > option->max)
    {
      set_range_error (option, text, value < option->min, error);
      return FALSE;
    }
  option->value = (int) value;
  option->given = TRUE;
  return TRUE;
}

/* every value comes as the bytes given (G_OPTION_FLAG_FILENAME): GOption
 * would convert it from the locale's character set, which refused UTF-8
 * under LC_ALL=C with a message naming no option. UTF-8 is taken as it is,
 * whatever the locale, as enginectl does */
static char *
option_text (const char  *name,
             const char  *value,
             GError     **error)
{
  g_autofree char *shown = NULL;
  g_autofree char *message = NULL;
  char *text;

  if (g_utf8_validate (value, -1, NULL))
    return g_strdup (value);
  text = g_locale_to_utf8 (value, -1, NULL, NULL, NULL);
  if (text != NULL)
    return text;
  shown = g_utf8_make_valid (value, -1);
  message = g_strdup_printf (_("“%s” is neither UTF-8 nor text in the locale’s character set"),
                             shown);
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s: %s", name, message);
  return NULL;
}

static gboolean
string_option_cb (const char  *option_name,
                  const char  *text,
                  gpointer     user_data,
                  GError     **error)
{
  Options *options = user_data;
  StringOption *option = NULL;

  for (guint i = 0; i < N_STRING_OPTIONS; i++)
    if (g_str_equal (option_name + strlen ("--"), options->strings[i].name))
      option = &options->strings[i];
  g_assert (option != NULL);

  if (option->value != NULL)
    return set_twice_error (option->name, option->value, text, error);
  if (!option->text)
    {
      option->value = g_strdup (text);
      return TRUE;
    }
  option->value = option_text (option->name, text, error);
  return option->value != NULL;
}

static gboolean
check_not_empty (const char *option, const char *value)
{
  g_autofree char *message = NULL;

  if (value == NULL || *value != '\0')
    return TRUE;
  message = g_strdup_printf (_("--%s must not be empty"), option);
  print_error (message);
  return FALSE;
}

/* the first option given that only the REST and WebSocket server reads, as
 * "--NAME"; %NULL when none. An empty --token-file asks for nothing (no
 * file): it must not turn on, without a token, a server the http-enabled
 * setting keeps off */
static const char *
first_http_option (const Options *options,
                   gboolean       insecure,
                   GStrv          cors_origins)
{
  static const struct { int index; const char *flag; } strings[] = {
    { OPT_HTTP_ADDRESS, "--http-address" },
    { OPT_TOKEN_FILE, "--token-file" },
    { OPT_TLS_CERTIFICATE, "--tls-certificate" },
    { OPT_TLS_KEY, "--tls-key" },
  };
  static const struct { int index; const char *flag; } ints[] = {
    { OPT_HTTP_PORT, "--http-port" },
    { OPT_WS_MAX_CLIENTS, "--ws-max-clients" },
    { OPT_MAX_HEADER_SIZE, "--max-header-size" },
    { OPT_IDLE_TIMEOUT, "--idle-timeout" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    {
      const char *value = options->strings[strings[i].index].value;

      if (value != NULL && (*value != '\0' || strings[i].index != OPT_TOKEN_FILE))
        return strings[i].flag;
    }
  for (guint i = 0; i < G_N_ELEMENTS (ints); i++)
    if (options->ints[ints[i].index].given)
      return ints[i].flag;
  if (insecure)
    return "--insecure";
  if (cors_origins != NULL)
    return "--cors-origin";
  return NULL;
}

/* the server's own default when not given */
static int
or_default (const IntOption *option)
{
  return option->given ? option->value : -1;
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
  ctx->stop_requested = TRUE;
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
      /* a signal came while the start waited for the bus: the stop cut it
       * short, as asked, and is no failure */
      if (ctx->stop_requested && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_printerr ("engine-manager: %s\n", error->message);
      ctx->exit_status = 1;
      em_daemon_stop (ctx->daemon);
      return;
    }
  g_message (_("Engine Manager %s ready"), PACKAGE_VERSION);
}

/* mimalloc replaces malloc() only if the link put it before the C library */
static void
log_allocator (void)
{
#ifdef EM_WITH_MIMALLOC
  g_autofree char *probe = g_malloc (64);

  if (mi_is_in_heap_region (probe))
    g_debug ("memory allocator: mimalloc %d", mi_version ());
  else
    g_warning ("mimalloc %d is linked but the C library's malloc() is in use",
               mi_version ());
#else
  g_debug ("memory allocator: the C library's");
#endif
  /* GLib 2.76 dropped the magazines, and the call that asks says no there */
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_debug ("slices from %s",
           glib_check_version (2, 76, 0) == NULL ||
           g_slice_get_config (G_SLICE_CONFIG_ALWAYS_MALLOC) ? "malloc()" : "GLib's magazines");
  G_GNUC_END_IGNORE_DEPRECATIONS
}

int
main (int argc, char **argv)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(GOptionContext) option_context = NULL;
  GOptionGroup *main_group;
  GOptionGroup *gst_group;
  const char *help = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(EmDaemon) daemon = NULL;
  EmEngineManager *engine = NULL;
  g_autofree char *env_token = g_strdup (g_getenv ("ENGINE_MANAGER_TOKEN"));
  g_autoptr(GSettings) settings = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_null_terminated (8, g_free, TRUE);
  const char *localedir = g_getenv ("ENGINE_MANAGER_LOCALEDIR");
  gboolean insecure = FALSE;
  g_auto(GStrv) cors_origins = NULL;
  g_auto(Options) options = { .ints = {
    [OPT_HTTP_PORT] = { "http-port", 0, 65535 },
    [OPT_CAMERA_WIDTH] = { "camera-width", 16, 16384 },
    [OPT_CAMERA_HEIGHT] = { "camera-height", 16, 16384 },
    [OPT_RETENTION_MAX_TASKS] = { "retention-max-tasks", 0, G_MAXINT },
    [OPT_RETENTION_MAX_AGE] = { "retention-max-age", 0, EM_RETENTION_MAX_AGE_DAYS_MAX },
    [OPT_MAX_CONCURRENT] = { "max-concurrent", 0, 1024 },
    [OPT_MAX_PENDING] = { "max-pending", 0, G_MAXINT },
    [OPT_KEEP_FINISHED] = { "keep-finished", 0, G_MAXINT },
    [OPT_KEEP_FINISHED_BYTES] = { "keep-finished-bytes", 0, G_MAXINT },
    [OPT_FINISHED_CACHE_SIZE] = { "finished-cache-size", 1, G_MAXINT },
    [OPT_WS_MAX_CLIENTS] = { "ws-max-clients", 1, G_MAXINT },
    [OPT_MAX_HEADER_SIZE] = { "max-header-size", 0, G_MAXINT },
    [OPT_IDLE_TIMEOUT] = { "idle-timeout", 0, G_MAXINT },
    [OPT_DBUS_MAX_CALLS_PER_SENDER] = { "dbus-max-calls-per-sender", 1, G_MAXINT },
  }, .strings = {
    [OPT_HTTP_ADDRESS] = { "http-address", TRUE },
    [OPT_TOKEN_FILE] = { "token-file" },
    [OPT_DATA_DIR] = { "data-dir" },
    [OPT_CAMERA_PIPELINE] = { "camera-pipeline", TRUE },
    [OPT_TLS_CERTIFICATE] = { "tls-certificate" },
    [OPT_TLS_KEY] = { "tls-key" },
    [OPT_BUS] = { "bus", TRUE },
  } };
  IntOption *ints = options.ints;
  const char *http_address, *data_dir, *camera_pipeline, *token_file;
  const char *tls_certificate, *tls_key, *bus;
  const char *http_option;
  gboolean no_http = FALSE;
  gboolean in_memory = FALSE;
  gboolean version = FALSE;
  gboolean print_gst_version = FALSE;
  gboolean print_gst_debug_help = FALSE;
  Context ctx = { 0, };
  gboolean watch_sighup = FALSE;
  struct sigaction sighup_action;
  const GOptionEntry entries[] = {
    { "http-address", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) string_option_cb,
      N_("Address the REST and WebSocket server listens on (default 127.0.0.1)"), N_("ADDR") },
    { "http-port", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Port of the REST server; 0 picks a free port (default 8000)"), N_("PORT") },
    { "no-http", 0, 0, G_OPTION_ARG_NONE, &no_http,
      N_("Do not serve REST and WebSocket"), NULL },
    { "token-file", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) string_option_cb,
      N_("File whose first line is the token REST clients must present"), N_("FILE") },
    { "data-dir", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) string_option_cb,
      N_("Where tasks and captured images are kept (default $XDG_DATA_HOME/engine-manager)"), N_("DIR") },
    { "camera-pipeline", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) string_option_cb,
      N_("GStreamer source description of the camera, e.g. “v4l2src device=/dev/video0”"), N_("DESC") },
    { "camera-width", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Width of captured images in pixels, 16 to 16384 (default 640)"), N_("PIXELS") },
    { "camera-height", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Height of captured images in pixels, 16 to 16384 (default 480)"), N_("PIXELS") },
    { "retention-max-tasks", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Keep at most N tasks in the history; older finished ones are pruned (default 0: no limit)"), N_("N") },
    { "retention-max-age", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Prune finished tasks older than DAYS days from the history, at most 36500000 (default 0: no limit)"), N_("DAYS") },
    { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
      N_("Serve REST on a non-loopback address without a token"), NULL },
    { "tls-certificate", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) string_option_cb,
      N_("PEM certificate for HTTPS and WSS (with --tls-key)"), N_("FILE") },
    { "tls-key", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) string_option_cb,
      N_("PEM private key of --tls-certificate"), N_("FILE") },
    { "cors-origin", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cors_origins,
      N_("An origin (e.g. https://lab.example.org) whose web pages may use the REST API; repeatable"), N_("ORIGIN") },
    { "max-pending", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Pending tasks beyond which submissions are refused (REST 429, D-Bus Unavailable); 0: no limit (default 100000)"), N_("N") },
    { "keep-finished", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Finished tasks kept whole in memory for quick answers; the rest are read from the task database (default 1000)"), N_("N") },
    { "keep-finished-bytes", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Bytes of memory the parameters and results of the finished tasks kept whole may take in all, at most 2147483647; the oldest go first (default 67108864: 64 MiB)"), N_("BYTES") },
    { "finished-cache-size", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Finished tasks whose final status stays in memory for depends_on; older ones are read from the task database (default 100000)"), N_("N") },
    { "ws-max-clients", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("WebSocket clients served at once (default 4096)"), N_("N") },
    { "max-header-size", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Bytes of request headers beyond which a request gets 431; 0: no limit (default 16384)"), N_("BYTES") },
    { "idle-timeout", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("Seconds an HTTP connection may stay silent, or take for one request, before it is closed; 0: never (default 60)"), N_("SECONDS") },
    { "max-concurrent", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("How many tasks may run at once, at most 1024; 0: no limit (default 4)"), N_("N") },
    { "bus", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) string_option_cb,
      N_("Which D-Bus bus to serve on: session (default) or none"), N_("BUS") },
    { "dbus-max-calls-per-sender", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (gpointer) int_option_cb,
      N_("D-Bus method calls one client may have waiting for a reply; more get Unavailable (default 64)"), N_("N") },
    /* hidden: it gives up the durable record, which no lab should want */
    { "in-memory", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &in_memory,
      N_("Keep no task database: history lives in memory and is lost at exit (for benchmarks)"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { NULL }
  };

  /* taken out before any thread starts (unsetenv is not thread-safe) or any
   * child inherits it: GStreamer's plugin scanner has no use for the token */
  g_unsetenv ("ENGINE_MANAGER_TOKEN");

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
  /* the group's data is what the option callbacks fill in */
  main_group = g_option_group_new (NULL, NULL, NULL, &options, NULL);
  g_option_group_add_entries (main_group, entries);
  g_option_group_set_translation_domain (main_group, GETTEXT_PACKAGE);
  g_option_context_set_main_group (option_context, main_group);
  gst_group = gst_init_get_option_group ();
  g_option_context_add_group (option_context, gst_group);
  if (!em_daemon_args_scan (entries, &argc, argv, &help, &print_gst_version,
                            &print_gst_debug_help, &error))
    {
      print_error (error->message);
      return 2;
    }
  /* GOption's own help would exit 0 whether or not the text got written */
  if (help != NULL)
    {
      g_autofree char *text = NULL;
      g_autofree char *prgname = g_path_get_basename (argv[0]);

      /* the usage line's name, which g_option_context_parse() would set */
      if (g_get_prgname () == NULL)
        g_set_prgname (prgname);
      if (g_str_equal (help, "--help-gst"))
        text = g_option_context_get_help (option_context, FALSE, gst_group);
      else
        text = g_option_context_get_help (option_context, !g_str_equal (help, "--help-all"), NULL);
      return em_daemon_print_stdout (text);
    }
  g_option_context_set_help_enabled (option_context, FALSE);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      print_error (error->message);
      return 2;
    }

  http_address = options.strings[OPT_HTTP_ADDRESS].value;
  token_file = options.strings[OPT_TOKEN_FILE].value;
  data_dir = options.strings[OPT_DATA_DIR].value;
  camera_pipeline = options.strings[OPT_CAMERA_PIPELINE].value;
  tls_certificate = options.strings[OPT_TLS_CERTIFICATE].value;
  tls_key = options.strings[OPT_TLS_KEY].value;
  bus = options.strings[OPT_BUS].value;
  http_option = first_http_option (&options, insecure, cors_origins);

  /* it takes none: a stray word is most likely a mistyped option */
  if (argc > 1)
    {
      g_autofree char *message = g_strdup_printf (_("unexpected argument “%s”"), argv[1]);

      print_error (message);
      return 2;
    }

  /* as with the integers, checked as they were read: a bad value is
   * refused, never replaced by a default */
  if (!check_not_empty ("http-address", http_address) ||
      !check_not_empty ("data-dir", data_dir) ||
      !check_not_empty ("camera-pipeline", camera_pipeline) ||
      !check_not_empty ("tls-certificate", tls_certificate) ||
      !check_not_empty ("tls-key", tls_key))
    return 2;
  if (http_address != NULL && !em_daemon_check_http_address ("--http-address", http_address, &error))
    {
      print_error (error->message);
      return 2;
    }
  /* an option of the REST server alone, given with --no-http, would be
   * dropped without a word: which of the two was meant is the user's call */
  if (no_http && http_option != NULL)
    {
      g_autofree char *message =
        g_strdup_printf (_("--no-http turns the REST server off: %s goes without it"), http_option);

      print_error (message);
      return 2;
    }
  if ((tls_certificate == NULL) != (tls_key == NULL))
    {
      g_printerr ("engine-manager: %s\n",
                  _("--tls-certificate and --tls-key go together: give both, or neither"));
      return 2;
    }

  for (guint i = 0; cors_origins != NULL && cors_origins[i] != NULL; i++)
    {
      char *origin = option_text ("cors-origin", cors_origins[i], &error);

      if (origin == NULL)
        {
          print_error (error->message);
          return 2;
        }
      g_free (cors_origins[i]);
      cors_origins[i] = origin;
    }
  for (guint i = 0; cors_origins != NULL && cors_origins[i] != NULL; i++)
    if (!em_daemon_check_cors_origin (cors_origins[i], &error))
      {
        print_error (error->message);
        return 2;
      }

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
  if (ints[OPT_HTTP_PORT].given)
    {
      config.http_port = ints[OPT_HTTP_PORT].value;
      pin (pinned, "http-port");
    }
  /* an option of the REST server on the command line (where to listen, a
   * token file, TLS, CORS, its limits) is asking for HTTP: the http-enabled
   * setting turned off would otherwise drop it without a word */
  if (no_http || http_option != NULL)
    {
      config.http_enabled = !no_http;
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
  if (ints[OPT_CAMERA_WIDTH].given)
    {
      config.camera_width = ints[OPT_CAMERA_WIDTH].value;
      pin (pinned, "camera-width");
    }
  if (ints[OPT_CAMERA_HEIGHT].given)
    {
      config.camera_height = ints[OPT_CAMERA_HEIGHT].value;
      pin (pinned, "camera-height");
    }
  config.insecure = insecure;
  replace_str (&config.tls_certificate, tls_certificate);
  replace_str (&config.tls_key, tls_key);
  config.cors_origins = g_steal_pointer (&cors_origins);
  config.max_pending = or_default (&ints[OPT_MAX_PENDING]);
  config.keep_finished = or_default (&ints[OPT_KEEP_FINISHED]);
  config.keep_finished_bytes = or_default (&ints[OPT_KEEP_FINISHED_BYTES]);
  config.finished_cache_size = or_default (&ints[OPT_FINISHED_CACHE_SIZE]);
  config.ws_max_clients = or_default (&ints[OPT_WS_MAX_CLIENTS]);
  config.max_header_size = or_default (&ints[OPT_MAX_HEADER_SIZE]);
  config.idle_timeout = or_default (&ints[OPT_IDLE_TIMEOUT]);
  config.dbus_max_calls_per_sender = or_default (&ints[OPT_DBUS_MAX_CALLS_PER_SENDER]);
  if (ints[OPT_MAX_CONCURRENT].given)
    {
      config.max_concurrent = ints[OPT_MAX_CONCURRENT].value;
      pin (pinned, "max-concurrent");
    }
  if (ints[OPT_RETENTION_MAX_TASKS].given)
    {
      config.retention_max_tasks = ints[OPT_RETENTION_MAX_TASKS].value;
      pin (pinned, "retention-max-tasks");
    }
  if (ints[OPT_RETENTION_MAX_AGE].given)
    {
      config.retention_max_age_days = ints[OPT_RETENTION_MAX_AGE].value;
      pin (pinned, "retention-max-age-days");
    }
  if (bus != NULL && !parse_bus (bus, &config.bus, &error))
    {
      print_error (error->message);
      return 2;
    }
  /* as an option of the REST server with --no-http: it would be dropped
   * without a word */
  if (config.bus == EM_BUS_NONE && ints[OPT_DBUS_MAX_CALLS_PER_SENDER].given)
    {
      print_error (_("--bus none serves no D-Bus: --dbus-max-calls-per-sender goes without it"));
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
  config.token = g_steal_pointer (&env_token);

  gst_init (NULL, NULL);

  /* only once every option has been checked, each of them before anything
   * is created; GStreamer is initialised for its debug categories */
  if (version || print_gst_version || print_gst_debug_help)
    {
      g_autoptr(GString) text = g_string_new (NULL);

      if (version)
        g_string_append_printf (text, "engine-manager %s\n", PACKAGE_VERSION);
      /* GStreamer's own words for it */
      if (print_gst_version)
        {
          g_autofree char *gst = gst_version_string ();

          g_string_append_printf (text, "GStreamer Core Library version %s\n",
                                  gst + strlen ("GStreamer "));
        }
      if (print_gst_debug_help)
        em_daemon_append_gst_debug_help (text);
      return em_daemon_print_stdout (text->str);
    }

  log_allocator ();
  loop = g_main_loop_new (NULL, FALSE);
  daemon = em_daemon_new (&config, settings);
  ctx.loop = loop;
  ctx.daemon = daemon;

  g_unix_signal_add (SIGINT, signal_cb, &ctx);
  g_unix_signal_add (SIGTERM, signal_cb, &ctx);
  /* the terminal it ran in went away: stop as cleanly as on SIGTERM rather
   * than die with running tasks unrecorded; unless it was started with the
   * signal ignored (nohup), which asks it to outlive the terminal */
  if (sigaction (SIGHUP, NULL, &sighup_action) != 0 || sighup_action.sa_handler != SIG_IGN)
    {
      g_unix_signal_add (SIGHUP, signal_cb, &ctx);
      watch_sighup = TRUE;
    }
  g_signal_connect (daemon, "stopped", G_CALLBACK (stopped_cb), &ctx);

  em_daemon_start_async (daemon, NULL, started_cb, &ctx);
  g_main_loop_run (loop);

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
  /* past here all is closed: more signals are ignored, not left to kill
   * the exit (which a sanitizer's leak check makes long) with their status.
   * The watches stay: removing the last watch of a signal restores its
   * default action, and one arriving before SIG_IGN replaced it killed the
   * process. Nor before the store has closed above: a second Ctrl+C or
   * SIGTERM then would kill it halfway, its journal not emptied */
  signal (SIGINT, SIG_IGN);
  signal (SIGTERM, SIG_IGN);
  if (watch_sighup)
    signal (SIGHUP, SIG_IGN);
  return ctx.exit_status;
}
