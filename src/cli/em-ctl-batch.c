#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <glib/gi18n.h>
#include <gio/gunixinputstream.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "engine/em-json-reader.h"
#include "engine/em-json-variant.h"
#include "cli/em-ctl.h"

/* a batch is an array of tasks with their parameters: the REST API's limit */
#define BATCH_MAX_DEPTH 64

/* the whole of FILE, or of standard input for "-" */
static gboolean
read_input (const char  *path,
            char       **out_text,
            gsize       *out_length,
            GError     **error)
{
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GOutputStream) output = NULL;
  g_autoptr(GError) local_error = NULL;

  if (!g_str_equal (path, "-"))
    return g_file_get_contents (path, out_text, out_length, error);

  input = G_INPUT_STREAM (g_unix_input_stream_new (0, FALSE));
  output = g_memory_output_stream_new_resizable ();
  if (g_output_stream_splice (output, input, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL,
                              &local_error) < 0)
    {
      /* named, and out of G_IO_ERROR, whose errors are the bus's to the
       * hint that em_ctl_print_error() adds */
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   _("Could not read standard input: %s"), local_error->message);
      return FALSE;
    }

  *out_length = g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (output));
  *out_text = g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (output));
  return TRUE;
}

/* what a task object may hold besides its parameters; null in any of them
 * is the field left out, as in a POST /tasks body */
static const char * const item_keys[] = {
  "name", "action", "parameters",
  "priority", "depends_on", "max_retries", "retry_delay", "delay", "timeout", "run_at", NULL
};

/* the items of a batch file: a JSON array of task objects, or the object
 * {"tasks": [...], "exclusive": bool} — what POST /tasks takes as a batch */
static JsonArray *
load_batch (const char  *path,
            gboolean    *exclusive,
            GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  gsize length = 0;
  JsonNode *tasks = NULL;
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;

  if (!read_input (path, &text, &length, error))
    return NULL;
  /* the service's own reader: json-glib's parser crashes on deep nesting,
   * wraps integers past 64 bits and reads 010 as 8 */
  root = em_json_reader_read (text, length, BATCH_MAX_DEPTH, error);
  if (root == NULL)
    {
      g_prefix_error (error, _("%s is not JSON: "), g_str_equal (path, "-") ? _("standard input") : path);
      return NULL;
    }

  if (JSON_NODE_HOLDS_ARRAY (root))
    tasks = root;
  else if (JSON_NODE_HOLDS_OBJECT (root) && json_object_has_member (json_node_get_object (root), "tasks"))
    {
      json_object_iter_init_ordered (&iter, json_node_get_object (root));
      while (json_object_iter_next_ordered (&iter, &key, &member))
        {
          if (g_str_equal (key, "tasks"))
            tasks = member;
          else if (!g_str_equal (key, "exclusive"))
            {
              g_autofree char *quoted = em_clip_member_name (key);

              g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("%s: unknown field of a batch; use tasks and exclusive"), quoted);
              return NULL;
            }
          else if (JSON_NODE_HOLDS_NULL (member))
            continue;
          else if (JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_BOOLEAN)
            *exclusive = *exclusive || json_node_get_boolean (member);
          else
            {
              g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                                   _("exclusive: must be true or false"));
              return NULL;
            }
        }
      if (!JSON_NODE_HOLDS_ARRAY (tasks))
        {
          g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("tasks: must be an array of task objects"));
          return NULL;
        }
    }
  else
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("a batch is a JSON array of task objects, e.g. "
                     "[{\"name\": \"move\", \"action\": \"move_stage\", \"parameters\": {\"x\": 10}}]"));
      return NULL;
    }

  for (guint i = 0; i < json_array_get_length (json_node_get_array (tasks)); i++)
    if (!JSON_NODE_HOLDS_OBJECT (json_array_get_element (json_node_get_array (tasks), i)))
      {
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("tasks[%u] must be a JSON object"), i);
        return NULL;
      }
  return json_array_ref (json_node_get_array (tasks));
}

/* whether a parameter is null somewhere: leaving it out needs to know
 * whether the action declares it */
static gboolean
has_null_parameter (JsonArray *tasks)
{
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *item = json_array_get_object_element (tasks, i);
      JsonNode *parameters = json_object_get_member (item, "parameters");
      JsonObjectIter iter;
      const char *key;
      JsonNode *member;

      if (parameters == NULL || !JSON_NODE_HOLDS_OBJECT (parameters))
        continue;
      json_object_iter_init_ordered (&iter, json_node_get_object (parameters));
      while (json_object_iter_next_ordered (&iter, &key, &member))
        if (JSON_NODE_HOLDS_NULL (member))
          return TRUE;
    }
  return FALSE;
}

/* the parameters without a null the action declares; NULL with @error
 * for one it does not, which a misspelt name would be */
static JsonObject *
drop_null_parameters (JsonObject  *parameters,
                      guint        index,
                      const char  *action,
                      GVariant    *declarations,
                      GError     **error)
{
  g_autoptr(JsonObject) kept = json_object_new ();
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;

  json_object_iter_init_ordered (&iter, parameters);
  while (json_object_iter_next_ordered (&iter, &key, &member))
    {
      gboolean known_action = FALSE;

      if (!JSON_NODE_HOLDS_NULL (member))
        json_object_set_member (kept, key, json_node_ref (member));
      /* a service without ActionParameters cannot say which to leave out */
      else if (declarations == NULL)
        {
          g_autofree char *quoted = em_clip_member_name (key);
          g_autofree char *path = g_strdup_printf ("tasks[%u].parameters.%s", index, quoted);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: null cannot be sent over D-Bus; leave the key out instead"), path);
          return NULL;
        }
      /* of an unknown action none is: the service refuses the action */
      else if (!em_ctl_action_declares (declarations, action, key, &known_action) && known_action)
        {
          g_autofree char *quoted = em_clip_member_name (key);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("parameters.%s: unknown parameter for action “%s”"), quoted, action);
          g_prefix_error (error, "tasks[%u] ", index);
          return NULL;
        }
    }
  return g_steal_pointer (&kept);
}

