#include "config.h"

#include <locale.h>
#include <math.h>
#include <glib/gstdio.h>

#include "actions/em-builtin-actions.h"
#include "daemon/em-daemon-config.h"
#include "daemon/em-settings-watch.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "em-test-util.h"

/* the build tree's compiled schema, as under meson devenv */
static GSettings *
settings_new (void)
{
  GSettings *settings = em_daemon_settings_lookup ();

  g_assert_nonnull (settings);
  return settings;
}

static void
assert_position_equal (const EmStagePosition *a, const EmStagePosition *b)
{
  g_assert_cmpfloat (a->x, ==, b->x);
  g_assert_cmpfloat (a->y, ==, b->y);
  g_assert_cmpfloat (a->z, ==, b->z);
}

/* an untouched schema changes nothing: its defaults are the built-in ones */
static void
test_schema_defaults (void)
{
  g_autoptr(GSettings) settings = settings_new ();
  g_auto(EmDaemonConfig) builtin = { 0, };
  g_auto(EmDaemonConfig) loaded = { 0, };

  em_daemon_config_init_defaults (&builtin);
  em_daemon_config_init_defaults (&loaded);
  em_daemon_config_load_settings (&loaded, settings);

  g_assert_cmpstr (loaded.http_address, ==, builtin.http_address);
  g_assert_cmpuint (loaded.http_port, ==, builtin.http_port);
  g_assert_cmpint (loaded.http_enabled, ==, builtin.http_enabled);
  g_assert_null (loaded.token_file);
  g_assert_cmpstr (loaded.data_dir, ==, builtin.data_dir);
  g_assert_cmpstr (loaded.camera_pipeline, ==, EM_GST_CAMERA_DEFAULT_SOURCE);
  g_assert_cmpuint (loaded.camera_width, ==, builtin.camera_width);
  g_assert_cmpuint (loaded.camera_height, ==, builtin.camera_height);
  assert_position_equal (&loaded.stage_min, &builtin.stage_min);
  assert_position_equal (&loaded.stage_max, &builtin.stage_max);
  g_assert_cmpfloat (loaded.stage_speed, ==, builtin.stage_speed);
  g_assert_cmpfloat (loaded.focus_min, ==, builtin.focus_min);
  g_assert_cmpfloat (loaded.focus_max, ==, builtin.focus_max);
  g_assert_cmpfloat (loaded.focus_speed, ==, builtin.focus_speed);
  g_assert_cmpuint (loaded.max_concurrent, ==, builtin.max_concurrent);
  g_assert_cmpuint (loaded.retention_max_tasks, ==, builtin.retention_max_tasks);
  g_assert_cmpuint (loaded.retention_max_age_days, ==, builtin.retention_max_age_days);
}

/* and the built-in defaults are those of the simulated devices */
static void
test_builtin_matches_devices (void)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  EmStagePosition min, max;
  gdouble fmin, fmax;

  em_daemon_config_init_defaults (&config);
  em_stage_get_limits (stage, &min, &max);
  em_focus_get_limits (focus, &fmin, &fmax);
  assert_position_equal (&config.stage_min, &min);
  assert_position_equal (&config.stage_max, &max);
  g_assert_cmpfloat (config.stage_speed, ==, em_stage_get_default_speed (stage));
  g_assert_cmpfloat (config.focus_min, ==, fmin);
  g_assert_cmpfloat (config.focus_max, ==, fmax);
  g_assert_cmpfloat (config.focus_speed, ==, em_focus_get_default_speed (focus));
  g_assert_cmpstr (config.camera_pipeline, ==, EM_GST_CAMERA_DEFAULT_SOURCE);
}

