#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-json-writer.h"
#include "cli/em-ctl.h"
#include "cli/em-ctl-output.h"

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

static char *
field_value_text (GVariant   *task,
                  const char *key)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (task, key, NULL);

  if (value == NULL)
    return g_strdup ("");
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string (value, NULL);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    return g_strdup_printf ("%" G_GINT64_FORMAT, g_variant_get_int64 (value));
  /* as given and as --json has it: %g rounds to six digits, writes 1e+06,
   * and a comma in some locales */
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
    {
      char number[G_ASCII_DTOSTR_BUF_SIZE];

      return g_strdup (em_json_format_double (number, g_variant_get_double (value)));
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("av")))
    {
      g_autoptr(GString) text = g_string_new (NULL);

      for (gsize i = 0; i < g_variant_n_children (value); i++)
        {
          g_autoptr(GVariant) boxed = g_variant_get_child_value (value, i);
          g_autoptr(GVariant) item = g_variant_get_variant (boxed);

          if (g_variant_is_of_type (item, G_VARIANT_TYPE_STRING))
            g_string_append_printf (text, "%s%s", text->len > 0 ? ", " : "",
                                    g_variant_get_string (item, NULL));
        }
      return g_string_free (g_steal_pointer (&text), FALSE);
    }
  return g_variant_print (value, FALSE);
}

/* a field as a table cell or a line of `get`: strings as they are but for
 * line feeds, numbers and lists readable, "" when absent */
static char *
field_text (GVariant   *task,
            const char *key)
{
  g_autofree char *text = field_value_text (task, key);

  return em_ctl_one_line (text);
}

static void
print_table (GVariant *tasks)
{
  const char *keys[] = { "id", "status", "action", "priority", "created_at", "name" };
  const char *titles[] = { N_("ID"), N_("STATUS"), N_("ACTION"), N_("PRIO"), N_("CREATED"), N_("NAME") };
  guint widths[G_N_ELEMENTS (keys)];
  gsize n = g_variant_n_children (tasks);

  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    widths[k] = g_utf8_strlen (_(titles[k]), -1);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) task = g_variant_get_child_value (tasks, i);

      for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
        {
          g_autofree char *text = field_text (task, keys[k]);

          widths[k] = MAX (widths[k], (guint) g_utf8_strlen (text, -1));
        }
    }

  for (gsize i = 0; i <= n; i++)
    {
      g_autoptr(GVariant) task = i > 0 ? g_variant_get_child_value (tasks, i - 1) : NULL;
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
        {
          g_autofree char *cell = task != NULL ? field_text (task, keys[k]) : NULL;
          const char *text = task != NULL ? cell : _(titles[k]);

          /* the last column is not padded */
          if (k + 1 == G_N_ELEMENTS (keys))
            g_string_append (line, text);
          else
            append_padded (line, text, widths[k]);
        }
      g_print ("%s\n", line->str);
    }
}

/* the REST API's task members, in its order. The bus leaves out those that
 * are null; --json puts them back, so that a script reads `get --json` as it
 * reads GET /tasks/{id} ("error" null, not missing) */
static const char * const rest_members[] = {
  "id", "name", "action", "parameters", "status", "result", "error", "created_at",
  "started_at", "completed_at", "progress", "priority", "depends_on", "waiting_on",
  "waiting_for", "max_retries", "retry_delay", "attempts", "run_at", "timeout", "batch",
};

static JsonNode *
task_to_node (GVariant *task)
{
  g_autoptr(JsonNode) sent = em_ctl_dict_to_node (task);
  JsonObject *from = json_node_get_object (sent);
  g_autoptr(JsonObject) object = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  for (guint i = 0; i < G_N_ELEMENTS (rest_members); i++)
    {
      member = json_object_get_member (from, rest_members[i]);
      json_object_set_member (object, rest_members[i],
                              member != NULL ? json_node_copy (member)
                                             : json_node_new (JSON_NODE_NULL));
    }
  /* members a newer service added, as it sent them */
  json_object_iter_init_ordered (&iter, from);
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      if (!json_object_has_member (object, name))
        json_object_set_member (object, name, json_node_copy (member));
    }
  return json_node_init_object (json_node_alloc (), object);
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

      json_array_add_element (array, task_to_node (task));
    }
  json_node_set_array (root, array);
  text = em_ctl_node_to_json (root, TRUE);
  g_print ("%s\n", text);
}

/* tasks per ListTasks call: all of history in one reply could be hundreds of
 * megabytes, past the bus's message limit and its default call timeout */
#define LIST_PAGE 1000

/* whether the service refused a page as larger than one reply may hold: its
 * tasks are large (long dependency lists, results), and fewer of them fit */
