#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "engine/em-task-spec.h"
#include "cli/em-ctl.h"

/* each as given, so that an option that takes one value can be refused twice */
typedef struct {
  GStrv name;
  GStrv priority;
  GStrv depends_on;
  GStrv max_retries;
  GStrv retry_delay;
  GStrv delay;
  GStrv run_at;
  GStrv timeout;
  GStrv option_args;
} ScheduleOptions;

static void
schedule_options_clear (ScheduleOptions *options)
{
  g_strfreev (options->name);
  g_strfreev (options->priority);
  g_strfreev (options->depends_on);
  g_strfreev (options->max_retries);
  g_strfreev (options->retry_delay);
  g_strfreev (options->delay);
  g_strfreev (options->run_at);
  g_strfreev (options->timeout);
  g_strfreev (options->option_args);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ScheduleOptions, schedule_options_clear)

/* the scheduling options, each optional: null is one left out, as in a
 * POST /tasks body */
static const char * const option_keys[] = {
  "priority", "depends_on", "max_retries", "retry_delay", "delay", "timeout", "run_at", NULL
};

/* KEY=VALUE pairs as given: the values, and the keys given as null, which
 * D-Bus cannot carry and which are left out once the service says whether
 * it knows them */
typedef struct {
  GVariantDict dict;
  GPtrArray *nulls;
} Assignments;

static void
assignments_clear (Assignments *self)
{
  g_variant_dict_clear (&self->dict);
  g_clear_pointer (&self->nulls, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Assignments, assignments_clear)

static gboolean
has_key (Assignments *self,
         const char  *key)
{
  return g_variant_dict_contains (&self->dict, key) ||
         g_ptr_array_find_with_equal_func (self->nulls, key, g_str_equal, NULL);
}

static gboolean
insert_value (Assignments  *self,
              const char   *key,
              GVariant     *value,
              GError      **error)
{
  g_autoptr(GVariant) owned = value != NULL ? g_variant_ref_sink (value) : NULL;

  if (has_key (self, key))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("%s is given twice"), key);
      return FALSE;
    }
  if (owned == NULL)
    g_ptr_array_add (self->nulls, g_strdup (key));
  else
    g_variant_dict_insert_value (&self->dict, key, owned);
  return TRUE;
}

static gboolean
parse_assignment (Assignments  *self,
                  const char   *argument,
                  GError      **error)
{
  const char *equals = strchr (argument, '=');
  g_autofree char *key = NULL;
  GVariant *value;

  if (equals == NULL || equals == argument)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("“%s” is not of the form KEY=VALUE"), argument);
      return FALSE;
    }

  key = g_strndup (argument, equals - argument);
  if (em_ctl_value_is_null (equals + 1))
    return insert_value (self, key, NULL, error);
  value = em_ctl_parse_value (key, equals + 1, error);
  return value != NULL && insert_value (self, key, value, error);
}

/* a null option under a name the service does not know is refused as the
 * service refuses one with a value, rather than dropped unseen */
static gboolean
check_null_options (Assignments  *options,
                    GError      **error)
{
  for (guint i = 0; i < options->nulls->len; i++)
    {
      const char *key = g_ptr_array_index (options->nulls, i);

      if (!g_strv_contains (option_keys, key))
        {
          g_autofree char *quoted = em_clip_member_name (key);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("options.%s: unknown field"), quoted);
          return FALSE;
        }
    }
  return TRUE;
}

/* the null parameters are left out when @action declares them (a required
 * one is then refused by the service as missing, by name); under a name it
 * does not declare one is refused, since it may be a misspelt one */
static gboolean
check_null_parameters (EmDBusEngineManager1  *proxy,
                       const char            *action,
                       Assignments           *parameters,
                       GError               **error)
{
  g_autoptr(GVariant) declarations = NULL;
  g_autoptr(GError) local_error = NULL;

  if (parameters->nulls->len == 0)
    return TRUE;
  declarations = em_ctl_get_action_parameters (proxy, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  for (guint i = 0; i < parameters->nulls->len; i++)
    {
      const char *key = g_ptr_array_index (parameters->nulls, i);
      g_autofree char *quoted = em_clip_member_name (key);
      gboolean known_action = FALSE;

      /* a service without ActionParameters cannot say which to leave out */
      if (declarations == NULL)
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: null cannot be sent over D-Bus; leave the key out instead"), quoted);
          return FALSE;
        }
      /* of an unknown action none is: the service refuses the action */
      if (!em_ctl_action_declares (declarations, action, key, &known_action) && known_action)
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("parameters.%s: unknown parameter for action “%s”"), quoted, action);
          return FALSE;
        }
    }
  return TRUE;
}

