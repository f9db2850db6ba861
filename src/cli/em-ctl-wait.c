#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "engine/em-json-writer.h"
#include "cli/em-ctl.h"
#include "cli/em-ctl-output.h"

/* wait's own exit statuses, so a script can branch on the outcome */
enum {
  WAIT_COMPLETED = 0,
  WAIT_FAILED = 1,
  WAIT_CANCELLED = 2,
  WAIT_ERROR = 3,
};

#define BAR_WIDTH 30

/* how long a restart of the service may take before the wait gives up */
#define DEFAULT_RETURN_TIMEOUT 60.0

/* every call is asynchronous, under the main loop from the start: Ctrl+C
 * ends the wait at once, also while the service has not answered yet */
typedef struct {
  GMainLoop *loop;
  GCancellable *cancellable;
  EmDBusEngineManager1 *proxy;
  const char *id;
  gboolean show_bar;
  gboolean bar_shown;
  guint calls;        /* in flight: connecting or asking for the task */
  gboolean seen;      /* the service has answered for the task once */
  gdouble return_timeout;
  guint return_source; /* while the service is away */
  int status;
} Wait;

static void
draw_bar (Wait    *wait,
          gdouble  progress)
{
  int filled = (int) (CLAMP (progress, 0.0, 1.0) * BAR_WIDTH + 0.5);
  g_autoptr(GString) bar = g_string_new ("\r[");

  /* nothing after the outcome's line */
  if (!wait->show_bar || wait->status != -1)
    return;

  for (int i = 0; i < BAR_WIDTH; i++)
    g_string_append_c (bar, i < filled ? '#' : ' ');
  g_string_append_printf (bar, "] %3.0f%%", CLAMP (progress, 0.0, 1.0) * 100.0);
  /* past g_print(), which would escape the carriage return */
  fputs (bar->str, stdout);
  fflush (stdout);
  wait->bar_shown = TRUE;
}

static void
finish (Wait       *wait,
        int         status,
        const char *message)
{
  if (wait->status != -1)
    return;

  if (status == WAIT_COMPLETED)
    draw_bar (wait, 1.0);
  if (wait->bar_shown)
    g_print ("\n");

  if (status == WAIT_COMPLETED)
    g_print (_("Task %s completed\n"), wait->id);
  else if (status == WAIT_CANCELLED)
    g_printerr (_("Task %s was cancelled\n"), wait->id);
  else if (status == WAIT_FAILED)
    {
      g_autofree char *error = em_ctl_one_line (message);

      g_printerr (_("Task %s failed: %s\n"), wait->id, error);
    }
  else if (message != NULL)
    g_printerr ("enginectl: %s\n", message);

  wait->status = status;
  g_main_loop_quit (wait->loop);
}

static void
progress_cb (EmDBusEngineManager1 *proxy,
             const char           *id,
             gdouble               progress,
             Wait                 *wait)
{
  if (g_str_equal (id, wait->id))
    draw_bar (wait, progress);
}

static void
completed_cb (EmDBusEngineManager1 *proxy,
              const char           *id,
              GVariant             *result,
              Wait                 *wait)
{
  if (g_str_equal (id, wait->id))
    finish (wait, WAIT_COMPLETED, NULL);
}

static void
failed_cb (EmDBusEngineManager1 *proxy,
           const char           *id,
           const char           *error,
           Wait                 *wait)
{
  if (g_str_equal (id, wait->id))
    finish (wait, WAIT_FAILED, error);
}

static void
cancelled_cb (EmDBusEngineManager1 *proxy,
              const char           *id,
              Wait                 *wait)
{
  if (g_str_equal (id, wait->id))
    finish (wait, WAIT_CANCELLED, NULL);
}

static gboolean
return_timeout_cb (gpointer user_data)
{
  Wait *wait = user_data;
  g_autofree char *message = NULL;
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  wait->return_source = 0;
  /* the number as --return-timeout took it, whatever the locale */
  message = g_strdup_printf (_("Engine Manager did not return within %s seconds"),
                             em_json_format_double (number, wait->return_timeout));
  finish (wait, WAIT_ERROR, message);
  return G_SOURCE_REMOVE;
}

