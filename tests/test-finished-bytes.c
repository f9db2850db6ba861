#include "config.h"

#include <malloc.h>
#include <string.h>
#include <gst/gst.h>
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"
#include "engine/em-json-size.h"
#include "em-test-stubborn-action.h"
#include "em-test-util.h"

/*
 * Finished tasks in memory are bounded by the size of what they hold, not
 * only by their number: a thousand large results (tile scans) kept gigabytes
 * resident. With a store, the ones past the bound are read from it.
 */

/* past the 64 MiB default with the default keep-finished of 1000: a result
 * takes at least its own bytes in memory (more than 64 cannot fit), and
 * less than four times as many, as a tree and as text (at least 16 do) */
#define RESULT_BYTES (1024 * 1024)
#define N_TASKS 80
#define DEFAULT_BYTES (64 * 1024 * 1024)
#define MAX_KEPT (DEFAULT_BYTES / RESULT_BYTES)
#define MIN_KEPT (DEFAULT_BYTES / RESULT_BYTES / 4)

#ifdef HAVE_VALGRIND_H
#define WAIT_MS (RUNNING_ON_VALGRIND ? 120000 : 20000)
#else
#define WAIT_MS 20000
#endif

typedef struct {
  char            *data_dir;
  EmEngineManager *manager;
} Fixture;

static EmEngineManager *
new_manager (Fixture *fx)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new ("videotestsrc is-live=true", 160, 120);
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);
  g_autoptr(EmAction) stubborn = em_test_stubborn_action_new ();

  em_action_registry_add (registry, stubborn);
  return em_engine_manager_new (registry, devices, fx->data_dir);
}

static void
open_manager (Fixture *fx)
{
  g_autoptr(GError) error = NULL;

  fx->manager = new_manager (fx);
  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
}

static void
close_manager (Fixture *fx)
{
  em_engine_manager_shutdown (fx->manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), WAIT_MS);
  g_assert_finalize_object (g_steal_pointer (&fx->manager));
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->data_dir = em_test_mkdtemp ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->manager != NULL)
    close_manager (fx);
  em_test_rmdir (fx->data_dir);
  g_free (fx->data_dir);
}

/* a task whose result holds @bytes of padding, after @duration_ms */
static char *
schedule_large_after (EmEngineManager *manager, guint bytes, guint duration_ms)
{
  g_autofree char *params_json = g_strdup_printf ("{\"result_bytes\": %u, \"duration\": %u}",
                                                  bytes, duration_ms);
  g_autoptr(JsonNode) params = json_from_string (params_json, NULL);
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("large", "stubborn", json_node_get_object (params));
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_schedule_task (manager, spec, &error);

  g_assert_no_error (error);
  return g_strdup (em_task_get_id (task));
}

static char *
schedule_large (EmEngineManager *manager, guint bytes)
{
  return schedule_large_after (manager, bytes, 0);
}

static guint
n_active (EmEngineManager *manager)
{
  EmTaskStatus pending = EM_TASK_STATUS_PENDING, running = EM_TASK_STATUS_RUNNING;

  return em_engine_manager_count_tasks (manager, &pending) +
         em_engine_manager_count_tasks (manager, &running);
}

static GPtrArray *
run_large_tasks (Fixture *fx, guint n, guint bytes)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (ids, schedule_large (fx->manager, bytes));
  EM_TEST_WAIT_UNTIL (n_active (fx->manager) == 0, WAIT_MS);
  return ids;
}

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

/* every row handed to the store, and memory freed of what it then may let go */
static void
settle (EmEngineManager *manager)
{
  gboolean synced = FALSE;

  em_engine_manager_sync_async (manager, NULL, synced_cb, &synced);
  EM_TEST_WAIT_UNTIL (synced, WAIT_MS);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static guint
n_completed_in_memory (EmEngineManager *manager)
{
  EmTaskStatus completed = EM_TASK_STATUS_COMPLETED;

  return em_engine_manager_count_tasks (manager, &completed);
}

static void
got_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* what a client reading the task sees, from memory or the store */
static void
assert_readable (EmEngineManager *manager, const char *id, guint bytes)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *object;

  em_engine_manager_lookup_task_async (manager, id, NULL, got_result, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, WAIT_MS);
  node = em_engine_manager_lookup_task_finish (manager, result, &error);
  g_assert_no_error (error);
  object = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (object, "status"), ==, "completed");
  g_assert_cmpuint (strlen (json_object_get_string_member (json_object_get_object_member (object, "result"),
                                                           "padding")), ==, bytes);
}

