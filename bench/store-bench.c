/*
 * Sustained task throughput with the store on and off, in one run: N `wait`
 * tasks of duration 0, at most WINDOW outstanding, each completion submitting
 * the next. With the store, the run ends only once everything is in the
 * database, not just in the journal: a writer falling behind counts.
 * ROUNDS rounds alternate the two modes (their order swapped every round, so
 * drift in the machine's load hits both alike); the medians are compared.
 *
 *   store-bench [N] [WINDOW] [ROUNDS]
 *
 * With EM_STORE_BENCH_ONLY=on or off, every round runs that mode alone, for a
 * profiler to see one mode (no ratio is printed then).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"

typedef struct {
  EmEngineManager *manager;
  guint            n_tasks;
  guint            submitted;
  guint            completed;
  gboolean         synced;
} Run;

static EmTaskSpec *zero_wait;

/* CPU time of the calling thread (the main loop), in µs */
static gint64
loop_cpu_us (void)
{
  struct rusage usage;

  getrusage (RUSAGE_THREAD, &usage);
  return (gint64) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC +
         usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

/* CPU time so far of this process's threads named @name (the store's writer and
 * journal threads), in µs: they start with the store, so this is all theirs */
static gint64
threads_cpu_us (const char *name)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;
  gint64 total = 0;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *comm_path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
      g_autofree char *stat_path = g_build_filename ("/proc/self/task", tid, "stat", NULL);
      g_autofree char *comm = NULL, *stat = NULL;
      g_auto(GStrv) fields = NULL;
      const char *after_name;

      if (!g_file_get_contents (comm_path, &comm, NULL, NULL) ||
          !g_str_equal (g_strstrip (comm), name) ||
          !g_file_get_contents (stat_path, &stat, NULL, NULL) ||
          (after_name = strrchr (stat, ')')) == NULL)
        continue;
      /* after the name: state is field 3, utime 14 and stime 15 */
      fields = g_strsplit (after_name + 2, " ", 14);
      if (g_strv_length (fields) >= 14)
        total += (g_ascii_strtoll (fields[11], NULL, 10) + g_ascii_strtoll (fields[12], NULL, 10)) *
                 G_USEC_PER_SEC / sysconf (_SC_CLK_TCK);
    }
  return total;
}

static void
submit_one (Run *run)
{
  g_autoptr(GError) error = NULL;

  if (em_engine_manager_schedule_task (run->manager, zero_wait, &error) == NULL)
    g_error ("schedule: %s", error->message);
  run->submitted++;
}

static void
completed_cb (EmEngineManager *manager, EmTask *task, Run *run)
{
  run->completed++;
  if (run->submitted < run->n_tasks)
    submit_one (run);
}

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  if (!em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error))
    g_error ("sync: %s", error->message);
  run->synced = TRUE;
}

static void
committed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = em_engine_manager_lookup_task_finish (EM_ENGINE_MANAGER (source),
                                                                   result, &error);

  if (!g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND))
    g_error ("lookup: %s", error != NULL ? error->message : "found a task that was never made");
  run->synced = TRUE;
}

