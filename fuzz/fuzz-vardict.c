/* The D-Bus submission path: the first byte picks ScheduleTask's arguments
 * (ssa{sv}a{sv}) or ScheduleBatch's items (aa{sv}); the rest is serialized
 * GVariant data, taken in normal form as GDBus hands it over. The a{sv} → JSON
 * conversion must refuse values with no JSON form by name, be stable through
 * JSON → a{sv} → JSON, and the specs it yields go through the engine's
 * validation like the REST ones. */

#include "config.h"

#include "engine/em-json-variant.h"
#include "em-fuzz-common.h"

static EmActionRegistry *registry;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  registry = em_fuzz_init ();
  return 0;
}

/* JSON → a{sv} → JSON gives the same object */
static void
check_round_trip (JsonObject *object)
{
  g_autoptr(GVariant) dict = g_variant_ref_sink (em_json_object_to_variant (object));
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) again = em_variant_to_json_object (dict, &error);
  g_autoptr(JsonNode) a = json_node_init_object (json_node_alloc (), object);
  g_autoptr(JsonNode) b = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (again);
  b = json_node_init_object (json_node_alloc (), again);
  if (!json_node_equal (a, b))
    {
      g_autofree char *ta = json_to_string (a, FALSE);
      g_autofree char *tb = json_to_string (b, FALSE);

      g_printerr ("a{sv} round trip changed the object:\n%s\n%s\n", ta, tb);
      abort ();
    }
}

/* NULL with an EM_ERROR for a value with no JSON form */
static JsonObject *
to_json (GVariant *dict)
{
  g_autoptr(GError) error = NULL;
  JsonObject *object = em_variant_to_json_object (dict, &error);

  if (object == NULL)
    {
      em_fuzz_assert_error (error);
      return NULL;
    }
  check_round_trip (object);
  return object;
}

static void
schedule_task (GVariant *args)
{
  g_autoptr(GVariant) parameters = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(JsonObject) params = NULL;
  g_autoptr(JsonObject) json_options = NULL;
  g_autoptr(EmTaskSpec) spec = NULL;
  g_autoptr(GError) error = NULL;
  const char *name;
  const char *action;
  EmEngineManager *engine;
  EmTask *task;

  g_variant_get (args, "(&s&s@a{sv}@a{sv})", &name, &action, &parameters, &options);
  /* an empty dictionary means "no parameters", as over the bus */
  if (g_variant_n_children (parameters) > 0 && (params = to_json (parameters)) == NULL)
    return;
  spec = em_task_spec_new (name, action, params);
  if (g_variant_n_children (options) > 0)
    {
      json_options = to_json (options);
      if (json_options == NULL)
        return;
      if (!em_task_spec_set_options (spec, json_options, &error))
        {
          em_fuzz_assert_error (error);
          return;
        }
    }

  engine = em_fuzz_engine_new (registry);
  task = em_engine_manager_schedule_task (engine, spec, &error);
  if (task == NULL)
    em_fuzz_assert_error (error);
  else
    em_fuzz_check_task (task, spec);
  em_fuzz_engine_free (engine);
}

static void
schedule_batch (GVariant *items, gboolean exclusive)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  EmEngineManager *engine;
  gsize n = g_variant_n_children (items);

  if (n == 0)
    return;
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) item = g_variant_get_child_value (items, i);
      g_autoptr(JsonObject) object = to_json (item);
      g_autoptr(JsonNode) node = NULL;
      EmTaskSpec *spec;

      if (object == NULL)
        return;
      /* each item is read as the REST body's JSON object */
      node = json_node_init_object (json_node_alloc (), object);
      spec = em_task_spec_from_json (node, &error);
      if (spec == NULL)
        {
          em_fuzz_assert_error (error);
          return;
        }
      g_ptr_array_add (specs, spec);
    }

  engine = em_fuzz_engine_new (registry);
  tasks = em_engine_manager_schedule_batch (engine, specs, exclusive, &error);
  if (tasks == NULL)
    em_fuzz_assert_error (error);
  else
    for (guint i = 0; i < tasks->len; i++)
      em_fuzz_check_task (g_ptr_array_index (tasks, i), g_ptr_array_index (specs, i));
  g_clear_pointer (&tasks, g_ptr_array_unref);
  em_fuzz_engine_free (engine);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) normal = NULL;
  guint8 mode;

  if (size < 1)
    return 0;
  mode = data[0];
  /* GVariant reads serialized data in place: give it an aligned copy, as GDBus does */
  bytes = g_bytes_new (data + 1, size - 1);
  value = g_variant_ref_sink (g_variant_new_from_bytes ((mode & 1) != 0
                                                        ? G_VARIANT_TYPE ("aa{sv}")
                                                        : G_VARIANT_TYPE ("(ssa{sv}a{sv})"),
                                                        bytes, FALSE));
  normal = g_variant_get_normal_form (value);

  if ((mode & 1) != 0)
    schedule_batch (normal, (mode & 2) != 0);
  else
    schedule_task (normal);
  return 0;
}