static void
test_default (void)
{
  g_autoptr(EmEngineManager) manager = NULL;
  g_autofree char *data_dir = em_test_mkdtemp ();
  guint64 bytes = 0;
  Fixture fx = { data_dir, NULL };

  manager = new_manager (&fx);
  g_object_get (manager, "keep-finished-bytes", &bytes, NULL);
  g_assert_cmpuint (bytes, ==, DEFAULT_BYTES);
  g_clear_object (&manager);
  em_test_rmdir (data_dir);
}

/* while running: with the defaults, large results leave memory long before
 * keep-finished's count is reached, and stay readable from the store */
static void
test_running (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = NULL;
  guint kept;

  open_manager (fx);
  ids = run_large_tasks (fx, N_TASKS, RESULT_BYTES);
  EM_TEST_WAIT_UNTIL (n_completed_in_memory (fx->manager) <= MAX_KEPT, WAIT_MS);
  settle (fx->manager);
  /* a bounded cache, not an empty one: the newest stay */
  kept = n_completed_in_memory (fx->manager);
  g_test_message ("%u of %u finished tasks kept in memory", kept, N_TASKS);
  g_assert_cmpuint (kept, >=, MIN_KEPT);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, g_ptr_array_index (ids, ids->len - 1)));
  g_assert_null (em_engine_manager_get_task (fx->manager, g_ptr_array_index (ids, 0)));
  assert_readable (fx->manager, g_ptr_array_index (ids, 0), RESULT_BYTES);
  assert_readable (fx->manager, g_ptr_array_index (ids, ids->len - 1), RESULT_BYTES);
}

/* at startup: the store loads no more of the newest finished tasks than
 * the bound holds */
static void
test_load (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = NULL;
  guint kept;

  open_manager (fx);
  ids = run_large_tasks (fx, N_TASKS, RESULT_BYTES);
  close_manager (fx);

  open_manager (fx);
  kept = n_completed_in_memory (fx->manager);
  g_test_message ("%u of %u finished tasks kept in memory", kept, N_TASKS);
  g_assert_cmpuint (kept, <=, MAX_KEPT);
  g_assert_cmpuint (kept, >=, MIN_KEPT);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, g_ptr_array_index (ids, ids->len - 1)));
  assert_readable (fx->manager, g_ptr_array_index (ids, 0), RESULT_BYTES);
}

/* a lowered bound takes effect at once; pending and running tasks do not
 * count against it and never leave */
static void
test_lowered (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = NULL;
  g_autofree char *pending = NULL;
  EmTaskStatus status = EM_TASK_STATUS_PENDING;

  open_manager (fx);
  ids = run_large_tasks (fx, 8, 64 * 1024);
  g_assert_cmpuint (n_completed_in_memory (fx->manager), ==, 8);
  em_engine_manager_pause (fx->manager);
  pending = schedule_large (fx->manager, 64 * 1024);

  /* room for two to seven of them, by the bounds above */
  g_object_set (fx->manager, "keep-finished-bytes", (guint64) 8 * 64 * 1024, NULL);
  EM_TEST_WAIT_UNTIL (n_completed_in_memory (fx->manager) <= 7, WAIT_MS);
  g_assert_cmpuint (n_completed_in_memory (fx->manager), >=, 2);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, g_ptr_array_index (ids, 7)));

  /* a single task larger than the bound is not kept at all */
  g_object_set (fx->manager, "keep-finished-bytes", (guint64) 1024, NULL);
  EM_TEST_WAIT_UNTIL (n_completed_in_memory (fx->manager) == 0, WAIT_MS);
  g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &status), ==, 1);
  g_assert_nonnull (em_engine_manager_get_task (fx->manager, pending));
  assert_readable (fx->manager, g_ptr_array_index (ids, 7), 64 * 1024);
}

static gsize
heap_in_use (void)
{
  struct mallinfo2 info = mallinfo2 ();

  return info.uordblks + info.hblkhd;
}

/* the size a task counts is what its tree takes: a tile scan's result of a
 * thousand tiles, parsed as the store's load does */