/* one item as ScheduleBatch takes it: null is the field left out, as in a
 * POST /tasks body, but D-Bus has none, so such a field is left out here */
static GVariant *
item_to_variant (JsonObject  *item,
                 guint        index,
                 GVariant    *declarations,
                 GError     **error)
{
  g_autoptr(JsonObject) kept = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *prefix = g_strdup_printf ("tasks[%u]", index);
  g_autofree char *null_at = NULL;
  JsonNode *action = json_object_get_member (item, "action");
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;

  json_object_iter_init_ordered (&iter, item);
  while (json_object_iter_next_ordered (&iter, &key, &member))
    {
      if (JSON_NODE_HOLDS_NULL (member))
        {
          g_autofree char *quoted = NULL;

          if (g_strv_contains (item_keys, key))
            continue;
          /* as the service refuses it, rather than have it dropped unseen */
          quoted = em_clip_member_name (key);
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("%s: unknown field"), quoted);
          g_prefix_error (error, "tasks[%u] ", index);
          return NULL;
        }
      if (g_str_equal (key, "parameters") && JSON_NODE_HOLDS_OBJECT (member))
        {
          const char *name = action != NULL && JSON_NODE_HOLDS_VALUE (action) &&
                             json_node_get_value_type (action) == G_TYPE_STRING
                             ? json_node_get_string (action) : NULL;
          g_autoptr(JsonObject) parameters = drop_null_parameters (json_node_get_object (member),
                                                                   index, name, declarations,
                                                                   error);

          if (parameters == NULL)
            return NULL;
          json_object_set_object_member (kept, key, g_steal_pointer (&parameters));
          continue;
        }
      json_object_set_member (kept, key, json_node_ref (member));
    }

  /* deeper down a null is a value, which D-Bus cannot carry: the
   * conversion would drop a member, or make an item "" */
  node = json_node_init_object (json_node_alloc (), kept);
  null_at = em_ctl_find_null (node, prefix);
  if (null_at != NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s: null cannot be sent over D-Bus; leave the key out instead"), null_at);
      return NULL;
    }
  return em_json_object_to_variant (kept);
}

/* (floating) the items as aa{sv} */
static GVariant *
batch_to_variant (JsonArray  *tasks,
                  GVariant   *declarations,
                  GError    **error)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      GVariant *item = item_to_variant (json_array_get_object_element (tasks, i), i,
                                        declarations, error);

      if (item == NULL)
        {
          g_variant_builder_clear (&builder);
          return NULL;
        }
      g_variant_builder_add_value (&builder, item);
    }
  return g_variant_builder_end (&builder);
}

int
em_ctl_batch (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("batch");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) items = NULL;
  g_autoptr(GVariant) declarations = NULL;
  g_autoptr(GVariant) tasks = NULL;
  g_auto(GStrv) ids = NULL;
  g_auto(GVariantDict) options = G_VARIANT_DICT_INIT (NULL);
  gboolean exclusive = FALSE;
  const GOptionEntry entries[] = {
    { "exclusive", 'x', 0, G_OPTION_ARG_NONE, &exclusive,
      N_("Hold the batch’s devices from its first task to its last, so no other task "
         "slips in between"), NULL },
    { NULL }
  };

  g_option_context_set_description (context,
    _("FILE (or “-” for standard input) holds a batch as POST /tasks takes it: a JSON\n"
      "array of task objects (name, action, parameters and the scheduling options),\n"
      "or {\"tasks\": [...], \"exclusive\": true}. A null field is one left out.\n"
      "Inside a batch, depends_on may name an earlier item as \"#INDEX\". Every item\n"
      "is checked before any is created: all or nothing. Prints the ids, one a line.\n"
      "Example:\n"
      "  [{\"name\": \"go\", \"action\": \"move_stage\", \"parameters\": {\"x\": 100}},\n"
      "   {\"name\": \"snap\", \"action\": \"capture_image\", \"depends_on\": [\"#0\"]}]"));
  if (!em_ctl_parse_options (context, entries, "batch", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (!em_ctl_one_argument ("batch", argc, argv, _("exactly one FILE (or “-”) is required")))
    return EM_CTL_EXIT_USAGE;

  items = load_batch (argv[1], &exclusive, &error);
  if (items == NULL)
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }
  /* the service only when it must say which parameters its actions have:
   * a file refused here does not start it */
  if (has_null_parameter (items) &&
      ((proxy = em_ctl_connect (&error)) == NULL ||
       ((declarations = em_ctl_get_action_parameters (proxy, &error)) == NULL && error != NULL)))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }
  tasks = batch_to_variant (items, declarations, &error);
  if (tasks == NULL)
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }
  g_variant_ref_sink (tasks);
  if (exclusive)
    g_variant_dict_insert (&options, "exclusive", "b", TRUE);

  if (proxy == NULL)
    proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_schedule_batch_sync (proxy, tasks, g_variant_dict_end (&options),
                                                         G_DBUS_CALL_FLAGS_NONE, -1,
                                                         &ids, NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  for (guint i = 0; ids[i] != NULL; i++)
    g_print ("%s\n", ids[i]);
  return EM_CTL_EXIT_OK;
}
