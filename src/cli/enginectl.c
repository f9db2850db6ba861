#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <glib/gi18n.h>

#include "cli/em-ctl.h"
#include "cli/em-ctl-output.h"

static const EmCtlCommand commands[] = {
  { "schedule", N_("ACTION [KEY=VALUE…]"), N_("Schedule a task and print its id"), em_ctl_schedule },
  { "list", NULL, N_("List tasks, oldest first"), em_ctl_list },
  { "get", N_("ID"), N_("Show one task"), em_ctl_get },
  { "cancel", N_("ID"), N_("Cancel a pending or running task"), em_ctl_cancel },
  { "watch", NULL, N_("Print task events as they happen"), em_ctl_watch },
  { "wait", N_("ID"), N_("Wait until a task finishes; the exit status tells how"), em_ctl_wait },
  { "batch", N_("FILE|-"), N_("Schedule a JSON array of tasks, all or nothing"), em_ctl_batch },
  { "pause", NULL, N_("Pause the queue: running tasks finish, nothing new starts"), em_ctl_pause },
  { "resume", NULL, N_("Resume the queue"), em_ctl_resume },
  { "queue", NULL, N_("Show the queue: paused, counts per status, running tasks"), em_ctl_queue },
};

const EmCtlCommand *
em_ctl_lookup_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

/* through g_print() or g_printerr(), as all other output: a translation is
 * written in the locale's character set, not as raw UTF-8 */
static void
print_usage (gboolean to_stderr)
{
  g_autoptr(GString) text = g_string_new (NULL);

  g_string_append_printf (text, "%s\n", _("Usage:\n  enginectl COMMAND [OPTION…] [ARGUMENT…]"));
  g_string_append_printf (text, "\n%s\n", _("Drives Engine Manager over D-Bus."));
  g_string_append_printf (text, "\n%s\n", _("Commands:"));
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (text, "  %-10s %s\n", commands[i].name, _(commands[i].summary));
  g_string_append_printf (text, "\n%s\n", _("Run “enginectl COMMAND --help” for a command’s options."));
  g_string_append_printf (text, "\n%s\n", _("Options:\n"
                                                   "  -h, -?, --help, --help-all\n"
                                                   "                 Show this help\n"
                                                   "  --version      Print the version"));
  if (to_stderr)
    g_printerr ("%s", text->str);
  else
    g_print ("%s", text->str);
}

/* what follows --version or "help COMMAND" would otherwise be dropped without a word */
static int
unexpected_argument (const char *after,
                     const char *argument)
{
  g_printerr (_("enginectl: unexpected argument “%s” after “%s”\n"), argument, after);
  g_printerr (_("Run “enginectl --help” for the list of commands.\n"));
  return EM_CTL_EXIT_USAGE;
}

/* what asks for help before a command: help, and GOption's help options,
 * which every command takes after its name */
static gboolean
is_help (const char *argument)
{
  static const char * const names[] = { "help", "--help", "-h", "-?", "--help-all", NULL };

  return g_strv_contains (names, argument);
}

/* output that did not reach standard output (a full disk, /dev/full) fails
 * the command: a script must not take an id it never got for success. Not
 * wait's, whose status is the task's outcome */
static int
check_output (const char *command,
              int         status)
{
  if (fflush (stdout) == 0 && !ferror (stdout))
    return status;
  g_printerr (_("enginectl: could not write to standard output\n"));
  if (status != EM_CTL_EXIT_OK || g_str_equal (command, "wait"))
    return status;
  return EM_CTL_EXIT_ERROR;
}

int
main (int argc, char **argv)
{
  const EmCtlCommand *command;
  g_autofree char *prgname = NULL;
  const char *name;
  /* the build tree's catalogues under `meson devenv`, as the service takes them */
  const char *localedir = g_getenv ("ENGINE_MANAGER_LOCALEDIR");

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL && *localedir != '\0' ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  em_ctl_install_safe_output ();

  if (argc < 2)
    {
      print_usage (TRUE);
      return EM_CTL_EXIT_USAGE;
    }

  name = argv[1];
  if (g_str_equal (name, "--version"))
    {
      if (argc > 2)
        return unexpected_argument (name, argv[2]);
      g_print ("enginectl %s\n", PACKAGE_VERSION);
      return check_output (name, EM_CTL_EXIT_OK);
    }

  /* "enginectl help COMMAND" (or --help COMMAND) is "enginectl COMMAND --help" */
  if (is_help (name))
    {
      char *help_argv[] = { NULL, (char *) "--help", NULL };

      /* "help help" too: completion offers help after help; and "--help
       * --help", which asks for the same once more */
      if (argc < 3 || (argc == 3 && is_help (argv[2])))
        {
          print_usage (FALSE);
          return check_output (name, EM_CTL_EXIT_OK);
        }
      if (argc > 3)
        return unexpected_argument (argv[2], argv[3]);
      command = em_ctl_lookup_command (argv[2]);
      if (command != NULL)
        {
          prgname = g_strdup_printf ("enginectl %s", command->name);
          g_set_prgname (prgname);
          help_argv[0] = (char *) command->name;
          return check_output (command->name, command->run (2, help_argv));
        }
      name = argv[2];
    }

  command = em_ctl_lookup_command (name);
  /* options go after the command; one before it ("enginectl --json list",
   * a mistyped --version) is no command */
  if (command == NULL && name[0] == '-' && name[1] != '\0')
    {
      g_printerr (_("enginectl: unknown option “%s”\n"), name);
      g_printerr (_("Run “enginectl --help” for the list of commands.\n"));
      return EM_CTL_EXIT_USAGE;
    }
  if (command == NULL)
    {
      g_printerr (_("enginectl: unknown command “%s”\n"), name);
      g_printerr (_("Run “enginectl --help” for the list of commands.\n"));
      return EM_CTL_EXIT_USAGE;
    }

  /* the usage line of --help reads "enginectl COMMAND [OPTION…] …" */
  prgname = g_strdup_printf ("enginectl %s", command->name);
  g_set_prgname (prgname);
  return check_output (command->name, command->run (argc - 1, argv + 1));
}