static void
test_estimate (void)
{
  g_autoptr(GString) text = g_string_new ("{\"directory\":\"/data/images/scan\",\"tiles\":[");
  g_autoptr(JsonNode) node = NULL;
  gsize before, real, estimate;

#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("AddressSanitizer's allocator does not report the heap in use");
  return;
#endif
#ifdef HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND)
    {
      g_test_skip ("valgrind's allocator does not report the heap in use");
      return;
    }
#endif
  for (guint i = 0; i < 1000; i++)
    g_string_append_printf (text, "%s{\"index\":%u,\"row\":%u,\"column\":%u,\"x\":%g,"
                            "\"y\":%g,\"refocused\":false,\"autofocus_score\":%g}",
                            i > 0 ? "," : "", i, i / 40, i % 40, i * 12.5, i * 7.25, i * 0.001);
  g_string_append (text, "]}");
  before = heap_in_use ();
  node = json_from_string (text->str, NULL);
  real = heap_in_use ();
  real = real > before ? real - before : 0;
  if (real == 0)
    {
      g_test_skip ("the allocator does not report the heap in use");
      return;
    }
  estimate = em_json_node_size (node);
  g_test_message ("%" G_GSIZE_FORMAT " bytes of JSON: %" G_GSIZE_FORMAT " on the heap, "
                  "%" G_GSIZE_FORMAT " estimated", text->len, real, estimate);
  g_assert_cmpuint (estimate, >=, real * 3 / 4);
  g_assert_cmpuint (estimate, <=, real * 5 / 4);
}

/* what the engine keeps of a result is its size, not the buffer it was
 * written into: a result of 1 MiB and its task_completed frame, each written
 * into a GString, sat in 2 MiB apiece, and the event ring's 64 MiB of frames
 * took twice that */
static void
test_kept_fits (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  Fixture fx = { data_dir, NULL };
  gsize before, kept;

#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("AddressSanitizer's allocator does not report the heap in use");
  return;
#endif
#ifdef HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND)
    {
      g_test_skip ("valgrind's allocator does not report the heap in use");
      return;
    }
#endif
  /* no store: nothing else holds on to the results (SQLite's cache, the
   * journal's buffers) */
  fx.manager = new_manager (&fx);
  g_object_set (fx.manager, "keep-finished-bytes", (guint64) 1024 * 1024 * 1024, NULL);
  g_ptr_array_unref (run_large_tasks (&fx, 1, RESULT_BYTES));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  before = heap_in_use ();
  if (before == 0)
    {
      g_test_skip ("the allocator does not report the heap in use");
      close_manager (&fx);
      em_test_rmdir (data_dir);
      return;
    }
  /* in memory as tasks and as frames in the ring, which has room for them */
  g_ptr_array_unref (run_large_tasks (&fx, 24, RESULT_BYTES));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (n_completed_in_memory (fx.manager), ==, 25);
  kept = heap_in_use ();
  kept = kept > before ? kept - before : 0;
  g_test_message ("24 results of 1 MiB kept: %" G_GSIZE_FORMAT " KiB on the heap", kept >> 10);
  /* each as a tree, as text and as a frame, a little over 1 MiB apiece:
   * 3.1 MiB a task, where 5.1 were taken */
  g_assert_cmpuint (kept, <, 24 * RESULT_BYTES * 4);
  close_manager (&fx);
  em_test_rmdir (data_dir);
}

#define LARGE_RESULT_BYTES (24 * 1024 * 1024)

/* once a task with a very large result is written and gone from memory, no
 * more than its frame in the event ring stays: the buffer its row was
 * rendered into kept 32 MiB for good */
