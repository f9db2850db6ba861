#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <glib/gi18n.h>

#include "cli/em-ctl.h"

/* pads by characters, not bytes, so names in any script line up */
static void
append_padded (GString    *line,
               const char *text,
               guint       width)
{
  glong length = g_utf8_strlen (text, -1);

  g_string_append (line, text);
  for (glong i = length; i < (glong) width; i++)
    g_string_append_c (line, ' ');
  g_string_append (line, "  ");
}

static void
print_table (GVariant *tasks)
{
  const char *keys[] = { "id", "status", "action", "created_at", "name" };
  const char *titles[] = { N_("ID"), N_("STATUS"), N_("ACTION"), N_("CREATED"), N_("NAME") };
  guint widths[G_N_ELEMENTS (keys)];
  gsize n = g_variant_n_children (tasks);

  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    widths[k] = g_utf8_strlen (_(titles[k]), -1);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) task = g_variant_get_child_value (tasks, i);

      for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
        widths[k] = MAX (widths[k], (guint) g_utf8_strlen (em_ctl_dict_get_string (task, keys[k]), -1));
    }

  for (gsize i = 0; i <= n; i++)
    {
      g_autoptr(GVariant) task = i > 0 ? g_variant_get_child_value (tasks, i - 1) : NULL;
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
        {
          const char *text = task != NULL ? em_ctl_dict_get_string (task, keys[k]) : _(titles[k]);

          /* the last column is not padded */
          if (k + 1 == G_N_ELEMENTS (keys))
            g_string_append (line, text);
          else
            append_padded (line, text, widths[k]);
        }
      g_print ("%s\n", line->str);
    }
}

static void
print_json_array (GVariant *tasks)
{
  g_autoptr(JsonArray) array = json_array_new ();
  g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);
  g_autofree char *text = NULL;
  gsize n = g_variant_n_children (tasks);

  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) task = g_variant_get_child_value (tasks, i);

      json_array_add_element (array, em_ctl_dict_to_node (task));
    }
  json_node_set_array (root, array);
  text = em_ctl_node_to_json (root, TRUE);
  g_print ("%s\n", text);
}

int
em_ctl_list (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("list");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GVariant) tasks = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  g_auto(GVariantDict) filter = G_VARIANT_DICT_INIT (NULL);
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "status", 's', 0, G_OPTION_ARG_STRING, &status,
      N_("Only tasks with this status: pending, running, completed, failed or cancelled"),
      N_("STATUS") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print a JSON array of tasks, as the REST API returns them"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!em_ctl_parse_options (context, "list", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (argc > 1)
    {
      em_ctl_usage_error ("list", _("unexpected argument “%s”"), argv[1]);
      return EM_CTL_EXIT_USAGE;
    }

  if (status != NULL)
    g_variant_dict_insert (&filter, "status", "s", status);

  proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_list_tasks_sync (proxy, g_variant_dict_end (&filter),
                                                     G_DBUS_CALL_FLAGS_NONE, -1,
                                                     &tasks, NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  if (json)
    print_json_array (tasks);
  else if (g_variant_n_children (tasks) == 0)
    g_print ("%s\n", _("No tasks."));
  else
    print_table (tasks);

  return EM_CTL_EXIT_OK;
}

static void
print_field (const char *label,
             const char *value)
{
  if (value != NULL && *value != '\0')
    g_print ("%-12s %s\n", label, value);
}

static void
print_dict_field (GVariant   *task,
                  const char *label,
                  const char *key)
{
  g_autoptr(GVariant) dict = g_variant_lookup_value (task, key, G_VARIANT_TYPE_VARDICT);
  g_autofree char *text = NULL;

  if (dict == NULL)
    return;
  text = em_ctl_dict_to_json (dict, FALSE);
  print_field (label, text);
}

static void
print_task (GVariant *task)
{
  gdouble progress = 0;
  g_autofree char *percent = NULL;

  print_field (_("ID:"), em_ctl_dict_get_string (task, "id"));
  print_field (_("Name:"), em_ctl_dict_get_string (task, "name"));
  print_field (_("Action:"), em_ctl_dict_get_string (task, "action"));
  print_field (_("Status:"), em_ctl_dict_get_string (task, "status"));
  print_dict_field (task, _("Parameters:"), "parameters");
  print_dict_field (task, _("Result:"), "result");
  print_field (_("Error:"), em_ctl_dict_get_string (task, "error"));
  print_field (_("Created:"), em_ctl_dict_get_string (task, "created_at"));
  print_field (_("Started:"), em_ctl_dict_get_string (task, "started_at"));
  print_field (_("Completed:"), em_ctl_dict_get_string (task, "completed_at"));
  if (g_variant_lookup (task, "progress", "d", &progress))
    {
      percent = g_strdup_printf ("%.0f %%", progress * 100.0);
      print_field (_("Progress:"), percent);
    }
}

int
em_ctl_get (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("get");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print the task as JSON, as the REST API returns it"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!em_ctl_parse_options (context, "get", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (argc != 2)
    {
      em_ctl_usage_error ("get", _("exactly one task ID is required"));
      return EM_CTL_EXIT_USAGE;
    }

  proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_get_task_sync (proxy, argv[1], G_DBUS_CALL_FLAGS_NONE, -1,
                                                   &task, NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  if (json)
    {
      g_autofree char *text = em_ctl_dict_to_json (task, TRUE);

      g_print ("%s\n", text);
    }
  else
    print_task (task);

  return EM_CTL_EXIT_OK;
}

int
em_ctl_cancel (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("cancel");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GError) error = NULL;

  if (!em_ctl_parse_options (context, "cancel", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (argc != 2)
    {
      em_ctl_usage_error ("cancel", _("exactly one task ID is required"));
      return EM_CTL_EXIT_USAGE;
    }

  proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_cancel_task_sync (proxy, argv[1], G_DBUS_CALL_FLAGS_NONE, -1,
                                                      NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  g_print (_("Cancelled %s\n"), argv[1]);
  return EM_CTL_EXIT_OK;
}