static void
remove_files (const char *dir, ...)
{
  va_list names;
  const char *name;

  va_start (names, dir);
  while ((name = va_arg (names, const char *)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_remove (path);
    }
  va_end (names);
}

static double
run_once (gboolean with_store, guint n_tasks, guint window, double *out_loop_us,
          double *out_store_us)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new ("videotestsrc is-live=true", 64, 48);
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("em-store-bench-XXXXXX", &error);
  Run run = { 0, };
  gint64 start, elapsed, cpu;

  g_assert_no_error (error);
  em_builtin_actions_register (registry);
  run.manager = em_engine_manager_new (registry, devices, dir);
  run.n_tasks = n_tasks;
  em_engine_manager_set_max_concurrent (run.manager, 0);
  if (with_store && !em_engine_manager_open_store (run.manager, &error))
    g_error ("%s", error->message);
  g_signal_connect (run.manager, "task-completed", G_CALLBACK (completed_cb), &run);

  start = g_get_monotonic_time ();
  cpu = loop_cpu_us ();
  while (run.submitted < MIN (window, n_tasks))
    submit_one (&run);
  while (run.completed < n_tasks)
    g_main_context_iteration (NULL, TRUE);
  em_engine_manager_sync_async (run.manager, NULL, synced_cb, &run);
  while (!run.synced)
    g_main_context_iteration (NULL, TRUE);
  if (with_store)
    {
      /* a lookup is answered after everything queued before it is in the
       * database: the run counts until the writer has caught up */
      run.synced = FALSE;
      em_engine_manager_lookup_task_async (run.manager, "00000000-0000-4000-8000-000000000000",
                                           NULL, committed_cb, &run);
      while (!run.synced)
        g_main_context_iteration (NULL, TRUE);
    }
  elapsed = g_get_monotonic_time () - start;
  if (out_loop_us != NULL)
    *out_loop_us = (loop_cpu_us () - cpu) / (double) n_tasks;
  if (out_store_us != NULL)
    *out_store_us = (threads_cpu_us ("em-store") + threads_cpu_us ("em-journal")) / (double) n_tasks;

  g_object_unref (run.manager);
  remove_files (dir, "tasks.db", "tasks.journal", NULL);
  if (g_rmdir (dir) != 0)
    g_warning ("%s is left behind: %s", dir, g_strerror (errno));
  return n_tasks / (elapsed / (double) G_USEC_PER_SEC);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (double *values, guint n)
{
  qsort (values, n, sizeof *values, compare_doubles);
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

int
main (int argc, char **argv)
{
  /* sustained: far past the tasks kept in memory, with history growing as it
   * does in use, and long enough that the writer's lag of a commit or two at
   * the end is a small part of a round while a writer that cannot keep up
   * piles up a backlog (20 000 tasks took 0.25 s, 30 ms of it that lag, and
   * never showed the writer slowing down as the database grew) */
  guint n_tasks = argc > 1 ? (guint) atoi (argv[1]) : 200000;
  guint window = argc > 2 ? (guint) atoi (argv[2]) : 256;
  guint rounds = argc > 3 ? (guint) CLAMP (atoi (argv[3]), 1, 99) : 3;
  g_autoptr(JsonObject) params = json_object_new ();
  g_autofree double *off = g_new0 (double, rounds);
  g_autofree double *on = g_new0 (double, rounds);
  g_autofree double *off_cpu = g_new0 (double, rounds);
  g_autofree double *on_cpu = g_new0 (double, rounds);
  g_autofree double *store_cpu = g_new0 (double, rounds);
  const char *only = g_getenv ("EM_STORE_BENCH_ONLY");
  double off_median, on_median;

  gst_init (&argc, &argv);
  json_object_set_double_member (params, "duration", 0);
  zero_wait = em_task_spec_new ("bench", "wait", params);

  if (only != NULL)
    {
      gboolean with_store = g_str_equal (only, "on");

      if (!with_store && !g_str_equal (only, "off"))
        g_error ("EM_STORE_BENCH_ONLY must be on or off, not “%s”", only);
      for (guint r = 0; r < rounds; r++)
        {
          double rate = run_once (with_store, n_tasks, window, &on_cpu[r], &store_cpu[r]);

          printf ("round %u: store %s %.0f tasks/s (%.2f µs main-loop CPU per task", r + 1, only,
                  rate, on_cpu[r]);
          if (with_store)
            printf (", %.2f µs in the store's threads", store_cpu[r]);
          printf (")\n");
        }
      em_task_spec_free (zero_wait);
      return 0;
    }
  printf ("tasks: %u, window: %u, rounds: %u\n", n_tasks, window, rounds);
  run_once (FALSE, MIN (n_tasks, 2000), window, NULL, NULL);   /* warm-up */
  for (guint r = 0; r < rounds; r++)
    {
      if (r % 2 == 0)
        {
          off[r] = run_once (FALSE, n_tasks, window, &off_cpu[r], NULL);
          on[r] = run_once (TRUE, n_tasks, window, &on_cpu[r], &store_cpu[r]);
        }
      else
        {
          on[r] = run_once (TRUE, n_tasks, window, &on_cpu[r], &store_cpu[r]);
          off[r] = run_once (FALSE, n_tasks, window, &off_cpu[r], NULL);
        }
      printf ("round %u: store off %.0f tasks/s (%.1f µs main-loop CPU per task), "
              "store on %.0f tasks/s (%.1f µs, and %.1f µs in the store's threads)\n",
              r + 1, off[r], off_cpu[r], on[r], on_cpu[r], store_cpu[r]);
    }

  off_median = median (off, rounds);
  on_median = median (on, rounds);
  printf ("store off: %.0f tasks/s (median; main loop: %.1f µs of CPU per task)\n",
          off_median, median (off_cpu, rounds));
  printf ("store on:  %.0f tasks/s (median; main loop: %.1f µs of CPU per task, "
          "the store's writer and journal threads: %.1f µs)\n",
          on_median, median (on_cpu, rounds), median (store_cpu, rounds));
  printf ("ratio on/off: %.2f (store cost %.0f%%)\n",
          on_median / off_median, 100.0 * (1.0 - on_median / off_median));
  em_task_spec_free (zero_wait);
  return 0;
}