static gboolean
page_too_large (const GError *error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  g_autoptr(GError) copy = NULL;

  if (g_strcmp0 (remote, "io.github.enginemanager.Error.InvalidArgument") != 0)
    return FALSE;
  copy = g_error_copy (error);
  g_dbus_error_strip_remote_error (copy);
  return g_str_has_prefix (copy->message, "filter.limit:");
}

/* the tasks @filter selects, from @offset on, at most @limit of them (0: all),
 * asked for page by page, each after the last task of the one before, so that
 * tasks leaving the filter meanwhile (pending ones that start) skip none */
static GVariant *
list_tasks (EmDBusEngineManager1  *proxy,
            GVariant              *filter,
            guint                  offset,
            guint                  limit,
            GError               **error)
{
  GVariantBuilder all;
  g_autofree char *last_id = NULL;
  guint got = 0;
  guint page_length = LIST_PAGE;

  g_variant_builder_init (&all, G_VARIANT_TYPE ("aa{sv}"));
  for (;;)
    {
      g_auto(GVariantDict) page_filter = G_VARIANT_DICT_INIT (filter);
      g_autoptr(GVariant) page = NULL;
      g_autoptr(GError) local_error = NULL;
      guint want = limit > 0 ? MIN (page_length, limit - got) : page_length;
      gsize n;

      if (last_id == NULL)
        g_variant_dict_insert (&page_filter, "offset", "u", offset);
      else
        g_variant_dict_insert (&page_filter, "after", "s", last_id);
      g_variant_dict_insert (&page_filter, "limit", "u", want);
      if (!em_dbus_engine_manager1_call_list_tasks_sync (proxy, g_variant_dict_end (&page_filter),
                                                         G_DBUS_CALL_FLAGS_NONE, -1,
                                                         &page, NULL, &local_error))
        {
          /* the page is ours, not the user's: a smaller one is asked for */
          if (want > 1 && page_too_large (local_error))
            {
              page_length = want / 2;
              continue;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          g_variant_builder_clear (&all);
          return NULL;
        }
      n = g_variant_n_children (page);
      for (gsize i = 0; i < n; i++)
        g_variant_builder_add_value (&all, g_variant_get_child_value (page, i));
      got += n;
      if (n > 0)
        {
          g_autoptr(GVariant) last = g_variant_get_child_value (page, n - 1);

          g_clear_pointer (&last_id, g_free);
          if (!g_variant_lookup (last, "id", "s", &last_id))
            break;
        }
      if (n < want || (limit > 0 && got >= limit))
        break;
    }
  return g_variant_ref_sink (g_variant_builder_end (&all));
}

/* every --status, each possibly a comma-separated list, as the REST
 * API's status=failed,cancelled; the last one alone would drop the rest
 * without a word */
static GVariant *
statuses_variant (GStrv options)
{
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  g_auto(GStrv) all = NULL;

  for (guint i = 0; options[i] != NULL; i++)
    {
      g_auto(GStrv) parts = g_strsplit (options[i], ",", -1);

      g_strv_builder_addv (names, (const char **) parts);
    }
  all = g_strv_builder_end (names);
  return g_variant_new_strv ((const char * const *) all, -1);
}

/* a count of tasks, in decimal as the service's ListTasks takes it (u): GOption's
 * own integers read 010 as 8 and 0x10 as 16, and stop at 2^31 */
static gboolean
parse_count (const char *flag,
             const char *text,
             guint64    *out_count)
{
  if (text == NULL)
    return TRUE;
  if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, out_count, NULL))
    return TRUE;

  em_ctl_usage_error ("list", _("%s takes a whole number from 0 to %u, not “%s”"),
                      flag, G_MAXUINT32, text);
  return FALSE;
}

/* --limit 0 reads as "none" (head -n 0) as much as "no limit" (ListTasks'
 * limit 0), and REST refuses limit=0: refused, as all tasks is the flag left out */
static gboolean
parse_limit (const char *text,
             guint64    *out_limit)
{
  if (text == NULL)
    return TRUE;
  if (g_ascii_string_to_unsigned (text, 10, 1, G_MAXUINT32, out_limit, NULL))
    return TRUE;

  em_ctl_usage_error ("list", _("--limit takes a whole number from 1 to %u, not “%s”; "
                                "leave it out for all tasks"),
                      G_MAXUINT32, text);
  return FALSE;
}

/* the index in @keys of the flag-given key that "filter.KEY" at @text names,
 * the key itself and not one that starts with it; -1 for none */
static int
flag_key_at (const char         *text,
             const char * const *keys)
{
  if (!g_str_has_prefix (text, "filter."))
    return -1;
  for (int i = 0; keys[i] != NULL; i++)
    {
      gsize length = strlen (keys[i]);

      if (*keys[i] != '\0' && strncmp (text + strlen ("filter."), keys[i], length) == 0 &&
          text[strlen ("filter.") + length] != '\0' &&
          strchr (":[ ;,)", text[strlen ("filter.") + length]) != NULL)
        return i;
    }
  return -1;
}

