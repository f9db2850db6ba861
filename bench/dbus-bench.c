#define G_LOG_DOMAIN "dbus-bench"

#include "config.h"

#include <stdlib.h>
#include <gio/gio.h>

/* ScheduleTask round trips against org.freedesktop.DBus.Peer.Ping round trips to
 * the same daemon over the same bus: Ping is answered by GDBus itself, so the
 * ratio is what the adapter and the engine cost on top of the bus */

#define BUS_NAME      "io.github.enginemanager.EngineManager"
#define MANAGER_PATH  "/io/github/enginemanager/EngineManager"
#define MANAGER_IFACE "io.github.enginemanager.EngineManager1"
#define TARGET_RATIO  0.6

typedef enum {
  CALL_SCHEDULE,
  CALL_PING,
} CallKind;

typedef struct {
  GDBusConnection *connection;
  CallKind kind;
  guint total;
  guint sent;
  guint done;
  guint errors;
  GMainLoop *loop;
} Run;

static void
start_call (Run                 *run,
            GAsyncReadyCallback  callback)
{
  if (run->kind == CALL_SCHEDULE)
    g_dbus_connection_call (run->connection, BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                            "ScheduleTask",
                            g_variant_new_parsed ("('bench', 'wait', {'duration': <int64 0>}, @a{sv} {})"),
                            G_VARIANT_TYPE ("(so)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                            NULL, callback, run);
  else
    g_dbus_connection_call (run->connection, BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Peer",
                            "Ping", NULL, G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                            -1, NULL, callback, run);
  run->sent++;
}

static void
reply_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  if (reply == NULL)
    {
      if (run->errors++ == 0)
        g_printerr ("dbus-bench: %s\n", error->message);
    }

  run->done++;
  if (run->sent < run->total)
    start_call (run, reply_cb);
  else if (run->done == run->total)
    g_main_loop_quit (run->loop);
}

static GVariant *
call_sync (GDBusConnection  *connection,
           CallKind          kind,
           GError          **error)
{
  if (kind == CALL_SCHEDULE)
    return g_dbus_connection_call_sync (connection, BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                        "ScheduleTask",
                                        g_variant_new_parsed ("('bench', 'wait', {'duration': <int64 0>}, @a{sv} {})"),
                                        G_VARIANT_TYPE ("(so)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                        -1, NULL, error);
  return g_dbus_connection_call_sync (connection, BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Peer",
                                      "Ping", NULL, G_VARIANT_TYPE_UNIT,
                                      G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, error);
}

/* calls per second, each call blocking until its reply */
static gdouble
measure_blocking (GDBusConnection *connection,
                  CallKind         kind,
                  guint            total)
{
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < total; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = call_sync (connection, kind, &error);

      if (reply == NULL)
        {
          g_printerr ("dbus-bench: %s\n", error->message);
          exit (EXIT_FAILURE);
        }
    }

  return total / ((g_get_monotonic_time () - start) / (gdouble) G_USEC_PER_SEC);
}

/* calls per second with @in_flight async calls outstanding */
static gdouble
measure (GDBusConnection *connection,
         CallKind         kind,
         guint            total,
         guint            in_flight)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Run run = { connection, kind, total, 0, 0, 0, loop };
  gint64 start = g_get_monotonic_time ();
  gdouble seconds;

  for (guint i = 0; i < MIN (in_flight, total); i++)
    start_call (&run, reply_cb);
  g_main_loop_run (loop);
  seconds = (g_get_monotonic_time () - start) / (gdouble) G_USEC_PER_SEC;

  if (run.errors > 0)
    {
      g_printerr ("dbus-bench: %u of %u calls failed\n", run.errors, total);
      exit (EXIT_FAILURE);
    }
  return total / seconds;
}

static gdouble
median3 (gdouble a, gdouble b, gdouble c)
{
  return MAX (MIN (a, b), MIN (MAX (a, b), c));
}

/* @in_flight 0 means blocking calls; alternating rounds, so drift in the machine's load hits both sides alike */
static void
compare (GDBusConnection *connection,
         guint            calls,
         guint            in_flight,
         const char      *label)
{
  gdouble schedule[3], ping[3];
  gdouble schedule_rate, ping_rate, ratio;

  for (guint round = 0; round < 3; round++)
    {
      if (in_flight == 0)
        {
          ping[round] = measure_blocking (connection, CALL_PING, calls);
          schedule[round] = measure_blocking (connection, CALL_SCHEDULE, calls);
        }
      else
        {
          ping[round] = measure (connection, CALL_PING, calls, in_flight);
          schedule[round] = measure (connection, CALL_SCHEDULE, calls, in_flight);
        }
    }
  schedule_rate = median3 (schedule[0], schedule[1], schedule[2]);
  ping_rate = median3 (ping[0], ping[1], ping[2]);
  ratio = schedule_rate / ping_rate;

  g_print ("%-12s ScheduleTask %9.0f calls/s   Peer.Ping %9.0f calls/s   ratio %.2f %s\n",
           label, schedule_rate, ping_rate, ratio,
           ratio >= TARGET_RATIO ? "(target >= 0.6 met)" : "(BELOW the 0.6 target)");
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GOptionContext) context = NULL;
  int calls = 2000;
  int in_flight = 64;
  g_autofree char *only = NULL;
  const GOptionEntry entries[] = {
    { "calls", 'n', 0, G_OPTION_ARG_INT, &calls, "Calls per measurement (default 2000)", "N" },
    { "in-flight", 'j', 0, G_OPTION_ARG_INT, &in_flight, "Calls outstanding in the pipelined runs (default 64)", "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only, "Only pipelined calls of one kind, for profiling: schedule or ping", "KIND" },
    { NULL }
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
    "Measures ScheduleTask and Peer.Ping round trips to a running engine-manager\n"
    "on the session bus; bench/dbus-bench.sh provides a private bus and daemon.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || calls < 1 || in_flight < 1)
    {
      g_printerr ("dbus-bench: %s\n", error != NULL ? error->message : "N must be at least 1");
      return EXIT_FAILURE;
    }

  connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (connection == NULL)
    {
      g_printerr ("dbus-bench: %s\n", error->message);
      return EXIT_FAILURE;
    }

  if (only != NULL)
    {
      CallKind kind = g_str_equal (only, "ping") ? CALL_PING : CALL_SCHEDULE;

      g_print ("%s %.0f calls/s\n", only, measure (connection, kind, calls, in_flight));
      return EXIT_SUCCESS;
    }

  /* warm up both paths */
  measure (connection, CALL_PING, 200, 8);
  measure (connection, CALL_SCHEDULE, 200, 8);

  g_print ("%d calls per measurement, median of 3 alternating rounds\n", calls);
  compare (connection, calls, 0, "blocking");
  {
    g_autofree char *label = g_strdup_printf ("%d in flight", in_flight);

    compare (connection, calls, in_flight, label);
  }

  return EXIT_SUCCESS;
}