/* a restart keeps the task (the store has it): the wait goes on once the
 * service is back, unless it stays away too long */
static void
service_left (Wait *wait)
{
  if (wait->return_source != 0 || wait->status != -1)
    return;
  if (wait->return_timeout <= 0)
    {
      finish (wait, WAIT_ERROR, _("Engine Manager left the bus before the task finished"));
      return;
    }
  if (wait->bar_shown)
    g_print ("\n");
  wait->bar_shown = FALSE;
  g_printerr (_("enginectl: Engine Manager left the bus; waiting for it to return\n"));
  wait->return_source = g_timeout_add (MIN (wait->return_timeout * 1000, G_MAXUINT),
                                       return_timeout_cb, wait);
}

static void get_task_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
name_owner_cb (GObject    *proxy,
               GParamSpec *pspec,
               Wait       *wait)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  if (owner == NULL)
    {
      service_left (wait);
      return;
    }
  if (wait->return_source == 0 || wait->status != -1)
    return;
  g_clear_handle_id (&wait->return_source, g_source_remove);
  g_printerr (_("enginectl: Engine Manager is back on the bus\n"));
  /* what it missed meanwhile, or whether the task is gone */
  wait->calls++;
  em_dbus_engine_manager1_call_get_task (wait->proxy, wait->id, G_DBUS_CALL_FLAGS_NONE, -1,
                                         wait->cancellable, get_task_cb, wait);
}

/* the service went away while it was asked, as opposed to an answer; no
 * reply from a service still on the bus is a hang, not a restart */
static gboolean
is_service_gone (Wait         *wait,
                 const GError *error)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (wait->proxy));

  return (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) && owner == NULL) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER);
}

static gboolean
interrupt_cb (gpointer user_data)
{
  finish (user_data, WAIT_ERROR, _("interrupted"));
  return G_SOURCE_CONTINUE;
}

/* the outcome from a task dictionary, or -1 while it is still pending or running */
static int
status_of (GVariant    *task,
           const char **error)
{
  const char *status = em_ctl_dict_get_string (task, "status");

  *error = em_ctl_dict_get_string (task, "error");
  if (g_str_equal (status, "completed"))
    return WAIT_COMPLETED;
  if (g_str_equal (status, "failed"))
    return WAIT_FAILED;
  if (g_str_equal (status, "cancelled"))
    return WAIT_CANCELLED;
  return -1;
}

/* a failure to connect or to get the task ends the wait with 3, unless
 * Ctrl+C (or the outcome) already ended it and cancelled the call */
static void
start_failed (Wait   *wait,
              GError *error)
{
  if (wait->status != -1 || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  em_ctl_print_error (error);
  finish (wait, WAIT_ERROR, NULL);
}

static void
get_task_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Wait *wait = user_data;
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *task_error = NULL;
  gdouble progress = 0;
  int outcome;

  wait->calls--;
  if (!em_dbus_engine_manager1_call_get_task_finish (EM_DBUS_ENGINE_MANAGER1 (source), &task,
                                                     result, &error))
    {
      /* once it knew the task, a service leaving is not an answer: the
       * name's return asks again */
      if (wait->seen && is_service_gone (wait, error))
        {
          service_left (wait);
          return;
        }
      start_failed (wait, error);
      return;
    }
  wait->seen = TRUE;

  outcome = status_of (task, &task_error);
  if (outcome != -1)
    finish (wait, outcome, task_error);
  else if (g_variant_lookup (task, "progress", "d", &progress))
    draw_bar (wait, progress);
}