static void
test_large_row_freed (Fixture *fx, gconstpointer data)
{
  g_autofree char *id = NULL;
  gsize before, after;

#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("AddressSanitizer's allocator does not report the heap in use");
  return;
#endif
#ifdef HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND)
    {
      g_test_skip ("valgrind's allocator does not report the heap in use");
      return;
    }
#endif
  open_manager (fx);
  g_object_set (fx->manager, "keep-finished-bytes", (guint64) 0, NULL);
  g_ptr_array_unref (run_large_tasks (fx, 1, 1024));
  settle (fx->manager);
  before = heap_in_use ();
  if (before == 0)
    {
      g_test_skip ("the allocator does not report the heap in use");
      return;
    }
  id = schedule_large (fx->manager, LARGE_RESULT_BYTES);
  EM_TEST_WAIT_UNTIL (n_active (fx->manager) == 0, WAIT_MS);
  EM_TEST_WAIT_UNTIL (n_completed_in_memory (fx->manager) == 0, WAIT_MS);
  settle (fx->manager);
  assert_readable (fx->manager, id, LARGE_RESULT_BYTES);
  /* the writer has committed it once a query sees it */
  g_usleep (200 * 1000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  after = heap_in_use ();
  after = after > before ? after - before : 0;
  g_test_message ("a result of 24 MiB written: %" G_GSIZE_FORMAT " KiB more on the heap",
                  after >> 10);
  /* its frame, and SQLite's cache of 32 MiB filled with its pages: about
   * 58 MiB, where 90 were taken */
  g_assert_cmpuint (after, <, (gsize) LARGE_RESULT_BYTES + 32 * 1024 * 1024 + 16 * 1024 * 1024);
}

/* a client that waits for each acknowledgement leaves the loop no idle
 * time: past twice the bound, eviction may not wait for one */
static void
test_under_acknowledgements (Fixture *fx, gconstpointer data)
{
  EmTaskStatus completed = EM_TASK_STATUS_COMPLETED;

  open_manager (fx);
  /* room for two to seven of them, as in /finished-bytes/lowered */
  g_object_set (fx->manager, "keep-finished-bytes", (guint64) 8 * 64 * 1024, NULL);
  for (guint i = 0; i < 200; i++)
    {
      gboolean synced = FALSE;

      g_free (schedule_large (fx->manager, 64 * 1024));
      EM_TEST_WAIT_UNTIL (n_active (fx->manager) == 0, WAIT_MS);
      em_engine_manager_sync_async (fx->manager, NULL, synced_cb, &synced);
      EM_TEST_WAIT_UNTIL (synced, WAIT_MS);
      /* twice the bound, and a task or two still on its way */
      g_assert_cmpuint (em_engine_manager_count_tasks (fx->manager, &completed), <=, 2 * 7 + 2);
    }
}

#if defined(__SANITIZE_ADDRESS__)
/* freed memory waits in the quarantine, and resident memory counts it */
#define RSS_COUNTS_FREED_MEMORY TRUE
#else
#define RSS_COUNTS_FREED_MEMORY FALSE
#endif

/* a field of /proc/self/status, in bytes; 0 where the kernel has none */
static guint64
status_bytes (const char *field)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL) ||
      (line = strstr (status, field)) == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen (field), NULL, 10) * 1024;
}

/* the peak from now on starts at what is resident now; FALSE if it cannot */
static gboolean
reset_peak_rss (void)
{
  FILE *clear = fopen ("/proc/self/clear_refs", "w");
  gboolean reset;

  if (clear == NULL)
    return FALSE;
  reset = fputs ("5", clear) >= 0;
  return fclose (clear) == 0 && reset;
}

#define BURST_TASKS 300

/* large results coming faster than the store writes them, none kept in
 * memory: what waits for the store is bounded, and freed once written.
 * Their rows and events waited in the store's queues, several copies each,
 * until all were in the database: 650 to 770 MiB at the peak, and as much
 * resident afterwards */