static void
test_load_settings (void)
{
  g_autoptr(GSettings) settings = settings_new ();
  g_auto(EmDaemonConfig) config = { 0, };

  g_settings_set_string (settings, "http-address", "::1");
  g_settings_set_int (settings, "http-port", 8123);
  g_settings_set_string (settings, "token-file", "/run/token");
  g_settings_set_string (settings, "data-dir", "/srv/em");
  g_settings_set_string (settings, "camera-pipeline", "v4l2src device=/dev/video2");
  g_settings_set (settings, "stage-min", "(ddd)", -10.0, -20.0, -30.0);
  g_settings_set_double (settings, "focus-max", 250.0);
  g_settings_set_uint (settings, "max-concurrent", 1);
  g_settings_set_uint (settings, "retention-max-tasks", 50);

  em_daemon_config_init_defaults (&config);
  em_daemon_config_load_settings (&config, settings);
  g_assert_cmpstr (config.http_address, ==, "::1");
  g_assert_cmpuint (config.http_port, ==, 8123);
  g_assert_cmpstr (config.token_file, ==, "/run/token");
  g_assert_cmpstr (config.data_dir, ==, "/srv/em");
  g_assert_cmpstr (config.camera_pipeline, ==, "v4l2src device=/dev/video2");
  g_assert_cmpfloat (config.stage_min.y, ==, -20.0);
  g_assert_cmpfloat (config.focus_max, ==, 250.0);
  g_assert_cmpuint (config.max_concurrent, ==, 1);
  g_assert_cmpuint (config.retention_max_tasks, ==, 50);

  /* an emptied string goes back to the built-in default */
  g_settings_reset (settings, "camera-pipeline");
  g_settings_reset (settings, "data-dir");
  em_daemon_config_clear (&config);
  em_daemon_config_init_defaults (&config);
  em_daemon_config_load_settings (&config, settings);
  g_assert_cmpstr (config.camera_pipeline, ==, EM_GST_CAMERA_DEFAULT_SOURCE);
  g_assert_true (g_str_has_suffix (config.data_dir, "engine-manager"));

  g_settings_reset (settings, "http-address");
  g_settings_reset (settings, "http-port");
  g_settings_reset (settings, "token-file");
  g_settings_reset (settings, "stage-min");
  g_settings_reset (settings, "focus-max");
  g_settings_reset (settings, "max-concurrent");
  g_settings_reset (settings, "retention-max-tasks");
}

typedef struct {
  char            *data_dir;
  GSettings       *settings;
  EmEngineManager *manager;
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (NULL, stage, focus);

  em_builtin_actions_register (registry);
  fixture->data_dir = em_test_mkdtemp ();
  fixture->settings = settings_new ();
  fixture->manager = em_engine_manager_new (registry, devices, fixture->data_dir);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  const char *keys[] = { "max-concurrent", "retention-max-tasks", "retention-max-age-days",
                         "stage-min", "stage-max", "stage-speed", "focus-min", "focus-max",
                         "focus-speed", "camera-pipeline" };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    g_settings_reset (fixture->settings, keys[i]);
  em_engine_manager_shutdown (fixture->manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fixture->manager), 5000);
  g_clear_object (&fixture->manager);
  g_clear_object (&fixture->settings);
  em_test_rmdir (fixture->data_dir);
  g_free (fixture->data_dir);
}

