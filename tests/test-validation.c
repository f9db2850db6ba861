#include "config.h"

#include <string.h>

#include "actions/em-builtin-actions.h"
#include "engine/em-action-registry.h"
#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "engine/em-json-variant.h"

/* every validation rule of every built-in action, through the registry as the
 * engine uses it; each refusal must name the offending field */

typedef struct
{
  EmActionRegistry *registry;
} Fixture;

static void
fixture_setup (Fixture *fixture, gconstpointer data)
{
  fixture->registry = em_action_registry_new ();
  em_builtin_actions_register (fixture->registry);
}

static void
fixture_teardown (Fixture *fixture, gconstpointer data)
{
  g_clear_object (&fixture->registry);
}

static gboolean
validate (Fixture *fixture, const char *action_name, const char *json, GError **error)
{
  EmAction *action = em_action_registry_lookup (fixture->registry, action_name);
  g_autoptr(JsonNode) node = NULL;

  g_assert_nonnull (action);
  if (json == NULL)
    return em_action_validate (action, NULL, error);

  node = json_from_string (json, NULL);
  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return em_action_validate (action, json_node_get_object (node), error);
}

static void
assert_valid (Fixture *fixture, const char *action_name, const char *json)
{
  g_autoptr(GError) error = NULL;

  if (!validate (fixture, action_name, json, &error))
    g_error ("%s %s refused: %s", action_name, json, error->message);
}

static void
assert_refused (Fixture    *fixture,
                const char *action_name,
                const char *json,
                const char *field)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *named = g_strdup_printf ("parameters.%s", field);

  g_assert_false (validate (fixture, action_name, json, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s %s: %s", action_name, json != NULL ? json : "null", error->message);
  if (strstr (error->message, named) == NULL)
    g_error ("“%s” does not name %s", error->message, named);
}

static void
test_registered (Fixture *fixture, gconstpointer data)
{
  g_auto(GStrv) names = em_action_registry_get_names (fixture->registry);

  g_assert_true (g_strv_contains ((const char * const *) names, "capture_image"));
  g_assert_true (g_strv_contains ((const char * const *) names, "move_stage"));
  g_assert_true (g_strv_contains ((const char * const *) names, "adjust_focus"));
  g_assert_true (g_strv_contains ((const char * const *) names, "autofocus"));
  g_assert_true (g_strv_contains ((const char * const *) names, "tile_scan"));
}

static void
test_capture_image_valid (Fixture *fixture, gconstpointer data)
{
  EmAction *action = em_action_registry_lookup (fixture->registry, "capture_image");

  assert_valid (fixture, "capture_image", NULL);
  assert_valid (fixture, "capture_image", "{}");
  assert_valid (fixture, "capture_image", "{\"exposure\": 0.01, \"gain\": 0, \"format\": \"png\"}");
  assert_valid (fixture, "capture_image", "{\"exposure\": 60000, \"gain\": 12.5, \"format\": \"tiff\"}");
  /* integers are numbers too */
  assert_valid (fixture, "capture_image", "{\"exposure\": 5}");

  /* defaults when absent */
  g_assert_cmpfloat (em_action_param_double (action, NULL, "exposure"), ==, 10.0);
  g_assert_cmpfloat (em_action_param_double (action, NULL, "gain"), ==, 0.0);
  g_assert_cmpstr (em_action_param_string (action, NULL, "format"), ==, "png");
}

static void
test_capture_image_wrong_type (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "capture_image", "{\"exposure\": \"10\"}", "exposure");
  assert_refused (fixture, "capture_image", "{\"exposure\": true}", "exposure");
  assert_refused (fixture, "capture_image", "{\"exposure\": null}", "exposure");
  assert_refused (fixture, "capture_image", "{\"gain\": [1]}", "gain");
  assert_refused (fixture, "capture_image", "{\"format\": 1}", "format");
}

static void
test_capture_image_out_of_range (Fixture *fixture, gconstpointer data)
{
  /* exposure > 0: zero itself is refused */
  assert_refused (fixture, "capture_image", "{\"exposure\": 0}", "exposure");
  assert_refused (fixture, "capture_image", "{\"exposure\": -1}", "exposure");
  assert_refused (fixture, "capture_image", "{\"exposure\": 60000.5}", "exposure");
  /* gain ≥ 0: zero is fine, below is not */
  assert_refused (fixture, "capture_image", "{\"gain\": -0.1}", "gain");
}

static void
test_capture_image_bad_choice (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "capture_image", "{\"format\": \"jpeg\"}", "format");
  assert_refused (fixture, "capture_image", "{\"format\": \"PNG\"}", "format");
  assert_refused (fixture, "capture_image", "{\"format\": \"\"}", "format");
}