/* a number flag: its form is checked here (a usage error), its range by the
 * service, whose message names the option */
static gboolean
insert_number (Assignments   *dict,
               const char    *flag,
               const char    *key,
               GStrv          values,
               gboolean       integer,
               GError       **error)
{
  const char *text = NULL;
  gint64 whole = 0;
  gdouble number = 0;

  if (!em_ctl_option_once (flag, values, &text, error))
    return FALSE;
  if (text == NULL)
    return TRUE;

  /* g_ascii_string_to_signed() takes "+5", which --limit, --since and the
   * service's own whole-number options refuse */
  if (integer && text[0] != '+' &&
      g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &whole, NULL))
    return insert_value (dict, key, g_variant_new_int64 (whole), error);

  /* inf and nan came back from the service as a puzzle about D-Bus types
   * instead of a usage error naming the flag */
  if (!integer && em_ctl_parse_seconds (text, &number))
    return insert_value (dict, key, g_variant_new_double (number), error);

  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               integer ? _("%s takes a whole number, not “%s”")
                       : _("%s takes a number of seconds, not “%s”"),
               flag, text);
  return FALSE;
}

static gboolean
build_options (ScheduleOptions  *args,
               Assignments      *options,
               GError          **error)
{
  const char *run_at = NULL;

  for (guint i = 0; args->option_args != NULL && args->option_args[i] != NULL; i++)
    {
      if (!parse_assignment (options, args->option_args[i], error))
        {
          g_prefix_error (error, "--option: ");
          return FALSE;
        }
    }

  if (!insert_number (options, "--priority", "priority", args->priority, TRUE, error) ||
      !insert_number (options, "--max-retries", "max_retries", args->max_retries, TRUE, error) ||
      !insert_number (options, "--retry-delay", "retry_delay", args->retry_delay, FALSE, error) ||
      !insert_number (options, "--delay", "delay", args->delay, FALSE, error) ||
      !insert_number (options, "--timeout", "timeout", args->timeout, FALSE, error))
    return FALSE;

  if (!em_ctl_option_once ("--run-at", args->run_at, &run_at, error))
    return FALSE;
  if (run_at != NULL &&
      !insert_value (options, "run_at", g_variant_new_string (run_at), error))
    return FALSE;
  if (args->depends_on != NULL &&
      !insert_value (options, "depends_on",
                     g_variant_new_strv ((const char * const *) args->depends_on, -1), error))
    return FALSE;

  return TRUE;
}

/* the service names a refused option by its key ("options.priority must be
 * between …"); one that a flag set, the user knows by the flag, as `list`
 * names its filters. A key is set once, so a flag given is the key's source */
static void
name_flag (GError          *error,
           ScheduleOptions *args)
{
  const struct { const char *key; const char *flag; GStrv given; } flags[] = {
    { "priority", "--priority", args->priority },
    { "depends_on", "--depends-on", args->depends_on },
    { "max_retries", "--max-retries", args->max_retries },
    { "retry_delay", "--retry-delay", args->retry_delay },
    { "delay", "--delay", args->delay },
    { "run_at", "--run-at", args->run_at },
    { "timeout", "--timeout", args->timeout },
  };

  g_dbus_error_strip_remote_error (error);
  /* the task's own field, which --name gives */
  if (args->name != NULL && g_str_has_prefix (error->message, "name "))
    {
      char *message = g_strconcat ("--", error->message, NULL);

      g_free (error->message);
      error->message = message;
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (flags); i++)
    {
      g_autofree char *prefix = g_strconcat ("options.", flags[i].key, NULL);
      gsize length = strlen (prefix);
      char *message;

      /* the key itself, not one that starts with it */
      if (flags[i].given == NULL || !g_str_has_prefix (error->message, prefix) ||
          error->message[length] == '\0' || strchr (":[ ", error->message[length]) == NULL)
        continue;
      message = g_strconcat (flags[i].flag, error->message + length, NULL);
      g_free (error->message);
      error->message = message;
      return;
    }
}