static void
test_live_changes (Fixture *fixture, gconstpointer data)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(EmSettingsWatch) watch = NULL;
  EmDeviceSet *devices = em_engine_manager_get_devices (fixture->manager);
  EmStagePosition min, max;
  gdouble fmin, fmax;
  guint retention_tasks = 0;
  gdouble retention_age = 0;

  em_daemon_config_init_defaults (&config);
  watch = em_settings_watch_new (fixture->settings, fixture->manager, &config);

  g_settings_set_uint (fixture->settings, "max-concurrent", 2);
  g_assert_cmpuint (em_engine_manager_get_max_concurrent (fixture->manager), ==, 2);
  g_settings_set_uint (fixture->settings, "max-concurrent", 0);
  g_assert_cmpuint (em_engine_manager_get_max_concurrent (fixture->manager), ==, 0);

  g_settings_set_uint (fixture->settings, "retention-max-tasks", 7);
  g_settings_set_uint (fixture->settings, "retention-max-age-days", 2);
  g_object_get (fixture->manager, "retention-max-tasks", &retention_tasks,
                "retention-max-age", &retention_age, NULL);
  g_assert_cmpuint (retention_tasks, ==, 7);
  g_assert_cmpfloat (retention_age, ==, 2 * 24 * 3600.0);

  g_settings_set (fixture->settings, "stage-max", "(ddd)", 100.0, 200.0, 300.0);
  g_settings_set_double (fixture->settings, "stage-speed", 42.0);
  em_stage_get_limits (em_device_set_get_stage (devices), &min, &max);
  g_assert_cmpfloat (max.x, ==, 100.0);
  g_assert_cmpfloat (max.z, ==, 300.0);
  g_assert_cmpfloat (min.x, ==, -50000.0);
  g_assert_cmpfloat (em_stage_get_default_speed (em_device_set_get_stage (devices)), ==, 42.0);

  g_settings_set_double (fixture->settings, "focus-min", 5.0);
  g_settings_set_double (fixture->settings, "focus-speed", 7.0);
  em_focus_get_limits (em_device_set_get_focus (devices), &fmin, &fmax);
  g_assert_cmpfloat (fmin, ==, 5.0);
  g_assert_cmpfloat (fmax, ==, 10000.0);
  g_assert_cmpfloat (em_focus_get_default_speed (em_device_set_get_focus (devices)), ==, 7.0);

  /* the camera is rebuilt at once: here only that the change is taken */
  g_settings_set_string (fixture->settings, "camera-pipeline", "videotestsrc");

  /* once the watch is gone, changes no longer reach the engine */
  g_clear_object (&watch);
  g_settings_set_uint (fixture->settings, "max-concurrent", 3);
  g_assert_cmpuint (em_engine_manager_get_max_concurrent (fixture->manager), ==, 0);
}

/* what the command line set stays set */
static void
test_pinned_keys (Fixture *fixture, gconstpointer data)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(EmSettingsWatch) watch = NULL;
  const char *pinned[] = { "max-concurrent", NULL };

  em_daemon_config_init_defaults (&config);
  config.pinned = g_strdupv ((char **) pinned);
  em_engine_manager_set_max_concurrent (fixture->manager, 9);
  watch = em_settings_watch_new (fixture->settings, fixture->manager, &config);

  g_settings_set_uint (fixture->settings, "max-concurrent", 1);
  g_assert_cmpuint (em_engine_manager_get_max_concurrent (fixture->manager), ==, 9);
  g_assert_true (em_daemon_config_is_pinned (&config, "max-concurrent"));
  g_assert_false (em_daemon_config_is_pinned (&config, "retention-max-tasks"));
}

/* a retention key the command line set survives a change of the other one */
static void
test_pinned_retention (Fixture *fixture, gconstpointer data)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(EmSettingsWatch) watch = NULL;
  const char *pinned[] = { "retention-max-tasks", NULL };
  guint retention_tasks = 0;
  gdouble retention_age = 0;

  em_daemon_config_init_defaults (&config);
  config.pinned = g_strdupv ((char **) pinned);
  g_object_set (fixture->manager, "retention-max-tasks", 9, NULL);
  watch = em_settings_watch_new (fixture->settings, fixture->manager, &config);

  g_settings_set_uint (fixture->settings, "retention-max-age-days", 3);
  g_object_get (fixture->manager, "retention-max-tasks", &retention_tasks,
                "retention-max-age", &retention_age, NULL);
  g_assert_cmpuint (retention_tasks, ==, 9);
  g_assert_cmpfloat (retention_age, ==, 3 * 24 * 3600.0);
}