static void
test_capture_image_unknown_key (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "capture_image", "{\"exposure_ms\": 10}", "exposure_ms");
  assert_refused (fixture, "capture_image", "{\"exposure\": 10, \"x\": 1}", "x");
}

static void
test_move_stage_valid (Fixture *fixture, gconstpointer data)
{
  assert_valid (fixture, "move_stage", "{\"x\": 100}");
  assert_valid (fixture, "move_stage", "{\"y\": -100.5}");
  assert_valid (fixture, "move_stage", "{\"z\": 0}");
  assert_valid (fixture, "move_stage", "{\"x\": 1, \"y\": 2, \"z\": 3, \"speed\": 0.5, \"relative\": true}");
  /* travel limits belong to the stage: checked when the task runs */
  assert_valid (fixture, "move_stage", "{\"x\": 1e9}");
}

static void
test_move_stage_wrong_type (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "move_stage", "{\"x\": \"100\"}", "x");
  assert_refused (fixture, "move_stage", "{\"y\": false}", "y");
  assert_refused (fixture, "move_stage", "{\"z\": {}}", "z");
  assert_refused (fixture, "move_stage", "{\"x\": 1, \"relative\": \"yes\"}", "relative");
  assert_refused (fixture, "move_stage", "{\"x\": 1, \"relative\": 1}", "relative");
  assert_refused (fixture, "move_stage", "{\"x\": 1, \"speed\": \"fast\"}", "speed");
}

static void
test_move_stage_out_of_range (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "move_stage", "{\"x\": 1, \"speed\": 0}", "speed");
  assert_refused (fixture, "move_stage", "{\"x\": 1, \"speed\": -10}", "speed");
}

static void
test_move_stage_unknown_key (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "move_stage", "{\"x\": 1, \"w\": 2}", "w");
  assert_refused (fixture, "move_stage", "{\"position\": 1}", "position");
}

static void
test_move_stage_missing (Fixture *fixture, gconstpointer data)
{
  /* every axis is optional, but a move needs at least one */
  assert_refused (fixture, "move_stage", NULL, "x");
  assert_refused (fixture, "move_stage", "{}", "x");
  assert_refused (fixture, "move_stage", "{\"speed\": 100, \"relative\": true}", "x");
}

static void
test_adjust_focus_valid (Fixture *fixture, gconstpointer data)
{
  assert_valid (fixture, "adjust_focus", "{\"position\": 1500}");
  assert_valid (fixture, "adjust_focus", "{\"position\": -2.5, \"relative\": true, \"speed\": 50}");
}

static void
test_adjust_focus_wrong_type (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "adjust_focus", "{\"position\": \"high\"}", "position");
  assert_refused (fixture, "adjust_focus", "{\"position\": 1, \"speed\": \"1\"}", "speed");
  assert_refused (fixture, "adjust_focus", "{\"position\": 1, \"relative\": 0}", "relative");
}

static void
test_adjust_focus_out_of_range (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "adjust_focus", "{\"position\": 1, \"speed\": 0}", "speed");
  assert_refused (fixture, "adjust_focus", "{\"position\": 1, \"speed\": -1}", "speed");
}

static void
test_adjust_focus_unknown_key (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "adjust_focus", "{\"position\": 1, \"z\": 1}", "z");
}

static void
test_adjust_focus_missing (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "adjust_focus", NULL, "position");
  assert_refused (fixture, "adjust_focus", "{}", "position");
  assert_refused (fixture, "adjust_focus", "{\"speed\": 10}", "position");
}

static void
test_range_quoted_exactly (Fixture *fixture, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) small = NULL;

  /* the bound and the value a client sent, written out in full: with six
   * significant digits both read 8.64e+07 */
  g_assert_false (validate (fixture, "wait", "{\"duration\": 86400001}", &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "parameters.duration must be at most 86400000, got 86400001");
  g_assert_false (validate (fixture, "capture_image", "{\"exposure\": -0.125}", &small));
  g_assert_cmpstr (small->message, ==, "parameters.exposure must be greater than 0, got -0.125");
}

static void
test_autofocus_valid (Fixture *fixture, gconstpointer data)
{
  assert_valid (fixture, "autofocus", NULL);
  assert_valid (fixture, "autofocus", "{}");
  assert_valid (fixture, "autofocus", "{\"center\": 120, \"range\": 30, \"coarse_step\": 3,"
                                      " \"tolerance\": 0.25, \"metric\": \"brenner\", \"exposure\": 5,"
                                      " \"gain\": 2, \"speed\": 100}");
  assert_valid (fixture, "autofocus", "{\"min_contrast\": 1}");
  assert_valid (fixture, "autofocus", "{\"min_contrast\": 1000}");
  assert_valid (fixture, "autofocus", "{\"min_contrast\": 2.5}");
}

