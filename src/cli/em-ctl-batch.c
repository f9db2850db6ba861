#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <glib/gi18n.h>
#include <gio/gunixinputstream.h>

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

  if (!g_str_equal (path, "-"))
    return g_file_get_contents (path, out_text, out_length, error);

  input = G_INPUT_STREAM (g_unix_input_stream_new (0, FALSE));
  output = g_memory_output_stream_new_resizable ();
  if (g_output_stream_splice (output, input, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) < 0)
    return FALSE;

  *out_length = g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (output));
  *out_text = g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (output));
  return TRUE;
}

/* (floating) the JSON array of task objects, as POST /tasks takes it, as aa{sv} */
static GVariant *
load_batch (const char  *path,
            GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  gsize length = 0;
  JsonArray *array;
  GVariantBuilder builder;

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

  if (!JSON_NODE_HOLDS_ARRAY (root))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("a batch is a JSON array of task objects, e.g. "
                     "[{\"name\": \"move\", \"action\": \"move_stage\", \"parameters\": {\"x\": 10}}]"));
      return NULL;
    }

  array = json_node_get_array (root);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *item = json_array_get_element (array, i);
      g_autofree char *prefix = NULL;
      g_autofree char *null_at = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (item))
        {
          g_variant_builder_clear (&builder);
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("tasks[%u] must be a JSON object"), i);
          return NULL;
        }
      /* the conversion would drop a null member: "name": null read as no name */
      prefix = g_strdup_printf ("tasks[%u]", i);
      null_at = em_ctl_find_null (item, prefix);
      if (null_at != NULL)
        {
          g_variant_builder_clear (&builder);
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: null cannot be sent over D-Bus; leave the key out instead"), null_at);
          return NULL;
        }
      g_variant_builder_add_value (&builder, em_json_object_to_variant (json_node_get_object (item)));
    }

  return g_variant_builder_end (&builder);
}

int
em_ctl_batch (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("batch");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GError) error = NULL;
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

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (context,
    _("FILE (or “-” for standard input) holds a JSON array of task objects as the\n"
      "REST API takes them: name, action, parameters and the scheduling options.\n"
      "Inside a batch, depends_on may name an earlier item as \"#INDEX\". Every item\n"
      "is checked before any is created: all or nothing. Prints the ids, one a line.\n"
      "Example:\n"
      "  [{\"name\": \"go\", \"action\": \"move_stage\", \"parameters\": {\"x\": 100}},\n"
      "   {\"name\": \"snap\", \"action\": \"capture_image\", \"depends_on\": [\"#0\"]}]"));
  if (!em_ctl_parse_options (context, "batch", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (!em_ctl_one_argument ("batch", argc, argv, _("exactly one FILE (or “-”) is required")))
    return EM_CTL_EXIT_USAGE;

  tasks = load_batch (argv[1], &error);
  if (tasks == NULL)
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }
  g_variant_ref_sink (tasks);
  if (exclusive)
    g_variant_dict_insert (&options, "exclusive", "b", TRUE);

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