/* a lower limit past the upper one is refused, with the old limits kept */
static void
test_crossed_limits (Fixture *fixture, gconstpointer data)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(EmSettingsWatch) watch = NULL;
  EmDeviceSet *devices = em_engine_manager_get_devices (fixture->manager);
  EmStagePosition min, max;
  gdouble fmin, fmax;

  em_daemon_config_init_defaults (&config);
  watch = em_settings_watch_new (fixture->settings, fixture->manager, &config);

  g_test_expect_message ("engine-manager", G_LOG_LEVEL_WARNING,
                         "*stage-min’s x (60000) exceeds stage-max’s (50000)*");
  g_settings_set (fixture->settings, "stage-min", "(ddd)", 60000.0, 0.0, 0.0);
  g_test_assert_expected_messages ();
  em_stage_get_limits (em_device_set_get_stage (devices), &min, &max);
  g_assert_cmpfloat (min.x, ==, -50000.0);
  g_assert_cmpfloat (max.x, ==, 50000.0);

  /* the second change of a pair makes it a range again */
  g_settings_set (fixture->settings, "stage-max", "(ddd)", 70000.0, 50000.0, 10000.0);
  em_stage_get_limits (em_device_set_get_stage (devices), &min, &max);
  g_assert_cmpfloat (min.x, ==, 60000.0);
  g_assert_cmpfloat (max.x, ==, 70000.0);

  g_test_expect_message ("engine-manager", G_LOG_LEVEL_WARNING,
                         "*focus-min (0) exceeds focus-max (-5)*");
  g_settings_set_double (fixture->settings, "focus-max", -5.0);
  g_test_assert_expected_messages ();
  em_focus_get_limits (em_device_set_get_focus (devices), &fmin, &fmax);
  g_assert_cmpfloat (fmin, ==, 0.0);
  g_assert_cmpfloat (fmax, ==, 10000.0);
}

/* the limits come back as written: every digit, a decimal point in any locale */
static void
test_limit_digits (void)
{
  EmStagePosition min = { -50000.0, -50000.0, 0.0 };
  EmStagePosition max = { 50000.0, 50000.0, 10000.0 };
  g_autoptr(GError) error = NULL;

  /* a German LC_NUMERIC, where the machine has one, would print 0,5 */
  if (setlocale (LC_NUMERIC, "de_DE.UTF-8") == NULL)
    setlocale (LC_NUMERIC, "de_DE.utf8");

  min.z = 10000.0001;
  g_assert_false (em_daemon_check_stage_limits (&min, &max, &error));
  g_assert_cmpstr (error->message, ==, "stage-min’s z (10000.0001) exceeds stage-max’s (10000)");
  g_clear_error (&error);

  g_assert_false (em_daemon_check_focus_limits (0.5, 0.25, &error));
  g_assert_cmpstr (error->message, ==, "focus-min (0.5) exceeds focus-max (0.25)");
  g_clear_error (&error);

  g_assert_false (em_daemon_check_focus_limits (1234567.5, 1234567.25, &error));
  g_assert_cmpstr (error->message, ==, "focus-min (1234567.5) exceeds focus-max (1234567.25)");
  setlocale (LC_NUMERIC, "C");
}

/* GSettings takes nan for a double: it is no limit, and exceeds nothing */
static void
test_limit_nan (void)
{
  EmStagePosition min = { -50000.0, -50000.0, 0.0 };
  EmStagePosition max = { 50000.0, 50000.0, 10000.0 };
  g_autoptr(GError) error = NULL;

  min.y = NAN;
  g_assert_false (em_daemon_check_stage_limits (&min, &max, &error));
  g_assert_cmpstr (error->message, ==, "stage-min’s y is not a number");
  g_clear_error (&error);

  min.y = -50000.0;
  max.z = NAN;
  g_assert_false (em_daemon_check_stage_limits (&min, &max, &error));
  g_assert_cmpstr (error->message, ==, "stage-max’s z is not a number");
  g_clear_error (&error);

  g_assert_false (em_daemon_check_focus_limits (NAN, 10000.0, &error));
  g_assert_cmpstr (error->message, ==, "focus-min is not a number");
  g_clear_error (&error);

  g_assert_false (em_daemon_check_focus_limits (0.0, NAN, &error));
  g_assert_cmpstr (error->message, ==, "focus-max is not a number");
}

