#include "config.h"

#include <math.h>

#include "actions/em-adjust-focus-action.h"
#include "actions/em-move-stage-action.h"
#include "actions/em-wait-action.h"
#include "devices/em-device-set.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-action-private.h"
#include "engine/em-error.h"
#include "em-test-util.h"

/* tolerance for a busy machine (valgrind, sanitizers): how late a move may end */
#define LATE_MS 600

typedef struct
{
  gboolean  done;
  gboolean  ok;
  GError   *error;
  gint64    finished_us;
  GArray   *progress;
  JsonObject *result;
} Run;

static void
run_clear (Run *run)
{
  g_clear_error (&run->error);
  g_clear_pointer (&run->progress, g_array_unref);
  g_clear_pointer (&run->result, json_object_unref);
}

static void
run_init (Run *run)
{
  *run = (Run) { 0 };
  run->progress = g_array_new (FALSE, FALSE, sizeof (gdouble));
}

static void
progress_cb (gdouble fraction, gpointer user_data)
{
  Run *run = user_data;

  g_array_append_val (run->progress, fraction);
}

static void
stage_moved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;

  run->ok = em_stage_move_finish (EM_STAGE (source), result, &run->error);
  run->finished_us = g_get_monotonic_time ();
  run->done = TRUE;
}

static void
focus_moved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;

  run->ok = em_focus_move_finish (EM_FOCUS (source), result, &run->error);
  run->finished_us = g_get_monotonic_time ();
  run->done = TRUE;
}

static void
action_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;

  run->result = em_action_run_finish (EM_ACTION (source), result, &run->error);
  run->ok = run->result != NULL;
  run->finished_us = g_get_monotonic_time ();
  run->done = TRUE;
}

