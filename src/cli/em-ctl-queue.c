#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <glib/gi18n.h>

#include "cli/em-ctl.h"
#include "cli/em-ctl-output.h"

typedef gboolean (*QueueCall) (EmDBusEngineManager1  *proxy,
                               GDBusCallFlags         flags,
                               gint                   timeout,
                               GCancellable          *cancellable,
                               GError               **error);

static int
run_queue_call (const char *command,
                int         argc,
                char      **argv,
                QueueCall   call,
                const char *done)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new (command);
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GError) error = NULL;

  if (!em_ctl_parse_options (context, NULL, command, &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (argc > 1)
    {
      em_ctl_usage_error (command, _("unexpected argument “%s”"), argv[1]);
      return EM_CTL_EXIT_USAGE;
    }

  proxy = em_ctl_connect (&error);
  if (proxy == NULL || !call (proxy, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  g_print ("%s\n", done);
  return EM_CTL_EXIT_OK;
}

int
em_ctl_pause (int argc, char **argv)
{
  return run_queue_call ("pause", argc, argv, em_dbus_engine_manager1_call_pause_sync,
                         _("Queue paused: running tasks finish, nothing new starts."));
}

int
em_ctl_resume (int argc, char **argv)
{
  return run_queue_call ("resume", argc, argv, em_dbus_engine_manager1_call_resume_sync,
                         _("Queue resumed."));
}

static void
print_queue (GVariant *queue)
{
  static const char * const statuses[] = { "pending", "running", "completed", "failed", "cancelled" };
  static const char * const labels[] = { N_("Pending:"), N_("Running:"), N_("Completed:"),
                                         N_("Failed:"), N_("Cancelled:") };
  g_autoptr(GVariant) counts = g_variant_lookup_value (queue, "counts", G_VARIANT_TYPE ("a{su}"));
  g_autofree const char **running = NULL;
  g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func (g_free);
  gboolean paused = FALSE;
  const char *held = NULL;
  guint max_concurrent = 0;

  g_variant_lookup (queue, "paused", "b", &paused);
  g_variant_lookup (queue, "running", "^a&s", &running);

  g_ptr_array_add (fields, g_strdup (_("Paused:")));
  g_ptr_array_add (fields, g_strdup (paused ? _("yes") : _("no")));
  /* only while something holds ready tasks back; an older service leaves it out */
  if (g_variant_lookup (queue, "held", "&s", &held) && *held != '\0')
    {
      g_ptr_array_add (fields, g_strdup (_("Held:")));
      if (g_str_equal (held, "store"))
        g_ptr_array_add (fields, g_strdup (_("by the task database, which is catching up "
                                             "with its writes; pending tasks start after")));
      else
        g_ptr_array_add (fields, g_strdup (held));
    }
  /* an older service leaves it out; 0 is no limit */
  if (g_variant_lookup (queue, "max_concurrent", "u", &max_concurrent))
    {
      g_ptr_array_add (fields, g_strdup (_("Max running:")));
      g_ptr_array_add (fields, max_concurrent == 0 ? g_strdup (_("no limit"))
                                                   : g_strdup_printf ("%u", max_concurrent));
    }
  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      guint count = 0;

      if (counts != NULL)
        g_variant_lookup (counts, statuses[i], "u", &count);
      g_ptr_array_add (fields, g_strdup (_(labels[i])));
      g_ptr_array_add (fields, g_strdup_printf ("%u", count));
    }
  for (guint i = 0; running != NULL && running[i] != NULL; i++)
    {
      g_ptr_array_add (fields, g_strdup (i == 0 ? _("Running IDs:") : ""));
      g_ptr_array_add (fields, g_strdup (running[i]));
    }
  em_ctl_print_fields (fields, 12);
}

/* {"paused": …, "held": null or "store", "counts": {"pending": N, …}, "running": [ids],
 *  "max_concurrent": N} */
static char *
queue_to_json (GVariant *queue)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GVariant) counts = g_variant_lookup_value (queue, "counts", G_VARIANT_TYPE ("a{su}"));
  g_autofree const char **running = NULL;
  g_autoptr(JsonNode) root = NULL;
  gboolean paused = FALSE;
  const char *held = NULL;
  guint max_concurrent = 0;
  GVariantIter iter;
  const char *status;
  guint count;

  g_variant_lookup (queue, "paused", "b", &paused);
  g_variant_lookup (queue, "running", "^a&s", &running);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "paused");
  json_builder_add_boolean_value (builder, paused);
  /* an older service leaves it out; D-Bus says none with "" */
  if (g_variant_lookup (queue, "held", "&s", &held))
    {
      json_builder_set_member_name (builder, "held");
      if (*held != '\0')
        json_builder_add_string_value (builder, held);
      else
        json_builder_add_null_value (builder);
    }
  json_builder_set_member_name (builder, "counts");
  json_builder_begin_object (builder);
  if (counts != NULL)
    {
      g_variant_iter_init (&iter, counts);
      while (g_variant_iter_next (&iter, "{&su}", &status, &count))
        {
          json_builder_set_member_name (builder, status);
          json_builder_add_int_value (builder, count);
        }
    }
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "running");
  json_builder_begin_array (builder);
  for (guint i = 0; running != NULL && running[i] != NULL; i++)
    json_builder_add_string_value (builder, running[i]);
  json_builder_end_array (builder);
  /* an older service leaves it out */
  if (g_variant_lookup (queue, "max_concurrent", "u", &max_concurrent))
    {
      json_builder_set_member_name (builder, "max_concurrent");
      json_builder_add_int_value (builder, max_concurrent);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return em_ctl_node_to_json (root, TRUE);
}

int
em_ctl_queue (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = em_ctl_option_context_new ("queue");
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GVariant) queue = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print JSON, as the REST API’s GET /queue returns it"), NULL },
    { NULL }
  };

  if (!em_ctl_parse_options (context, entries, "queue", &argc, &argv))
    return EM_CTL_EXIT_USAGE;
  if (argc > 1)
    {
      em_ctl_usage_error ("queue", _("unexpected argument “%s”"), argv[1]);
      return EM_CTL_EXIT_USAGE;
    }

  proxy = em_ctl_connect (&error);
  if (proxy == NULL ||
      !em_dbus_engine_manager1_call_get_queue_sync (proxy, G_DBUS_CALL_FLAGS_NONE, -1,
                                                    &queue, NULL, &error))
    {
      em_ctl_print_error (error);
      return EM_CTL_EXIT_ERROR;
    }

  if (json)
    {
      g_autofree char *text = queue_to_json (queue);

      g_print ("%s\n", text);
    }
  else
    print_queue (queue);

  return EM_CTL_EXIT_OK;
}
