/* The parameter validators: the first byte picks a registered action, the rest is
 * the `parameters` object as a client sends it (through the REST body guard).
 * em_action_validate() must refuse with an EM_ERROR naming the field, or accept;
 * what it accepts, the run functions' typed getters must read without a critical,
 * since they rely on validation having happened. */

#include "config.h"

#include <math.h>

#include "rest/em-json-guard.h"
#include "rest/em-rest-limits.h"
#include "em-fuzz-common.h"

static GPtrArray *actions;  /* EmAction, sorted by name */

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  EmActionRegistry *registry = em_fuzz_init ();

  actions = em_action_registry_list (registry);
  g_assert_cmpuint (actions->len, >, 0);
  /* describing reads every spec, defaults included, once */
  for (guint i = 0; i < actions->len; i++)
    json_node_unref (em_action_describe (g_ptr_array_index (actions, i)));
  return 0;
}

static void
read_params (EmAction *action, JsonObject *parameters)
{
  const EmParamSpec *specs;
  guint n_specs;

  specs = em_action_get_params (action, &n_specs);
  for (guint i = 0; i < n_specs; i++)
    {
      const EmParamSpec *spec = &specs[i];

      if (!em_action_param_has (parameters, spec->name) && spec->default_value == NULL)
        continue;
      switch (spec->type)
        {
        case EM_PARAM_NUMBER:
        case EM_PARAM_INTEGER:
          {
            gdouble value = em_action_param_double (action, parameters, spec->name);

            g_assert_true (isfinite (value));
            g_assert_true (!spec->has_minimum ||
                           (spec->exclusive_minimum ? value > spec->minimum : value >= spec->minimum));
            g_assert_true (!spec->has_maximum || value <= spec->maximum);
          }
          break;
        case EM_PARAM_BOOLEAN:
          (void) em_action_param_boolean (action, parameters, spec->name);
          break;
        case EM_PARAM_STRING:
          {
            const char *value = em_action_param_string (action, parameters, spec->name);

            g_assert_nonnull (value);
            g_assert_true (spec->choices == NULL ||
                           g_strv_contains ((const char * const *) spec->choices, value));
          }
          break;
        default:
          g_assert_not_reached ();
        }
    }
  /* an unsafe retry always comes with its reason */
  {
    g_autoptr(GError) unsafe = NULL;

    if (!em_action_is_retry_safe (action, parameters, &unsafe))
      g_assert_nonnull (unsafe);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  EmAction *action;
  JsonObject *parameters = NULL;

  if (size < 1)
    return 0;
  action = g_ptr_array_index (actions, data[0] % actions->len);

  root = em_json_guard_parse ((const char *) data + 1, size - 1, EM_REST_MAX_JSON_DEPTH, &error);
  if (root == NULL)
    {
      em_fuzz_assert_error (error);
      return 0;
    }
  /* null is "no parameters", as in a task body */
  if (JSON_NODE_HOLDS_OBJECT (root))
    parameters = json_node_get_object (root);
  else if (!JSON_NODE_HOLDS_NULL (root))
    return 0;

  if (!em_action_validate (action, parameters, &error))
    {
      em_fuzz_assert_error (error);
      return 0;
    }
  read_params (action, parameters);
  return 0;
}
