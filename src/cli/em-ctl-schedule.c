#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-variant.h"
#include "cli/em-ctl.h"

/* (floating) VALUE is JSON when it parses as JSON (10, 2.5, true, "text", [1, 2]), and a
 * plain string otherwise, so `format=png` needs no quotes */
static GVariant *
parse_value (const char  *key,
             const char  *text,
             GError     **error)
{
  g_autoptr(JsonNode) node = json_from_string (text, NULL);

  if (node == NULL)
    return g_variant_new_string (text);

  if (JSON_NODE_HOLDS_NULL (node))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s: null cannot be sent over D-Bus; leave the key out instead"), key);
      return NULL;
    }

  return em_json_node_to_variant (node);
}

static gboolean
parse_assignment (GVariantDict  *dict,
                  const char    *argument,
                  GError       **error)
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
  if (g_variant_dict_contains (dict, key))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s is given twice"), key);
      return FALSE;
    }

  value = parse_value (key, equals + 1, error);
  if (value == NULL)
    return FALSE;

  g_variant_dict_insert_value (dict, key, value);
  return TRUE;
}

int
em_ctl_schedule (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("schedule");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_auto(GStrv) option_args = NULL;
  int priority = 0;
  g_autofree char *id = NULL;
  g_autofree char *path = NULL;
  g_auto(GVariantDict) parameters = G_VARIANT_DICT_INIT (NULL);
  g_auto(GVariantDict) options = G_VARIANT_DICT_INIT (NULL);
  const GOptionEntry entries[] = {
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name,
      N_("A name for the task (default: the action)"), N_("NAME") },
    { "priority", 'p', 0, G_OPTION_ARG_INT, &priority,
      N_("Higher runs first (default 0)"), N_("N") },
    { "option", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &option_args,
      N_("A scheduling option, e.g. delay=30 or depends_on='[\"ID\"]'; repeatable"),
      N_("KEY=VALUE") },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (context,
    _("VALUE is read as JSON when it is valid JSON (10, 2.5, true, \"text\") and as a\n"
      "string otherwise. Example:\n"
      "  enginectl schedule capture_image --name snap exposure=10 format=png\n"
      "Scheduling options (--option): priority, depends_on, max_retries,\n"
      "retry_delay, run_at, delay, timeout, as in the REST API.\n"
      "Prints the new task’s id."));
  if (!em_ctl_parse_options (context, "schedule", &argc, &argv))
    return EM_CTL_EXIT_USAGE;

  if (argc < 2)
    {
      em_ctl_usage_error ("schedule", _("an ACTION is required"));
      return EM_CTL_EXIT_USAGE;
    }

  for (int i = 2; i < argc; i++)
    {
      if (!parse_assignment (&parameters, argv[i], &error))
        {
          em_ctl_usage_error ("schedule", "%s", error->message);
          return EM_CTL_EXIT_USAGE;
        }
    }

  for (guint i = 0; option_args != NULL && option_args[i] != NULL; i++)
    {
      if (!parse_assignment (&options, option_args[i], &error))
        {
          em_ctl_usage_error ("schedule", "--option: %s", error->message);
          return EM_CTL_EXIT_USAGE;
        }
    }

  /* 0 is the engine's default, so no --priority needs no option */
  if (priority != 0 && !g_variant_dict_contains (&options, "priority"))
    g_variant_dict_insert (&options, "priority", "i", priority);

  proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_schedule_task_sync (proxy,
                                                        name != NULL ? name : argv[1],
                                                        argv[1],
                                                        g_variant_dict_end (&parameters),
                                                        g_variant_dict_end (&options),
                                                        G_DBUS_CALL_FLAGS_NONE, -1,
                                                        &id, &path, NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  g_print ("%s\n", id);
  return EM_CTL_EXIT_OK;
}