int
em_ctl_schedule (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("schedule");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(ScheduleOptions) args = { NULL, };
  const char *name = NULL;
  g_autofree char *action = NULL;
  g_autofree char *default_name = NULL;
  g_autofree char *id = NULL;
  g_autofree char *path = NULL;
  g_auto(Assignments) parameters = { G_VARIANT_DICT_INIT (NULL), g_ptr_array_new_with_free_func (g_free) };
  g_auto(Assignments) options = { G_VARIANT_DICT_INIT (NULL), g_ptr_array_new_with_free_func (g_free) };
  const GOptionEntry entries[] = {
    { "name", 'n', 0, G_OPTION_ARG_FILENAME_ARRAY, &args.name,
      N_("A name for the task (default: the action)"), N_("NAME") },
    { "priority", 'p', 0, G_OPTION_ARG_FILENAME_ARRAY, &args.priority,
      N_("Higher runs first among ready tasks (default 0)"), N_("N") },
    { "depends-on", 'd', 0, G_OPTION_ARG_FILENAME_ARRAY, &args.depends_on,
      N_("Start only after this task completed; repeatable"), N_("ID") },
    { "max-retries", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args.max_retries,
      N_("Run a failed task again up to N times"), N_("N") },
    { "retry-delay", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args.retry_delay,
      N_("Seconds before the first retry, doubling after (default 1)"), N_("SECONDS") },
    { "delay", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args.delay,
      N_("Start no sooner than this many seconds from now"), N_("SECONDS") },
    { "run-at", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args.run_at,
      N_("Start no sooner than this RFC 3339 time, e.g. 2026-01-01T12:00:00Z"), N_("TIME") },
    { "timeout", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args.timeout,
      N_("Fail a run that takes longer than this many seconds"), N_("SECONDS") },
    { "option", 'o', 0, G_OPTION_ARG_FILENAME_ARRAY, &args.option_args,
      N_("Any scheduling option as KEY=VALUE, e.g. delay=30; repeatable"), N_("KEY=VALUE") },
    { NULL }
  };

  g_option_context_set_description (context,
    _("VALUE is read as JSON when it is valid JSON (10, 2.5, true, \"text\") and as a\n"
      "string otherwise; null leaves the key out. Examples:\n"
      "  enginectl schedule capture_image --name snap exposure=10 format=png\n"
      "  enginectl schedule move_stage --priority 5 --max-retries 2 x=1200 y=-350\n"
      "  enginectl schedule capture_image --depends-on ID --timeout 30 exposure=10\n"
      "Prints the new task’s id."));
  if (!em_ctl_parse_options (context, entries, "schedule", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (!em_ctl_option_texts ("schedule", args.name) ||
      !em_ctl_option_texts ("schedule", args.priority) ||
      !em_ctl_option_texts ("schedule", args.depends_on) ||
      !em_ctl_option_texts ("schedule", args.max_retries) ||
      !em_ctl_option_texts ("schedule", args.retry_delay) ||
      !em_ctl_option_texts ("schedule", args.delay) ||
      !em_ctl_option_texts ("schedule", args.run_at) ||
      !em_ctl_option_texts ("schedule", args.timeout) ||
      !em_ctl_option_texts ("schedule", args.option_args))
    return EM_CTL_EXIT_USAGE;

  /* an empty one too: as the default name, it was refused as an empty name */
  if (argc < 2 || *argv[1] == '\0')
    {
      em_ctl_usage_error ("schedule", _("an ACTION is required"));
      return EM_CTL_EXIT_USAGE;
    }
  if ((action = em_ctl_argument_text ("schedule", argv[1])) == NULL)
    return EM_CTL_EXIT_USAGE;

  for (int i = 2; i < argc; i++)
    {
      g_autofree char *assignment = em_ctl_argument_text ("schedule", argv[i]);

      if (assignment == NULL)
        return EM_CTL_EXIT_USAGE;
      if (!parse_assignment (&parameters, assignment, &error))
        {
          em_ctl_usage_error ("schedule", "%s", error->message);
          return EM_CTL_EXIT_USAGE;
        }
    }

  if (!em_ctl_option_once ("--name", args.name, &name, &error) ||
      !build_options (&args, &options, &error))
    {
      em_ctl_usage_error ("schedule", "%s", error->message);
      return EM_CTL_EXIT_USAGE;
    }

  if (!check_null_options (&options, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  proxy = em_ctl_connect (&error);
  if (proxy == NULL || !check_null_parameters (proxy, action, &parameters, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }
  /* the action is the default name, as far as a name may go: a longer one
   * is no action either, and that is what the answer should say */
  if (name == NULL)
    default_name = g_utf8_substring (action, 0, MIN (g_utf8_strlen (action, -1), EM_TASK_NAME_MAX_CHARS));
  if (!em_dbus_engine_manager1_call_schedule_task_sync (proxy,
                                                        name != NULL ? name : default_name,
                                                        action,
                                                        g_variant_dict_end (&parameters.dict),
                                                        g_variant_dict_end (&options.dict),
                                                        G_DBUS_CALL_FLAGS_NONE, -1,
                                                        &id, &path, NULL, &error))
    {
      if (g_error_matches (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT))
        name_flag (error, &args);
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  g_print ("%s\n", id);
  return EM_CTL_EXIT_OK;
}