static void
test_autofocus_refused (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "autofocus", "{\"range\": \"wide\"}", "range");
  assert_refused (fixture, "autofocus", "{\"range\": 0}", "range");
  assert_refused (fixture, "autofocus", "{\"coarse_step\": -1}", "coarse_step");
  assert_refused (fixture, "autofocus", "{\"tolerance\": 0}", "tolerance");
  assert_refused (fixture, "autofocus", "{\"metric\": \"tenengrad\"}", "metric");
  assert_refused (fixture, "autofocus", "{\"min_contrast\": 0.5}", "min_contrast");
  assert_refused (fixture, "autofocus", "{\"min_contrast\": 1001}", "min_contrast");
  assert_refused (fixture, "autofocus", "{\"min_contrast\": \"high\"}", "min_contrast");
  assert_refused (fixture, "autofocus", "{\"exposure\": 0}", "exposure");
  assert_refused (fixture, "autofocus", "{\"speed\": 0}", "speed");
  assert_refused (fixture, "autofocus", "{\"focus\": 1}", "focus");
  /* the parameters must fit together */
  assert_refused (fixture, "autofocus", "{\"range\": 10, \"coarse_step\": 20}", "coarse_step");
  assert_refused (fixture, "autofocus", "{\"range\": 10000, \"coarse_step\": 1}", "coarse_step");
  assert_refused (fixture, "autofocus", "{\"coarse_step\": 2, \"tolerance\": 3}", "tolerance");
}

static void
test_tile_scan_valid (Fixture *fixture, gconstpointer data)
{
  assert_valid (fixture, "tile_scan", "{\"step_x\": 100}");
  assert_valid (fixture, "tile_scan", "{\"origin_x\": -500, \"origin_y\": 20.5, \"step_x\": 100,"
                                      " \"step_y\": 80, \"nx\": 10, \"ny\": 4, \"serpentine\": false,"
                                      " \"exposure\": 20, \"gain\": 1, \"format\": \"tiff\", \"speed\": 2000,"
                                      " \"autofocus_every\": 5, \"autofocus_range\": 30,"
                                      " \"autofocus_step\": 5, \"autofocus_tolerance\": 0.5,"
                                      " \"autofocus_metric\": \"laplacian\", \"autofocus_min_contrast\": 2.5}");
  /* JSON has no 2 apart from 2.0: an integer may come with a zero fraction */
  assert_valid (fixture, "tile_scan", "{\"step_x\": 100, \"nx\": 2.0, \"ny\": 3e0,"
                                      " \"autofocus_every\": 1.0}");
  assert_valid (fixture, "tile_scan", "{\"step_x\": 100, \"nx\": 1e2, \"ny\": 1e2}");
  assert_valid (fixture, "tile_scan", "{\"step_x\": 100, \"autofocus_every\": -0.0}");
}

static void
test_tile_scan_refused (Fixture *fixture, gconstpointer data)
{
  assert_refused (fixture, "tile_scan", NULL, "step_x");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 100, \"autofocus_min_contrast\": 0.5}",
                  "autofocus_min_contrast");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 100, \"autofocus_min_contrast\": 1001}",
                  "autofocus_min_contrast");
  assert_refused (fixture, "tile_scan", "{\"nx\": 2}", "step_x");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 0}", "step_x");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"step_y\": -1}", "step_y");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 0}", "nx");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 1.5}", "nx");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"ny\": 2.000001}", "ny");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 0.0}", "nx");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 10001.0}", "nx");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 100.0, \"ny\": 101.0}", "nx");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_every\": 2.5}", "autofocus_every");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_every\": -1.0}", "autofocus_every");
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (validate (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 2.5}", &error));
    g_assert_cmpstr (error->message, ==, "parameters.nx must be an integer, got 2.5");
  }
  /* whole, but past the 64 bits a JSON integer may have: out of range, not
   * fractional, by the range's bound when it has one */
  {
    g_autoptr(GError) unbounded = NULL;
    g_autoptr(GError) bounded = NULL;

    g_assert_false (validate (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_every\": 1e19}", &unbounded));
    g_assert_cmpstr (unbounded->message, ==, "parameters.autofocus_every must be an integer within 64 bits, got 1e+19");
    g_assert_false (validate (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 1e19}", &bounded));
    g_assert_cmpstr (bounded->message, ==, "parameters.nx must be at most 10000, got 1e+19");
  }
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"ny\": \"3\"}", "ny");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"nx\": 1000, \"ny\": 1000}", "nx");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"format\": \"jpeg\"}", "format");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_every\": -1}", "autofocus_every");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_range\": 4, \"autofocus_step\": 8}",
                  "autofocus_step");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"overlap\": 0.1}", "overlap");
  /* its autofocus parameters follow the autofocus action's rules */
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_range\": 20000, \"autofocus_step\": 20}",
                  "autofocus_range");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_range\": 10000, \"autofocus_step\": 1}",
                  "autofocus_step");
  assert_refused (fixture, "tile_scan", "{\"step_x\": 10, \"autofocus_step\": 2, \"autofocus_tolerance\": 3}",
                  "autofocus_tolerance");
}

