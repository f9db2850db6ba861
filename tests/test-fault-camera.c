/* fault: the camera pipeline dies in the middle of a capture. That capture fails
 * with GStreamer's message, the stage keeps serving meanwhile, the next capture
 * rebuilds the pipeline and succeeds, and every task is in the store afterwards. */

#include "config.h"

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "em-test-util.h"

typedef struct {
  char             *data_dir;
  EmActionRegistry *registry;
  EmCamera         *camera;
  EmEngineManager  *manager;
} Fixture;

static EmEngineManager *
open_engine (Fixture *fx, EmDeviceSet *devices)
{
  g_autoptr(GError) error = NULL;
  EmEngineManager *manager = em_engine_manager_new (fx->registry, devices, fx->data_dir);

  g_assert_true (em_engine_manager_open_store (manager, &error));
  g_assert_no_error (error);
  return manager;
}

static void
close_engine (EmEngineManager **manager)
{
  em_engine_manager_shutdown (*manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (*manager), 5000);
  g_clear_object (manager);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = NULL;

  fx->registry = em_action_registry_new ();
  em_builtin_actions_register (fx->registry);
  fx->camera = em_gst_camera_new ("videotestsrc is-live=true pattern=ball", 160, 120);
  devices = em_device_set_new (fx->camera, stage, focus);
  fx->data_dir = em_test_mkdtemp ();
  fx->manager = open_engine (fx, devices);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->manager != NULL)
    close_engine (&fx->manager);
  g_clear_object (&fx->camera);
  g_clear_object (&fx->registry);
  em_test_rmdir (fx->data_dir);
  g_free (fx->data_dir);
}

static EmTask *
schedule (Fixture *fx, const char *name, const char *action, const char *params_json)
{
  g_autoptr(JsonNode) params = params_json != NULL ? json_from_string (params_json, NULL) : NULL;
  g_autoptr(EmTaskSpec) spec = em_task_spec_new (name, action,
                                                 params != NULL ? json_node_get_object (params) : NULL);
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_schedule_task (fx->manager, spec, &error);

  g_assert_no_error (error);
  g_assert_nonnull (task);
  return task;
}

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

/* what a transport does before it acknowledges: wait for the commit */
static void
sync_store (Fixture *fx)
{
  gboolean done = FALSE;

  em_engine_manager_sync_async (fx->manager, NULL, synced_cb, &done);
  EM_TEST_WAIT_UNTIL (done, 5000);
}

static void
lookup_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  JsonNode **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = em_engine_manager_lookup_task_finish (EM_ENGINE_MANAGER (source), result, &error);
  g_assert_no_error (error);
}

static JsonObject *
stored_task (EmEngineManager *manager, const char *id)
{
  JsonNode *node = NULL;
  JsonObject *object;

  em_engine_manager_lookup_task_async (manager, id, NULL, lookup_cb, &node);
  EM_TEST_WAIT_UNTIL (node != NULL, 5000);
  object = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  return object;
}

static gboolean
source_alive (Fixture *fx)
{
  g_autoptr(GstElement) source = em_gst_camera_get_source (EM_GST_CAMERA (fx->camera));

  return source != NULL;
}

static void
kill_source (Fixture *fx)
{
  g_autoptr(GstElement) source = em_gst_camera_get_source (EM_GST_CAMERA (fx->camera));

  g_assert_nonnull (source);
  /* what a driver does when the sensor goes away */
  GST_ELEMENT_ERROR (source, RESOURCE, READ, ("Camera unplugged"), ("simulated by the fault test"));
}