/* nor inf, which GET /devices could only write as no JSON number */
static void
test_limit_infinite (void)
{
  EmStagePosition min = { -50000.0, -50000.0, 0.0 };
  EmStagePosition max = { 50000.0, 50000.0, 10000.0 };
  g_autoptr(GError) error = NULL;

  max.x = INFINITY;
  g_assert_false (em_daemon_check_stage_limits (&min, &max, &error));
  g_assert_cmpstr (error->message, ==, "stage-max’s x is infinite");
  g_clear_error (&error);

  max.x = 50000.0;
  min.z = -INFINITY;
  g_assert_false (em_daemon_check_stage_limits (&min, &max, &error));
  g_assert_cmpstr (error->message, ==, "stage-min’s z is infinite");
  g_clear_error (&error);

  g_assert_false (em_daemon_check_focus_limits (-INFINITY, 10000.0, &error));
  g_assert_cmpstr (error->message, ==, "focus-min is infinite");
  g_clear_error (&error);

  g_assert_false (em_daemon_check_focus_limits (0.0, INFINITY, &error));
  g_assert_cmpstr (error->message, ==, "focus-max is infinite");
}

/* nor does the schema's range keep nan from a speed: refused at a change,
 * with the speed in force kept */
static void
test_speed_nan (Fixture *fixture, gconstpointer data)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(EmSettingsWatch) watch = NULL;
  g_autoptr(GError) error = NULL;
  EmDeviceSet *devices = em_engine_manager_get_devices (fixture->manager);

  g_assert_false (em_daemon_check_speed ("stage-speed", NAN, &error));
  g_assert_cmpstr (error->message, ==, "stage-speed is not a number");
  g_assert_true (em_daemon_check_speed ("focus-speed", 500.0, NULL));

  em_daemon_config_init_defaults (&config);
  watch = em_settings_watch_new (fixture->settings, fixture->manager, &config);
  g_test_expect_message ("engine-manager", G_LOG_LEVEL_WARNING,
                         "*default speed: stage-speed is not a number*");
  g_settings_set_double (fixture->settings, "stage-speed", NAN);
  g_test_assert_expected_messages ();
  g_assert_cmpfloat (em_stage_get_default_speed (em_device_set_get_stage (devices)), ==, 1000.0);

  g_test_expect_message ("engine-manager", G_LOG_LEVEL_WARNING,
                         "*default speed: focus-speed is not a number*");
  g_settings_set_double (fixture->settings, "focus-speed", NAN);
  g_test_assert_expected_messages ();
  g_assert_cmpfloat (em_focus_get_default_speed (em_device_set_get_focus (devices)), ==, 500.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);

  g_test_add_func ("/daemon/config/schema-defaults", test_schema_defaults);
  g_test_add_func ("/daemon/config/builtin-matches-devices", test_builtin_matches_devices);
  g_test_add_func ("/daemon/config/load-settings", test_load_settings);
  g_test_add_func ("/daemon/config/limit-digits", test_limit_digits);
  g_test_add_func ("/daemon/config/limit-nan", test_limit_nan);
  g_test_add_func ("/daemon/config/limit-infinite", test_limit_infinite);
  g_test_add ("/daemon/settings/live-changes", Fixture, NULL,
              fixture_set_up, test_live_changes, fixture_tear_down);
  g_test_add ("/daemon/settings/pinned-keys", Fixture, NULL,
              fixture_set_up, test_pinned_keys, fixture_tear_down);
  g_test_add ("/daemon/settings/crossed-limits", Fixture, NULL,
              fixture_set_up, test_crossed_limits, fixture_tear_down);
  g_test_add ("/daemon/settings/speed-nan", Fixture, NULL,
              fixture_set_up, test_speed_nan, fixture_tear_down);
  g_test_add ("/daemon/settings/pinned-retention", Fixture, NULL,
              fixture_set_up, test_pinned_retention, fixture_tear_down);
  return g_test_run ();
}