/* quoting a client's text: whole when short, cut between characters when
 * long, and valid UTF-8 whatever came in */
static void
test_clip_for_message (void)
{
  g_autoptr(GString) long_text = g_string_new (NULL);
  g_autofree char *short_text = em_clip_for_message ("abc");
  g_autofree char *clipped = NULL;
  g_autofree char *invalid = NULL;
  g_autofree char *truncated_lead = NULL;

  g_assert_cmpstr (short_text, ==, "abc");

  /* two-byte characters: a byte count would cut one in half */
  for (guint i = 0; i < EM_CLIP_MAX_CHARS + 5; i++)
    g_string_append (long_text, "é");
  clipped = em_clip_for_message (long_text->str);
  g_assert_true (g_utf8_validate (clipped, -1, NULL));
  g_assert_cmpuint (g_utf8_strlen (clipped, -1), ==, EM_CLIP_MAX_CHARS + 1);
  g_assert_true (g_str_has_suffix (clipped, "é…"));

  invalid = em_clip_for_message ("a\xff\xfe" "b");
  g_assert_cmpstr (invalid, ==, "a\uFFFD\uFFFDb");
  /* a lead byte promising more than the string holds */
  truncated_lead = em_clip_for_message ("a\xf0");
  g_assert_cmpstr (truncated_lead, ==, "a\uFFFD");
}

/* a D-Bus caller's dictionary key is quoted up to a bound, as a JSON
 * member's name is: one of no JSON form, one given twice, one inside */
static void
test_variant_key_clipped (void)
{
  g_autofree char *key = g_strnfill (5000, 'x');
  GVariant *dicts[3];
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", key, g_variant_new_object_path ("/a"));
  dicts[0] = g_variant_ref_sink (g_variant_builder_end (&builder));
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", key, g_variant_new_int32 (1));
  g_variant_builder_add (&builder, "{sv}", key, g_variant_new_int32 (2));
  dicts[1] = g_variant_ref_sink (g_variant_builder_end (&builder));
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", key, dicts[0]);
  dicts[2] = g_variant_ref_sink (g_variant_builder_end (&builder));

  for (guint i = 0; i < G_N_ELEMENTS (dicts); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonObject) object = em_variant_to_json_object (dicts[i], &error);

      g_assert_null (object);
      g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
      g_test_message ("%s", error->message);
      g_assert_cmpuint (strlen (error->message), <, 400);
      g_assert_nonnull (strstr (error->message, "xxxxxxxxxx…"));
      g_variant_unref (dicts[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/validation/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("registered", test_registered);
  ADD ("capture-image/valid", test_capture_image_valid);
  ADD ("capture-image/wrong-type", test_capture_image_wrong_type);
  ADD ("capture-image/out-of-range", test_capture_image_out_of_range);
  ADD ("capture-image/bad-choice", test_capture_image_bad_choice);
  ADD ("capture-image/unknown-key", test_capture_image_unknown_key);
  ADD ("move-stage/valid", test_move_stage_valid);
  ADD ("move-stage/wrong-type", test_move_stage_wrong_type);
  ADD ("move-stage/out-of-range", test_move_stage_out_of_range);
  ADD ("move-stage/unknown-key", test_move_stage_unknown_key);
  ADD ("move-stage/missing", test_move_stage_missing);
  ADD ("adjust-focus/valid", test_adjust_focus_valid);
  ADD ("adjust-focus/wrong-type", test_adjust_focus_wrong_type);
  ADD ("adjust-focus/out-of-range", test_adjust_focus_out_of_range);
  ADD ("adjust-focus/unknown-key", test_adjust_focus_unknown_key);
  ADD ("adjust-focus/missing", test_adjust_focus_missing);
  ADD ("autofocus/valid", test_autofocus_valid);
  ADD ("autofocus/refused", test_autofocus_refused);
  ADD ("tile-scan/valid", test_tile_scan_valid);
  ADD ("tile-scan/refused", test_tile_scan_refused);
  ADD ("range-quoted-exactly", test_range_quoted_exactly);
  g_test_add_func ("/validation/clip-for-message", test_clip_for_message);
  g_test_add_func ("/validation/variant-key-clipped", test_variant_key_clipped);

#undef ADD

  return g_test_run ();
}