/* the service names a refused key of the filter ("filter.status: unknown status
 * …", "filter.until: … is before filter.since (…)"); when enginectl filled that
 * key from a flag, the user knows it as the flag, wherever the message names it */
static void
name_flag (GError             *error,
           const char * const *keys)
{
  g_autoptr(GString) message = NULL;

  g_dbus_error_strip_remote_error (error);
  if (flag_key_at (error->message, keys) < 0)
    return;
  message = g_string_sized_new (strlen (error->message));
  for (const char *p = error->message; *p != '\0';)
    {
      int key = flag_key_at (p, keys);

      if (key >= 0)
        {
          g_string_append_printf (message, "--%s", keys[key]);
          p += strlen ("filter.") + strlen (keys[key]);
        }
      else
        g_string_append_c (message, *p++);
    }
  g_free (error->message);
  error->message = g_string_free (g_steal_pointer (&message), FALSE);
}

int
em_ctl_list (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("list");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GVariant) tasks = NULL;
  g_autoptr(GVariant) base_filter = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) status = NULL;
  g_auto(GStrv) action_args = NULL;
  g_auto(GStrv) since_args = NULL;
  g_auto(GStrv) until_args = NULL;
  g_auto(GStrv) offset_args = NULL;
  g_auto(GStrv) limit_args = NULL;
  const char *action = NULL, *since = NULL, *until = NULL;
  const char *offset_text = NULL, *limit_text = NULL;
  guint64 offset = 0;
  guint64 limit = 0;
  g_auto(GVariantDict) filter = G_VARIANT_DICT_INIT (NULL);
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "status", 's', 0, G_OPTION_ARG_FILENAME_ARRAY, &status,
      N_("Only tasks with this status: pending, running, completed, failed or cancelled; "
         "repeatable, or several separated by commas"),
      N_("STATUS") },
    { "action", 'a', 0, G_OPTION_ARG_FILENAME_ARRAY, &action_args,
      N_("Only tasks of this action"), N_("ACTION") },
    { "since", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &since_args,
      N_("Only tasks created at or after this RFC 3339 time"), N_("TIME") },
    { "until", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &until_args,
      N_("Only tasks created before this RFC 3339 time"), N_("TIME") },
    { "offset", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &offset_args,
      N_("Skip the first N matching tasks"), N_("N") },
    { "limit", 'l', 0, G_OPTION_ARG_FILENAME_ARRAY, &limit_args,
      N_("Show at most N tasks, N at least 1 (default: all)"), N_("N") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print a JSON array of tasks, as the REST API returns them"), NULL },
    { NULL }
  };

  if (!em_ctl_parse_options (context, entries, "list", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (!em_ctl_option_texts ("list", status) || !em_ctl_option_texts ("list", action_args) ||
      !em_ctl_option_texts ("list", since_args) || !em_ctl_option_texts ("list", until_args) ||
      !em_ctl_option_texts ("list", offset_args) || !em_ctl_option_texts ("list", limit_args))
    return EM_CTL_EXIT_USAGE;
  if (argc > 1)
    {
      em_ctl_usage_error ("list", _("unexpected argument “%s”"), argv[1]);
      return EM_CTL_EXIT_USAGE;
    }

  if (!em_ctl_option_once ("--action", action_args, &action, &error) ||
      !em_ctl_option_once ("--since", since_args, &since, &error) ||
      !em_ctl_option_once ("--until", until_args, &until, &error) ||
      !em_ctl_option_once ("--offset", offset_args, &offset_text, &error) ||
      !em_ctl_option_once ("--limit", limit_args, &limit_text, &error))
    {
      em_ctl_usage_error ("list", "%s", error->message);
      return EM_CTL_EXIT_USAGE;
    }
  if (!parse_count ("--offset", offset_text, &offset) ||
      !parse_limit (limit_text, &limit))
    return EM_CTL_EXIT_USAGE;

  if (status != NULL)
    g_variant_dict_insert_value (&filter, "status", statuses_variant (status));
  if (action != NULL)
    g_variant_dict_insert (&filter, "action", "s", action);
  if (since != NULL)
    g_variant_dict_insert (&filter, "since", "s", since);
  if (until != NULL)
    g_variant_dict_insert (&filter, "until", "s", until);

  base_filter = g_variant_ref_sink (g_variant_dict_end (&filter));
  proxy = em_ctl_connect (&error);
  if (proxy != NULL)
    tasks = list_tasks (proxy, base_filter, (guint) offset, (guint) limit, &error);
  if (tasks == NULL)
    {
      /* what enginectl sends of its own (the page's limit and after) keeps its key */
      const char *flags[] = {
        status != NULL ? "status" : "", action != NULL ? "action" : "",
        since != NULL ? "since" : "", until != NULL ? "until" : "",
        offset_text != NULL ? "offset" : "", NULL
      };

      if (proxy != NULL)
        name_flag (error, flags);
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

/* a label and its value for em_ctl_print_fields(); nothing when empty */
static void
add_field (GPtrArray  *fields,
           const char *label,
           const char *value)
{
  if (value == NULL || *value == '\0')
    return;
  g_ptr_array_add (fields, g_strdup (label));
  g_ptr_array_add (fields, em_ctl_one_line (value));
}

static void
add_dict_field (GPtrArray  *fields,
                GVariant   *task,
                const char *label,
                const char *key)
{
  g_autoptr(GVariant) dict = g_variant_lookup_value (task, key, G_VARIANT_TYPE_VARDICT);
  g_autofree char *text = NULL;

  if (dict == NULL)
    return;
  text = em_ctl_dict_to_json (dict, FALSE);
  add_field (fields, label, text);
}

static void
add_text_field (GPtrArray  *fields,
                GVariant   *task,
                const char *label,
                const char *key)
{
  g_autofree char *text = field_text (task, key);

  add_field (fields, label, text);
}

static void
print_task (GVariant *task)
{
  g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func (g_free);
  gdouble progress = 0;
  gint64 max_retries = 0;
  g_autofree char *percent = NULL;

  add_field (fields, _("ID:"), em_ctl_dict_get_string (task, "id"));
  add_field (fields, _("Name:"), em_ctl_dict_get_string (task, "name"));
  add_field (fields, _("Action:"), em_ctl_dict_get_string (task, "action"));
  add_field (fields, _("Status:"), em_ctl_dict_get_string (task, "status"));
  add_dict_field (fields, task, _("Parameters:"), "parameters");
  add_dict_field (fields, task, _("Result:"), "result");
  add_field (fields, _("Error:"), em_ctl_dict_get_string (task, "error"));
  add_field (fields, _("Created:"), em_ctl_dict_get_string (task, "created_at"));
  add_field (fields, _("Started:"), em_ctl_dict_get_string (task, "started_at"));
  add_field (fields, _("Completed:"), em_ctl_dict_get_string (task, "completed_at"));
  if (g_variant_lookup (task, "progress", "d", &progress))
    {
      percent = g_strdup_printf ("%.0f %%", progress * 100.0);
      add_field (fields, _("Progress:"), percent);
    }
  add_text_field (fields, task, _("Priority:"), "priority");
  add_text_field (fields, task, _("Depends on:"), "depends_on");
  add_text_field (fields, task, _("Waiting on:"), "waiting_on");
  add_text_field (fields, task, _("Waiting for:"), "waiting_for");
  add_text_field (fields, task, _("Run at:"), "run_at");
  add_text_field (fields, task, _("Attempts:"), "attempts");
  if (g_variant_lookup (task, "max_retries", "x", &max_retries) && max_retries > 0)
    {
      add_text_field (fields, task, _("Max retries:"), "max_retries");
      add_text_field (fields, task, _("Retry delay:"), "retry_delay");
    }
  add_text_field (fields, task, _("Timeout:"), "timeout");
  add_text_field (fields, task, _("Batch:"), "batch");
  em_ctl_print_fields (fields, 13);
}

int
em_ctl_get (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("get");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print the task as JSON, as the REST API returns it"), NULL },
    { NULL }
  };

  if (!em_ctl_parse_options (context, entries, "get", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (!em_ctl_one_argument ("get", argc, argv, _("exactly one task ID is required")) ||
      (id = em_ctl_argument_text ("get", argv[1])) == NULL)
    return EM_CTL_EXIT_USAGE;

  proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_get_task_sync (proxy, id, G_DBUS_CALL_FLAGS_NONE, -1,
                                                   &task, NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  if (json)
    {
      g_autoptr(JsonNode) node = task_to_node (task);
      g_autofree char *text = em_ctl_node_to_json (node, TRUE);

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
  g_autofree char *id = NULL;

  if (!em_ctl_parse_options (context, NULL, "cancel", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (!em_ctl_one_argument ("cancel", argc, argv, _("exactly one task ID is required")) ||
      (id = em_ctl_argument_text ("cancel", argv[1])) == NULL)
    return EM_CTL_EXIT_USAGE;

  proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_cancel_task_sync (proxy, id, G_DBUS_CALL_FLAGS_NONE, -1,
                                                      NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  g_print (_("Cancelled %s\n"), id);
  return EM_CTL_EXIT_OK;
}
