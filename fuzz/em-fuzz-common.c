#include "config.h"

#include <stdlib.h>

#include "actions/em-builtin-actions.h"
#include "engine/em-error.h"
#include "engine/em-task-private.h"
#include "rest/em-json-guard.h"
#include "em-fuzz-common.h"

/* deeper than the REST adapter allows, so the guard's own limit is exercised too */
#define FRAME_MAX_DEPTH 128

EmActionRegistry *
em_fuzz_init (void)
{
  EmActionRegistry *registry;

  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  /* messages are translated at run time; keep them in the source language */
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);

  registry = em_action_registry_new ();
  em_builtin_actions_register (registry);
  return registry;
}

void
em_fuzz_assert_error (const GError *error)
{
  if (error == NULL)
    {
      g_printerr ("failed without an error\n");
      abort ();
    }
  if (error->domain != EM_ERROR)
    {
      g_printerr ("error outside EM_ERROR: %s (%s %d)\n", error->message,
                  g_quark_to_string (error->domain), error->code);
      abort ();
    }
  if (!g_utf8_validate (error->message, -1, NULL))
    {
      g_printerr ("error message is not UTF-8\n");
      abort ();
    }
}

/* a frame the engine wrote by hand must be JSON that the guard and json-glib accept,
 * naming the task it is about */
static void
event_cb (EmEngineManager *engine, EmEvent *event, gpointer user_data)
{
  GBytes *bytes = em_event_get_json_bytes (event);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) frame = NULL;
  gsize length;
  const char *data = g_bytes_get_data (bytes, &length);
  JsonObject *object;
  EmTask *task = em_event_get_task (event);

  frame = em_json_guard_parse (data, length, FRAME_MAX_DEPTH, &error);
  if (frame == NULL || !JSON_NODE_HOLDS_OBJECT (frame))
    {
      g_printerr ("event frame is not a JSON object: %s\n%.*s\n",
                  error != NULL ? error->message : "not an object", (int) length, data);
      abort ();
    }
  object = json_node_get_object (frame);
  if (task != NULL &&
      g_strcmp0 (json_object_get_string_member_with_default (object, "task_id", NULL),
                 em_task_get_id (task)) != 0)
    {
      g_printerr ("event frame names another task:\n%.*s\n", (int) length, data);
      abort ();
    }
  if (em_event_get_event_type (event) == EM_EVENT_TASK_SCHEDULED &&
      g_strcmp0 (json_object_get_string_member_with_default (object, "name", NULL),
                 em_task_get_name (task)) != 0)
    {
      g_printerr ("task_scheduled frame changed the name:\n%.*s\n", (int) length, data);
      abort ();
    }
}

EmEngineManager *
em_fuzz_engine_new (EmActionRegistry *registry)
{
  EmEngineManager *engine = em_engine_manager_new (registry, NULL, NULL);

  em_engine_manager_pause (engine);
  g_signal_connect (engine, "event", G_CALLBACK (event_cb), NULL);
  return engine;
}

void
em_fuzz_engine_free (EmEngineManager *engine)
{
  guint turns = 0;

  em_engine_manager_shutdown (engine);
  g_object_unref (engine);
  while (g_main_context_iteration (NULL, FALSE) && turns++ < 100)
    ;
}

void
em_fuzz_check_task (EmTask *task, EmTaskSpec *spec)
{
  g_autoptr(JsonNode) node = em_task_to_json (task);
  g_autofree char *text = em_task_to_json_string (task);
  g_autoptr(JsonNode) reparsed = NULL;
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (em_task_get_name (task), spec->name) != 0 ||
      g_strcmp0 (em_task_get_action (task), spec->action) != 0)
    {
      g_printerr ("the task does not carry the name and action it was given\n");
      abort ();
    }
  /* the store's hand-written row and json-glib's form must say the same */
  reparsed = em_json_guard_parse (text, strlen (text), FRAME_MAX_DEPTH, &error);
  if (reparsed == NULL || !json_node_equal (reparsed, node))
    {
      g_autofree char *expected = json_to_string (node, FALSE);

      g_printerr ("em_task_to_json_string() and em_task_to_json() differ:\n%s\n%s\n%s\n",
                  text, expected, error != NULL ? error->message : "");
      abort ();
    }
}