static void
test_dies_mid_capture (Fixture *fx, gconstpointer data)
{
  g_autofree char *first_id = NULL;
  g_autofree char *move_id = NULL;
  g_autofree char *next_id = NULL;
  EmTask *capture;
  EmTask *move;
  EmTask *next;
  const char *path;

  /* a warm-up capture, so the pipeline runs before the long one starts */
  next = schedule (fx, "warm-up", "capture_image", "{\"exposure\": 1}");
  EM_TEST_WAIT_UNTIL (em_task_is_finished (next), 10000);
  g_assert_cmpint (em_task_get_status (next), ==, EM_TASK_STATUS_COMPLETED);

  capture = schedule (fx, "doomed", "capture_image", "{\"exposure\": 3000}");
  first_id = g_strdup (em_task_get_id (capture));
  move = schedule (fx, "meanwhile", "move_stage", "{\"x\": 200, \"speed\": 2000}");
  move_id = g_strdup (em_task_get_id (move));
  sync_store (fx);
  EM_TEST_WAIT_UNTIL (em_task_get_status (capture) == EM_TASK_STATUS_RUNNING &&
                      em_task_get_progress (capture) > 0, 5000);

  g_test_expect_message ("em-devices", G_LOG_LEVEL_WARNING, "*Camera unplugged*");
  kill_source (fx);
  EM_TEST_WAIT_UNTIL (em_task_is_finished (capture), 5000);
  g_test_assert_expected_messages ();

  g_assert_cmpint (em_task_get_status (capture), ==, EM_TASK_STATUS_FAILED);
  g_assert_nonnull (strstr (em_task_get_error (capture), "Camera error: Camera unplugged"));
  /* it failed at once, not after its exposure or a frame timeout */
  g_assert_cmpfloat (em_task_get_progress (capture), <, 1.0);

  /* the other device kept working */
  EM_TEST_WAIT_UNTIL (em_task_is_finished (move), 5000);
  g_assert_cmpint (em_task_get_status (move), ==, EM_TASK_STATUS_COMPLETED);

  /* the next capture rebuilds the pipeline */
  next = schedule (fx, "after", "capture_image", "{\"exposure\": 5}");
  next_id = g_strdup (em_task_get_id (next));
  EM_TEST_WAIT_UNTIL (em_task_is_finished (next), 10000);
  g_assert_cmpstr (em_task_get_error (next), ==, NULL);
  g_assert_cmpint (em_task_get_status (next), ==, EM_TASK_STATUS_COMPLETED);
  path = json_object_get_string_member (em_task_get_result (next), "path");
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  sync_store (fx);

  /* nothing is lost: a fresh engine on the same directory has all three */
  close_engine (&fx->manager);
  {
    g_autoptr(EmEngineManager) reopened = open_engine (fx, NULL);
    g_autoptr(JsonObject) failed = stored_task (reopened, first_id);
    g_autoptr(JsonObject) moved = stored_task (reopened, move_id);
    g_autoptr(JsonObject) after = stored_task (reopened, next_id);

    g_assert_cmpstr (json_object_get_string_member (failed, "status"), ==, "failed");
    g_assert_nonnull (strstr (json_object_get_string_member (failed, "error"), "Camera unplugged"));
    g_assert_cmpstr (json_object_get_string_member (moved, "status"), ==, "completed");
    g_assert_cmpstr (json_object_get_string_member (after, "status"), ==, "completed");
    em_engine_manager_shutdown (reopened);
  }
}

/* the pipeline dies while no capture is waiting: nothing fails, and the next
 * capture starts a fresh pipeline instead of waiting on the dead one */
static void
test_dies_between_captures (Fixture *fx, gconstpointer data)
{
  EmTask *task;

  task = schedule (fx, "before", "capture_image", "{\"exposure\": 1}");
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 10000);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);

  g_test_expect_message ("em-devices", G_LOG_LEVEL_WARNING, "*Camera unplugged*");
  kill_source (fx);
  EM_TEST_WAIT_UNTIL (!source_alive (fx), 5000);
  g_test_assert_expected_messages ();

  task = schedule (fx, "after", "capture_image", "{\"exposure\": 1}");
  EM_TEST_WAIT_UNTIL (em_task_is_finished (task), 10000);
  g_assert_cmpstr (em_task_get_error (task), ==, NULL);
  g_assert_cmpint (em_task_get_status (task), ==, EM_TASK_STATUS_COMPLETED);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  g_test_add ("/fault/camera/dies-mid-capture", Fixture, NULL,
              fixture_setup, test_dies_mid_capture, fixture_teardown);
  g_test_add ("/fault/camera/dies-between-captures", Fixture, NULL,
              fixture_setup, test_dies_between_captures, fixture_teardown);
  ret = g_test_run ();

  gst_deinit ();
  return ret;
}