static void
proxy_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Wait *wait = user_data;
  g_autoptr(GError) error = NULL;
  EmDBusEngineManager1 *proxy;

  wait->proxy = proxy = em_dbus_engine_manager1_proxy_new_for_bus_finish (result, &error);
  if (proxy == NULL)
    {
      wait->calls--;
      start_failed (wait, error);
      return;
    }

  /* subscribe before asking, so an end that comes in between is not missed */
  g_signal_connect (proxy, "task-progress", G_CALLBACK (progress_cb), wait);
  g_signal_connect (proxy, "task-completed", G_CALLBACK (completed_cb), wait);
  g_signal_connect (proxy, "task-failed", G_CALLBACK (failed_cb), wait);
  g_signal_connect (proxy, "task-cancelled", G_CALLBACK (cancelled_cb), wait);
  g_signal_connect (proxy, "notify::g-name-owner", G_CALLBACK (name_owner_cb), wait);

  em_dbus_engine_manager1_call_get_task (proxy, wait->id, G_DBUS_CALL_FLAGS_NONE, -1,
                                         wait->cancellable, get_task_cb, wait);
}

/* as schedule's --delay, and not negative */
static gboolean
parse_seconds (const char *text,
               gdouble    *out)
{
  return em_ctl_parse_seconds (text, out) && *out >= 0;
}

int
em_ctl_wait (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("wait");
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autofree char *id = NULL;
  g_auto(GStrv) return_timeout_args = NULL;
  const char *return_timeout = NULL;
  g_autoptr(GError) error = NULL;
  Wait wait = { NULL, NULL, NULL, NULL, FALSE, FALSE, 0, FALSE, DEFAULT_RETURN_TIMEOUT, 0, -1 };
  guint sigint, sigterm;
  const GOptionEntry entries[] = {
    { "return-timeout", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &return_timeout_args,
      N_("How long to wait for Engine Manager to return when it leaves the bus, as it "
         "does when restarted (default 60; 0: give up at once)"), N_("SECONDS") },
    { NULL }
  };

  g_option_context_set_description (context,
    _("Shows a progress bar when the output is a terminal.\n"
      "Exit status: 0 completed, 1 failed, 2 cancelled,\n"
      "3 unknown task (also one gone when the service returns), service error,\n"
      "the service not back within --return-timeout, bad usage or interrupted."));
  if (!em_ctl_parse_options (context, entries, "wait", &argc, &argv) ||
      !em_ctl_option_texts ("wait", return_timeout_args))
    return WAIT_ERROR;
  if (!em_ctl_option_once ("--return-timeout", return_timeout_args, &return_timeout, &error))
    {
      em_ctl_usage_error ("wait", "%s", error->message);
      return WAIT_ERROR;
    }
  if (return_timeout != NULL && !parse_seconds (return_timeout, &wait.return_timeout))
    {
      em_ctl_usage_error ("wait", _("%s takes a number of seconds, not “%s”"),
                          "--return-timeout", return_timeout);
      return WAIT_ERROR;
    }
  if (!em_ctl_one_argument ("wait", argc, argv, _("exactly one task ID is required")) ||
      (id = em_ctl_argument_text ("wait", argv[1])) == NULL)
    return WAIT_ERROR;

  loop = g_main_loop_new (NULL, FALSE);
  cancellable = g_cancellable_new ();
  wait.loop = loop;
  wait.cancellable = cancellable;
  wait.id = id;
  wait.show_bar = isatty (STDOUT_FILENO);
  wait.calls = 1;
  /* before the first call: Ctrl+C while the service starts or answers is an
   * interruption too (3), not death by SIGINT */
  sigint = g_unix_signal_add (SIGINT, interrupt_cb, &wait);
  sigterm = g_unix_signal_add (SIGTERM, interrupt_cb, &wait);
  em_ctl_connect_async (FALSE, cancellable, proxy_cb, &wait);
  g_main_loop_run (loop);
  /* an outcome by signal may come before GetTask's answer; the cancelled
   * calls end soon, and their callbacks must not outlive @wait */
  g_cancellable_cancel (cancellable);
  while (wait.calls > 0)
    g_main_context_iteration (NULL, TRUE);
  g_clear_handle_id (&sigint, g_source_remove);
  g_clear_handle_id (&sigterm, g_source_remove);
  g_clear_handle_id (&wait.return_source, g_source_remove);

  if (wait.proxy != NULL)
    {
      g_signal_handlers_disconnect_by_data (wait.proxy, &wait);
      g_object_unref (wait.proxy);
    }
  return wait.status;
}