static void
test_burst (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = NULL;
  guint64 before, peak, settled;

#ifdef HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND)
    {
      g_test_skip ("too slow under valgrind");
      return;
    }
#endif
  if (RSS_COUNTS_FREED_MEMORY)
    {
      g_test_skip ("resident memory counts freed memory under AddressSanitizer");
      return;
    }
  open_manager (fx);
  g_object_set (fx->manager, "keep-finished-bytes", (guint64) 0, NULL);
  /* one first, so that what every run needs is there before measuring */
  g_ptr_array_unref (run_large_tasks (fx, 1, RESULT_BYTES));
  settle (fx->manager);
  before = status_bytes ("VmRSS:");
  if (before == 0 || !reset_peak_rss ())
    {
      g_test_skip ("the kernel does not report or reset the peak resident size");
      return;
    }
  /* one after the other, none waiting for the store */
  ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < BURST_TASKS; i++)
    {
      g_ptr_array_add (ids, schedule_large (fx->manager, RESULT_BYTES));
      EM_TEST_WAIT_UNTIL (n_active (fx->manager) == 0, WAIT_MS);
    }
  settle (fx->manager);
  assert_readable (fx->manager, g_ptr_array_index (ids, ids->len - 1), RESULT_BYTES);
  /* the writer has committed them all once a query sees the last */
  g_usleep (200 * 1000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  peak = status_bytes ("VmHWM:");
  settled = status_bytes ("VmRSS:");
  g_test_message ("%u results of 1 MiB: resident %" G_GUINT64_FORMAT " MiB before, "
                  "%" G_GUINT64_FORMAT " MiB at the peak, %" G_GUINT64_FORMAT " MiB after",
                  BURST_TASKS, before >> 20, peak >> 20, settled >> 20);
  /* the event ring's 64 MiB, SQLite's cache, the store's backlog and a few
   * results being made: about 220 MiB, with room to spare, where 600 to
   * 750 were reached */
  g_assert_cmpuint (peak - MIN (before, peak), <, 400 * 1024 * 1024);
  g_assert_cmpuint (settled - MIN (before, settled), <, 320 * 1024 * 1024);
}

/* a large eviction gives its memory back to the system, not only to malloc's
 * free lists: lowering the bound below 150 results of 1 MiB left them all
 * resident */
static void
test_evicted_returned (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = NULL;
  guint64 kept, after = 0;
  gint64 deadline;

#ifdef HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND)
    {
      g_test_skip ("valgrind's allocator keeps what is freed");
      return;
    }
#endif
#ifndef __GLIBC__
  g_test_skip ("only glibc's malloc can give freed pages back");
  return;
#endif
  if (RSS_COUNTS_FREED_MEMORY)
    {
      g_test_skip ("resident memory counts freed memory under AddressSanitizer");
      return;
    }
  open_manager (fx);
  g_object_set (fx->manager, "keep-finished-bytes", (guint64) 1024 * 1024 * 1024, NULL);
  for (guint i = 0; i < 150; i++)
    {
      g_free (schedule_large (fx->manager, RESULT_BYTES));
      EM_TEST_WAIT_UNTIL (n_active (fx->manager) == 0, WAIT_MS);
    }
  settle (fx->manager);
  g_usleep (500 * 1000);
  kept = status_bytes ("VmRSS:");
  g_assert_cmpuint (n_completed_in_memory (fx->manager), ==, 150);
  g_object_set (fx->manager, "keep-finished-bytes", (guint64) 0, NULL);
  EM_TEST_WAIT_UNTIL (n_completed_in_memory (fx->manager) == 0, WAIT_MS);
  /* from a thread of its own, soon after */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (NULL, FALSE);
      after = status_bytes ("VmRSS:");
      if (after < kept / 2)
        break;
      g_usleep (10 * 1000);
    }
  g_test_message ("resident with 150 results of 1 MiB: %" G_GUINT64_FORMAT " MiB, after their "
                  "eviction: %" G_GUINT64_FORMAT " MiB", kept >> 20, after >> 20);
  /* they took about three quarters of it (a result is held as a tree, as
   * text and in its event): most is given back, where 2 to 15 % were */
  g_assert_cmpuint (after, <, kept / 2);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/finished-bytes/default", test_default);
  g_test_add_func ("/finished-bytes/estimate", test_estimate);
  g_test_add_func ("/finished-bytes/kept-fits", test_kept_fits);
  g_test_add ("/finished-bytes/running", Fixture, NULL, fixture_setup, test_running, fixture_teardown);
  g_test_add ("/finished-bytes/load", Fixture, NULL, fixture_setup, test_load, fixture_teardown);
  g_test_add ("/finished-bytes/under-acknowledgements", Fixture, NULL, fixture_setup,
              test_under_acknowledgements, fixture_teardown);
  g_test_add ("/finished-bytes/large-row-freed", Fixture, NULL, fixture_setup, test_large_row_freed,
              fixture_teardown);
  g_test_add ("/finished-bytes/burst", Fixture, NULL, fixture_setup, test_burst, fixture_teardown);
  g_test_add ("/finished-bytes/evicted-returned", Fixture, NULL, fixture_setup, test_evicted_returned,
              fixture_teardown);
  g_test_add ("/finished-bytes/lowered", Fixture, NULL, fixture_setup, test_lowered, fixture_teardown);

  return g_test_run ();
}