static void
assert_progress_sane (GArray *progress)
{
  g_assert_cmpuint (progress->len, >=, 3);
  for (guint i = 0; i < progress->len; i++)
    {
      gdouble fraction = g_array_index (progress, gdouble, i);

      g_assert_cmpfloat (fraction, >=, 0.0);
      g_assert_cmpfloat (fraction, <=, 1.0);
      if (i > 0)
        g_assert_cmpfloat (fraction, >=, g_array_index (progress, gdouble, i - 1));
    }
  g_assert_cmpfloat (g_array_index (progress, gdouble, progress->len - 1), ==, 1.0);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

typedef struct
{
  GCancellable *cancellable;
  gint64        cancelled_us;
} TimedCancel;

static gboolean
timed_cancel_cb (gpointer user_data)
{
  TimedCancel *cancel = user_data;

  cancel->cancelled_us = g_get_monotonic_time ();
  g_cancellable_cancel (cancel->cancellable);
  return G_SOURCE_REMOVE;
}

/* the device stopped somewhere between where it was when cancelled and where it
 * would have been when the callback ran; 1 µm/ms is the speed both tests use */
static void
assert_stopped_between (gdouble      position,
                        gint64       started_us,
                        gint64       move_called_us,
                        TimedCancel *cancel,
                        gint64       finished_us)
{
  gdouble earliest = (cancel->cancelled_us - move_called_us) / 1000.0;
  gdouble latest = (finished_us - started_us) / 1000.0;

  g_test_message ("stopped at %g µm, bracket %g to %g", position, earliest, latest);
  g_assert_cmpfloat (position, >=, earliest - 0.001);
  g_assert_cmpfloat (position, <=, latest + 0.001);
}

static void
count_notify_cb (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  guint *count = user_data;

  (*count)++;
}

static void
test_stage_defaults (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  EmStagePosition position, min, max;

  em_stage_get_position (stage, &position);
  em_stage_get_limits (stage, &min, &max);
  g_assert_cmpfloat (position.x, ==, 0.0);
  g_assert_cmpfloat (position.y, ==, 0.0);
  g_assert_cmpfloat (position.z, ==, 0.0);
  g_assert_cmpfloat (min.x, ==, -50000.0);
  g_assert_cmpfloat (max.x, ==, 50000.0);
  g_assert_cmpfloat (min.y, ==, -50000.0);
  g_assert_cmpfloat (max.y, ==, 50000.0);
  g_assert_cmpfloat (min.z, ==, 0.0);
  g_assert_cmpfloat (max.z, ==, 10000.0);
  g_assert_cmpfloat (em_stage_get_default_speed (stage), ==, 1000.0);
  g_assert_false (em_stage_is_moving (stage));
}

static void
test_stage_move_timing (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  const EmStagePosition target = { 300.0, 400.0, 0.0 };
  EmStagePosition position;
  gint64 started_us;
  gint64 elapsed_ms;
  Run run;

  run_init (&run);
  /* a 500 µm diagonal at 2500 µm/s: 200 ms of wall time */
  started_us = g_get_monotonic_time ();
  em_stage_move_async (stage, &target, 2500.0, NULL, progress_cb, &run, stage_moved_cb, &run);
  g_assert_true (em_stage_is_moving (stage));
  EM_TEST_WAIT_UNTIL (run.done, 5000);

  g_assert_no_error (run.error);
  g_assert_true (run.ok);
  elapsed_ms = (run.finished_us - started_us) / 1000;
  g_assert_cmpint (elapsed_ms, >=, 200);
  g_assert_cmpint (elapsed_ms, <, 200 + LATE_MS);
  em_stage_get_position (stage, &position);
  g_assert_cmpfloat (position.x, ==, 300.0);
  g_assert_cmpfloat (position.y, ==, 400.0);
  g_assert_cmpfloat (position.z, ==, 0.0);
  g_assert_false (em_stage_is_moving (stage));
  run_clear (&run);
}

static void
test_stage_default_speed (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  const EmStagePosition target = { 0.0, 0.0, 150.0 };
  gint64 started_us;
  gint64 elapsed_ms;
  Run run;

  run_init (&run);
  em_stage_set_default_speed (stage, 1500.0);
  started_us = g_get_monotonic_time ();
  /* speed 0 means the default: 150 µm at 1500 µm/s is 100 ms */
  em_stage_move_async (stage, &target, 0.0, NULL, NULL, NULL, stage_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 5000);
  g_assert_no_error (run.error);
  elapsed_ms = (run.finished_us - started_us) / 1000;
  g_assert_cmpint (elapsed_ms, >=, 100);
  g_assert_cmpint (elapsed_ms, <, 100 + LATE_MS);
  run_clear (&run);
}

static void
test_stage_progress (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  const EmStagePosition target = { -500.0, 0.0, 0.0 };
  guint x_notifies = 0;
  guint y_notifies = 0;
  guint moving_notifies = 0;
  Run run;

  run_init (&run);
  g_signal_connect (stage, "notify::x", G_CALLBACK (count_notify_cb), &x_notifies);
  g_signal_connect (stage, "notify::y", G_CALLBACK (count_notify_cb), &y_notifies);
  g_signal_connect (stage, "notify::moving", G_CALLBACK (count_notify_cb), &moving_notifies);

  em_stage_move_async (stage, &target, 2500.0, NULL, progress_cb, &run, stage_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 5000);
  g_assert_no_error (run.error);

  assert_progress_sane (run.progress);
  g_assert_cmpuint (x_notifies, >=, 3);
  g_assert_cmpuint (y_notifies, ==, 0);
  g_assert_cmpuint (moving_notifies, ==, 2);
  run_clear (&run);
}

static void
assert_limit_error (EmStage *stage, const EmStagePosition *target, const char *axis,
                    const char *min, const char *max)
{
  EmStagePosition before, after;
  Run run;

  run_init (&run);
  em_stage_get_position (stage, &before);
  em_stage_move_async (stage, target, 0.0, NULL, NULL, NULL, stage_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);

  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_test_message ("limit error: %s", run.error->message);
  g_assert_nonnull (strstr (run.error->message, axis));
  g_assert_nonnull (strstr (run.error->message, min));
  g_assert_nonnull (strstr (run.error->message, max));
  em_stage_get_position (stage, &after);
  g_assert_cmpmem (&before, sizeof before, &after, sizeof after);
  g_assert_false (em_stage_is_moving (stage));
  run_clear (&run);
}

static void
test_stage_limits (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  const EmStagePosition far_x = { 60000.0, 0.0, 0.0 };
  const EmStagePosition low_y = { 0.0, -50001.0, 0.0 };
  const EmStagePosition below_z = { 0.0, 0.0, -1.0 };
  const EmStagePosition nan_x = { NAN, 0.0, 0.0 };
  const EmStagePosition just_past_x = { 50000.0001, 0.0, 0.0 };
  const EmStagePosition min = { -10.0, -20.0, 5.0 };
  const EmStagePosition max = { 10.0, 20.0, 30.0 };
  const EmStagePosition edge = { 10.0, -20.0, 30.0 };
  const EmStagePosition past_z = { 0.0, 0.0, 31.0 };
  Run run;

  assert_limit_error (stage, &far_x, "x =", "-50000", "50000");
  assert_limit_error (stage, &low_y, "y =", "-50000", "50000");
  assert_limit_error (stage, &below_z, "z =", "0 to", "10000");
  /* just past the edge: the message shows by how much */
  assert_limit_error (stage, &just_past_x, "x = 50000.0001 µm", "-50000", "50000");

  run_init (&run);
  em_stage_move_async (stage, &nan_x, 0.0, NULL, NULL, NULL, stage_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  run_clear (&run);

  /* configured limits replace the defaults, and the edges are inside */
  em_stage_set_limits (stage, &min, &max);
  assert_limit_error (stage, &past_z, "z =", "5 to", "30");
  assert_limit_error (stage, &far_x, "x =", "-10", "10");

  run_init (&run);
  em_stage_move_async (stage, &edge, 1000.0, NULL, NULL, NULL, stage_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 5000);
  g_assert_no_error (run.error);
  run_clear (&run);
}

/* a move that would take longer than a gint64 of microseconds crawls; it does
 * not arrive at once */
static void
test_stage_very_slow_move (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  const EmStagePosition target = { 100.0, 0.0, 0.0 };
  EmStagePosition position;
  Run run, focus_run;

  run_init (&run);
  run_init (&focus_run);
  em_stage_move_async (stage, &target, 1e-13, cancellable, NULL, NULL, stage_moved_cb, &run);
  em_focus_move_async (focus, 100.0, 1e-13, cancellable, NULL, NULL, focus_moved_cb, &focus_run);
  em_test_run_for (100);

  g_assert_false (run.done);
  g_assert_false (focus_run.done);
  g_assert_true (em_stage_is_moving (stage));
  em_stage_get_position (stage, &position);
  g_assert_cmpfloat (position.x, <, 1e-3);
  g_assert_cmpfloat (em_focus_get_position (focus), <, 1e-3);

  g_cancellable_cancel (cancellable);
  EM_TEST_WAIT_UNTIL (run.done && focus_run.done, 5000);
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_error (focus_run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  em_stage_get_position (stage, &position);
  g_assert_cmpfloat (position.x, <, 1e-3);
  run_clear (&run);
  run_clear (&focus_run);
}

static void
test_stage_stop_mid_move (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  const EmStagePosition target = { 1000.0, 0.0, 0.0 };
  EmStagePosition stopped, later;
  TimedCancel cancel = { cancellable, 0 };
  gint64 started_us, move_called_us;
  guint wakeup = em_test_add_wakeup (10);
  gint64 settle_until;
  Run run;

  run_init (&run);
  started_us = g_get_monotonic_time ();
  /* 1000 µm at 1000 µm/s: a second; stop it after 300 ms */
  em_stage_move_async (stage, &target, 1000.0, cancellable, progress_cb, &run, stage_moved_cb, &run);
  move_called_us = g_get_monotonic_time ();
  g_timeout_add (300, timed_cancel_cb, &cancel);
  EM_TEST_WAIT_UNTIL (run.done, 5000);

  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (em_stage_is_moving (stage));
  em_stage_get_position (stage, &stopped);
  /* where wall time says it was when it stopped, not at the target or the start */
  g_assert_cmpfloat (stopped.x, >=, 300.0);
  g_assert_cmpfloat (stopped.x, <, 1000.0);
  assert_stopped_between (stopped.x, started_us, move_called_us, &cancel, run.finished_us);
  g_assert_cmpfloat (stopped.y, ==, 0.0);

  /* and it stays there */
  settle_until = g_get_monotonic_time () + 200 * 1000;
  EM_TEST_WAIT_UNTIL (g_get_monotonic_time () >= settle_until, 1000);
  em_stage_get_position (stage, &later);
  g_assert_cmpfloat (later.x, ==, stopped.x);
  run_clear (&run);

  /* the next move starts from there */
  run_init (&run);
  em_stage_move_async (stage, &target, 20000.0, NULL, NULL, NULL, stage_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 5000);
  g_assert_no_error (run.error);
  em_stage_get_position (stage, &later);
  g_assert_cmpfloat (later.x, ==, 1000.0);
  run_clear (&run);
  g_source_remove (wakeup);
}

static void
test_stage_cancelled_before_start (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  const EmStagePosition target = { 100.0, 0.0, 0.0 };
  EmStagePosition position;
  Run run;

  run_init (&run);
  g_cancellable_cancel (cancellable);
  em_stage_move_async (stage, &target, 1000.0, cancellable, NULL, NULL, stage_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  em_stage_get_position (stage, &position);
  g_assert_cmpfloat (position.x, ==, 0.0);
  g_assert_false (em_stage_is_moving (stage));
  run_clear (&run);
}

static void
test_stage_busy (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  const EmStagePosition first = { 100.0, 0.0, 0.0 };
  const EmStagePosition second = { 0.0, 100.0, 0.0 };
  Run run1, run2;

  run_init (&run1);
  run_init (&run2);
  em_stage_move_async (stage, &first, 1000.0, NULL, NULL, NULL, stage_moved_cb, &run1);
  em_stage_move_async (stage, &second, 1000.0, NULL, NULL, NULL, stage_moved_cb, &run2);
  EM_TEST_WAIT_UNTIL (run1.done && run2.done, 5000);
  g_assert_no_error (run1.error);
  g_assert_error (run2.error, EM_ERROR, EM_ERROR_CONFLICT);
  run_clear (&run1);
  run_clear (&run2);
}

static void
test_focus_move_timing (void)
{
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  gdouble min, max;
  gint64 started_us;
  gint64 elapsed_ms;
  guint notifies = 0;
  Run run;

  em_focus_get_limits (focus, &min, &max);
  g_assert_cmpfloat (min, ==, 0.0);
  g_assert_cmpfloat (max, ==, 10000.0);
  g_assert_cmpfloat (em_focus_get_position (focus), ==, 0.0);
  g_assert_cmpfloat (em_focus_get_default_speed (focus), ==, 500.0);
  g_signal_connect (focus, "notify::position", G_CALLBACK (count_notify_cb), &notifies);

  run_init (&run);
  /* 150 µm at 1000 µm/s: 150 ms */
  started_us = g_get_monotonic_time ();
  em_focus_move_async (focus, 150.0, 1000.0, NULL, progress_cb, &run, focus_moved_cb, &run);
  g_assert_true (em_focus_is_moving (focus));
  EM_TEST_WAIT_UNTIL (run.done, 5000);
  g_assert_no_error (run.error);
  elapsed_ms = (run.finished_us - started_us) / 1000;
  g_assert_cmpint (elapsed_ms, >=, 150);
  g_assert_cmpint (elapsed_ms, <, 150 + LATE_MS);
  g_assert_cmpfloat (em_focus_get_position (focus), ==, 150.0);
  g_assert_false (em_focus_is_moving (focus));
  assert_progress_sane (run.progress);
  g_assert_cmpuint (notifies, >=, 3);
  run_clear (&run);
}

static void
test_focus_limits (void)
{
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  Run run;

  run_init (&run);
  em_focus_move_async (focus, 10000.5, 0.0, NULL, NULL, NULL, focus_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_test_message ("limit error: %s", run.error->message);
  g_assert_nonnull (strstr (run.error->message, "position"));
  g_assert_nonnull (strstr (run.error->message, "0 to 10000"));
  g_assert_cmpfloat (em_focus_get_position (focus), ==, 0.0);
  run_clear (&run);

  run_init (&run);
  em_focus_move_async (focus, 10000.0001, 0.0, NULL, NULL, NULL, focus_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (run.error->message, "= 10000.0001 µm"));
  run_clear (&run);

  em_focus_set_limits (focus, 100.0, 200.0);
  run_init (&run);
  em_focus_move_async (focus, 50.0, 0.0, NULL, NULL, NULL, focus_moved_cb, &run);
  EM_TEST_WAIT_UNTIL (run.done, 1000);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (run.error->message, "100 to 200"));
  run_clear (&run);
}

static void
test_focus_stop_mid_move (void)
{
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  TimedCancel cancel = { cancellable, 0 };
  gint64 started_us, move_called_us;
  gdouble stopped;
  gint64 settle_until;
  guint wakeup = em_test_add_wakeup (10);
  Run run;

  run_init (&run);
  started_us = g_get_monotonic_time ();
  /* down from 0 is out of travel, so go up: 1000 µm at 1000 µm/s, stopped at 250 ms */
  em_focus_move_async (focus, 1000.0, 1000.0, cancellable, NULL, NULL, focus_moved_cb, &run);
  move_called_us = g_get_monotonic_time ();
  g_timeout_add (250, timed_cancel_cb, &cancel);
  EM_TEST_WAIT_UNTIL (run.done, 5000);

  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  stopped = em_focus_get_position (focus);
  g_assert_cmpfloat (stopped, >=, 250.0);
  g_assert_cmpfloat (stopped, <, 1000.0);
  assert_stopped_between (stopped, started_us, move_called_us, &cancel, run.finished_us);
  g_assert_false (em_focus_is_moving (focus));

  settle_until = g_get_monotonic_time () + 200 * 1000;
  EM_TEST_WAIT_UNTIL (g_get_monotonic_time () >= settle_until, 1000);
  g_assert_cmpfloat (em_focus_get_position (focus), ==, stopped);
  run_clear (&run);
  g_source_remove (wakeup);
}

static void
run_action (EmAction *action, EmDeviceSet *devices, const char *json, GCancellable *cancellable, Run *run)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(EmActionContext) context = em_action_context_new (devices, "test-task", NULL,
                                                              progress_cb, run);

  g_assert_nonnull (node);
  g_assert_true (em_action_validate (action, json_node_get_object (node), &error));
  g_assert_no_error (error);
  em_action_run_async (action, context, json_node_get_object (node), cancellable, action_done_cb, run);
  EM_TEST_WAIT_UNTIL (run->done, 5000);
}

static void
test_move_stage_action (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (NULL, stage, NULL);
  g_autoptr(EmAction) action = em_move_stage_action_new ();
  EmStagePosition position;
  Run run;

  g_assert_cmpstr (em_action_get_name (action), ==, "move_stage");
  g_assert_cmpint (em_action_get_claims (action), ==, EM_DEVICE_KIND_STAGE);

  run_init (&run);
  run_action (action, devices, "{\"x\": 100, \"z\": 50.5, \"speed\": 20000}", NULL, &run);
  g_assert_no_error (run.error);
  g_assert_cmpfloat (json_object_get_double_member (run.result, "x"), ==, 100.0);
  g_assert_cmpfloat (json_object_get_double_member (run.result, "y"), ==, 0.0);
  g_assert_cmpfloat (json_object_get_double_member (run.result, "z"), ==, 50.5);
  g_assert_cmpfloat (g_array_index (run.progress, gdouble, run.progress->len - 1), ==, 1.0);
  run_clear (&run);

  /* relative: offsets from where it is; a missing axis stays */
  run_init (&run);
  run_action (action, devices, "{\"x\": -30, \"y\": 20, \"relative\": true, \"speed\": 20000}", NULL, &run);
  g_assert_no_error (run.error);
  em_stage_get_position (stage, &position);
  g_assert_cmpfloat (position.x, ==, 70.0);
  g_assert_cmpfloat (position.y, ==, 20.0);
  g_assert_cmpfloat (position.z, ==, 50.5);
  run_clear (&run);

  /* outside the travel: fails at run time, naming the axis and limits */
  run_init (&run);
  run_action (action, devices, "{\"y\": 50000.5}", NULL, &run);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (run.error->message, "y = 50000.5"));
  g_assert_nonnull (strstr (run.error->message, "-50000 to 50000"));
  run_clear (&run);
}

static void
test_move_stage_action_cancel (void)
{
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (NULL, stage, NULL);
  g_autoptr(EmAction) action = em_move_stage_action_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  EmStagePosition position;
  Run run;

  run_init (&run);
  g_timeout_add (100, cancel_cb, cancellable);
  run_action (action, devices, "{\"x\": 1000}", cancellable, &run);
  g_assert_error (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  em_stage_get_position (stage, &position);
  g_assert_cmpfloat (position.x, >, 0.0);
  g_assert_cmpfloat (position.x, <, 1000.0);
  run_clear (&run);
}

static void
test_move_stage_action_no_stage (void)
{
  g_autoptr(EmDeviceSet) devices = em_device_set_new (NULL, NULL, NULL);
  g_autoptr(EmAction) action = em_move_stage_action_new ();
  Run run;

  run_init (&run);
  run_action (action, devices, "{\"x\": 1}", NULL, &run);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_UNAVAILABLE);
  run_clear (&run);
}

static void
test_adjust_focus_action (void)
{
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (NULL, NULL, focus);
  g_autoptr(EmAction) action = em_adjust_focus_action_new ();
  Run run;

  g_assert_cmpstr (em_action_get_name (action), ==, "adjust_focus");
  g_assert_cmpint (em_action_get_claims (action), ==, EM_DEVICE_KIND_FOCUS);

  /* 240 ms: at 20 ms a tick, progress is reported several times even when a
   * loaded machine delays the ticks (60 ms gave only two at times) */
  run_init (&run);
  run_action (action, devices, "{\"position\": 120, \"speed\": 500}", NULL, &run);
  g_assert_no_error (run.error);
  g_assert_cmpfloat (json_object_get_double_member (run.result, "position"), ==, 120.0);
  assert_progress_sane (run.progress);
  run_clear (&run);

  run_init (&run);
  run_action (action, devices, "{\"position\": -20, \"relative\": true, \"speed\": 2000}", NULL, &run);
  g_assert_no_error (run.error);
  g_assert_cmpfloat (em_focus_get_position (focus), ==, 100.0);
  run_clear (&run);

  run_init (&run);
  run_action (action, devices, "{\"position\": 20000}", NULL, &run);
  g_assert_error (run.error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (run.error->message, "0 to 10000"));
  run_clear (&run);
}

/* a wait ends when asked, not at the next 50 ms tick after: 60 ms lasted 100 */
static void
test_wait_action_duration (void)
{
  g_autoptr(EmDeviceSet) devices = em_device_set_new (NULL, NULL, NULL);
  g_autoptr(EmAction) action = em_wait_action_new ();
  gdouble waited;
  Run run;

  run_init (&run);
  run_action (action, devices, "{\"duration\": 60}", NULL, &run);
  g_assert_no_error (run.error);
  waited = json_object_get_double_member (run.result, "waited");
  g_test_message ("waited %g ms", waited);
  g_assert_cmpfloat (waited, >=, 60.0);
  g_assert_cmpfloat (waited, <, 90.0);
  /* and the progress it reported rose on the way */
  for (guint i = 1; i < run.progress->len; i++)
    g_assert_cmpfloat (g_array_index (run.progress, gdouble, i), >=, g_array_index (run.progress, gdouble, i - 1));
  run_clear (&run);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/devices/stage/defaults", test_stage_defaults);
  g_test_add_func ("/devices/stage/move-timing", test_stage_move_timing);
  g_test_add_func ("/devices/stage/default-speed", test_stage_default_speed);
  g_test_add_func ("/devices/stage/progress", test_stage_progress);
  g_test_add_func ("/devices/stage/limits", test_stage_limits);
  g_test_add_func ("/devices/stage/stop-mid-move", test_stage_stop_mid_move);
  g_test_add_func ("/devices/stage/very-slow-move", test_stage_very_slow_move);
  g_test_add_func ("/devices/stage/cancelled-before-start", test_stage_cancelled_before_start);
  g_test_add_func ("/devices/stage/busy", test_stage_busy);
  g_test_add_func ("/devices/focus/move-timing", test_focus_move_timing);
  g_test_add_func ("/devices/focus/limits", test_focus_limits);
  g_test_add_func ("/devices/focus/stop-mid-move", test_focus_stop_mid_move);
  g_test_add_func ("/devices/actions/move-stage", test_move_stage_action);
  g_test_add_func ("/devices/actions/move-stage-cancel", test_move_stage_action_cancel);
  g_test_add_func ("/devices/actions/move-stage-no-stage", test_move_stage_action_no_stage);
  g_test_add_func ("/devices/actions/adjust-focus", test_adjust_focus_action);
  g_test_add_func ("/devices/actions/wait-duration", test_wait_action_duration);

  return g_test_run ();
}
