#include "config.h"

#include <signal.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "dbus/em-dbus-managed-objects.h"
#include "dbus/em-dbus-manager-adapter.h"
#include "dbus/em-dbus-service.h"
#include "dbus/em-dbus-util.h"
#include "engine/em-task-query.h"
#include "engine/em-engine-manager.h"
#include "engine/em-engine-manager-private.h"
#include "engine/em-store-private.h"
#include "engine/em-task-private.h"
#include "engine/em-task-spec.h"
#include "em-test-stubborn-action.h"
#include "em-test-util.h"
#include "em-dbus-generated.h"

/* the D-Bus adapter in this process, on a private bus, so that a test can hook
 * into the engine while an event goes out; a second connection listens */

#define MANAGER_IFACE "io.github.enginemanager.EngineManager1"
#define TIMEOUT_MS    10000
/* a call answered after thousands of task objects' signals, which under
 * valgrind take longer than TIMEOUT_MS */
#define CALL_TIMEOUT_MS (10 * TIMEOUT_MS)
/* tasks enough that reading them all shows in the memory the process takes */
#define LARGE_HISTORY 10000

typedef struct {
  GSubprocess          *bus;
  char                 *bus_address;
  char                 *data_dir;
  EmEngineManager      *manager;
  EmDbusManagerAdapter *adapter;
  GDBusConnection      *service;
  GDBusConnection      *client;
  GPtrArray            *trace;          /* what the client saw, one word each */
  gdouble               event_progress; /* of the progress event the task was cancelled in */
  gdouble               signal_progress;
  gboolean              cancelled;
  guint                 subscription;
} Fixture;

static GDBusConnection *
connect_bus (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  connection = g_dbus_connection_new_for_address_sync (fx->bus_address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

static void
signal_cb (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *member,
           GVariant        *parameters,
           gpointer         user_data)
{
  Fixture *fx = user_data;

  if (g_str_equal (member, "TaskProgress"))
    {
      g_variant_get (parameters, "(&sd)", NULL, &fx->signal_progress);
      g_ptr_array_add (fx->trace, g_strdup (member));
    }
  else if (g_str_equal (member, "TaskCancelled"))
    g_ptr_array_add (fx->trace, g_strdup (member));
  else if (g_str_equal (member, "PropertiesChanged"))
    {
      g_autoptr(GVariant) changed = g_variant_get_child_value (parameters, 1);
      const char *status = NULL;

      const char *held = NULL;

      if (g_variant_lookup (changed, "Status", "&s", &status))
        g_ptr_array_add (fx->trace, g_strdup_printf ("Status=%s", status));
      if (g_variant_lookup (changed, "Held", "&s", &held))
        g_ptr_array_add (fx->trace, g_strdup_printf ("Held=%s", held));
    }
}

/* a listener that cancels the task while its first progress event goes out
 * past the middle of the move */
static void
cancel_on_progress_cb (EmEngineManager *manager,
                       EmEvent         *event,
                       Fixture         *fx)
{
  g_autoptr(GError) error = NULL;
  EmTask *task = em_event_get_task (event);

  if (fx->cancelled || em_event_get_event_type (event) != EM_EVENT_TASK_PROGRESS ||
      em_event_get_progress (event) < 0.5)
    return;
  fx->cancelled = TRUE;
  fx->event_progress = em_event_get_progress (event);
  em_engine_manager_cancel_task (manager, em_task_get_id (task), &error);
  g_assert_no_error (error);
  /* what the task reports from now on is not what the event said */
  em_task_set_progress (task, 0.0);
}

/* a failed assertion ends the test without its teardown: the bus must not
 * outlive it, holding the test's stderr open, which kept the test runner
 * waiting for its timeout */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* a bus daemon of its own, not GTestDBus: that forks a watcher from this
 * process, threads and all, and under the sanitizers the fork was seen to
 * hang at exit, keeping the test from ending */
static GSubprocess *
start_bus (char **out_address)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) output = NULL;
  GSubprocess *daemon;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  daemon = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", "--session",
                                        "--nofork", "--print-address=1", NULL);
  g_assert_no_error (error);
  output = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon));
  *out_address = g_data_input_stream_read_line (output, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (*out_address);
  return daemon;
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new ("videotestsrc is-live=true", 160, 120);
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);
  g_autoptr(GError) error = NULL;

  em_builtin_actions_register (registry);
  {
    g_autoptr(EmAction) stubborn = em_test_stubborn_action_new ();

    em_action_registry_add (registry, stubborn);
  }
  fx->data_dir = em_test_mkdtemp ();
  fx->manager = em_engine_manager_new (registry, devices, fx->data_dir);
  fx->trace = g_ptr_array_new_with_free_func (g_free);

  fx->bus = start_bus (&fx->bus_address);
  fx->service = connect_bus (fx);
  fx->client = connect_bus (fx);
  fx->subscription =
    g_dbus_connection_signal_subscribe (fx->client, g_dbus_connection_get_unique_name (fx->service),
                                        NULL, NULL, NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        signal_cb, fx, NULL);
  /* before the adapter's handler, as any listener connected earlier */
  g_signal_connect (fx->manager, "event", G_CALLBACK (cancel_on_progress_cb), fx);
  fx->adapter = em_dbus_manager_adapter_new (fx->manager, NULL);
  em_dbus_manager_adapter_export (fx->adapter, fx->service, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  em_dbus_manager_adapter_unexport (fx->adapter);
  g_clear_object (&fx->adapter);
  em_engine_manager_shutdown (fx->manager);
  EM_TEST_WAIT_UNTIL (!em_engine_manager_is_busy (fx->manager), 5000);
  g_clear_object (&fx->manager);
  /* a signal still on its way must not reach the next test's loop with this
   * fixture, freed by then */
  g_dbus_connection_signal_unsubscribe (fx->client, fx->subscription);
  g_dbus_connection_close_sync (fx->client, NULL, NULL);
  g_dbus_connection_close_sync (fx->service, NULL, NULL);
  g_clear_object (&fx->client);
  g_clear_object (&fx->service);
  g_subprocess_send_signal (fx->bus, SIGTERM);
  g_subprocess_wait (fx->bus, NULL, NULL);
  g_clear_object (&fx->bus);
  g_free (fx->bus_address);
  g_ptr_array_unref (fx->trace);
  em_test_rmdir (fx->data_dir);
  g_free (fx->data_dir);
}

static char *
joined (GPtrArray *words)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) strv = NULL;

  for (guint i = 0; i < words->len; i++)
    g_strv_builder_add (builder, words->pdata[i]);
  strv = g_strv_builder_end (builder);
  return g_strjoinv (" ", strv);
}

/* the bus follows the events' order and values: the progress event's
 * TaskProgress comes before the Status of the cancellation that a listener
 * made while it went out, and says what the event said */
static void
test_progress_then_cancel (Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonNode) params = json_from_string ("{\"x\": 2000, \"speed\": 4000}", NULL);
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("move", "move_stage", json_node_get_object (params));
  g_autoptr(GError) error = NULL;
  g_autoptr(EmTask) task = NULL;
  g_autofree char *trace = NULL;

  task = g_object_ref (em_engine_manager_schedule_task (fx->manager, spec, &error));
  g_assert_no_error (error);

  EM_TEST_WAIT_UNTIL (fx->trace->len > 0 &&
                      g_str_equal (g_ptr_array_index (fx->trace, fx->trace->len - 1), "TaskCancelled"),
                      TIMEOUT_MS);
  g_assert_true (fx->cancelled);
  trace = joined (fx->trace);
  g_assert_true (g_str_has_suffix (trace, "TaskProgress Status=cancelled TaskCancelled"));
  g_assert_cmpfloat (fx->signal_progress, ==, fx->event_progress);
}

static void
replied_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* the service answers on this thread's loop: the call must not block it */
static GVariant *
call_service (Fixture            *fx,
              const char         *interface,
              const char         *method,
              GVariant           *parameters,
              const GVariantType *reply_type,
              GError            **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  g_dbus_connection_call (fx->client, g_dbus_connection_get_unique_name (fx->service),
                          EM_DBUS_MANAGER_PATH, interface, method, parameters, reply_type,
                          G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, replied_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, CALL_TIMEOUT_MS + TIMEOUT_MS);
  return g_dbus_connection_call_finish (fx->client, result, error);
}

static GVariant *
list_tasks (Fixture     *fx,
            const char  *filter,
            GError     **error)
{
  return call_service (fx, MANAGER_IFACE, "ListTasks", g_variant_new_parsed (filter),
                       G_VARIANT_TYPE ("(aa{sv})"), error);
}

/* Task1's Status at @path, or NULL with @error set */
static char *
task_status (Fixture     *fx,
             const char  *path,
             GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;

  g_dbus_connection_call (fx->client, g_dbus_connection_get_unique_name (fx->service), path,
                          "org.freedesktop.DBus.Properties", "Get",
                          g_variant_new ("(ss)", "io.github.enginemanager.Task1", "Status"),
                          G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, TIMEOUT_MS, NULL,
                          replied_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, 2 * TIMEOUT_MS);
  reply = g_dbus_connection_call_finish (fx->client, result, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(v)", &value);
  return g_variant_dup_string (value, NULL);
}

/* VmHWM: the peak resident memory, in KiB */
static guint64
peak_rss (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  const char *line;

  g_file_get_contents ("/proc/self/status", &status, NULL, &error);
  g_assert_no_error (error);
  line = strstr (status, "VmHWM:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("VmHWM:"), NULL, 10);
}

static void
schedule_pending (Fixture *fx,
                  guint    n)
{
  g_autoptr(GError) error = NULL;

  em_engine_manager_pause (fx->manager);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(EmTaskSpec) spec = em_task_spec_new ("listed", "wait", NULL);

      em_engine_manager_schedule_task (fx->manager, spec, &error);
      g_assert_no_error (error);
    }
}

/* a listing larger than one D-Bus message may be is refused, not sent: the
 * bus disconnects a sender whose message is over the limit, and the service
 * would lose its name. The limit is lowered here; for real it is 64 MiB, which
 * ListTasks over a long history (or tasks with long dependency lists) passes */
static void
test_listing_too_large (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) page = NULL;
  g_autoptr(GVariant) tasks = NULL;
  g_autofree char *remote = NULL;
  g_autofree char *filter = NULL;
  const char *fit;
  guint n;

  schedule_pending (fx, 40);
  g_object_set (fx->adapter, "max-reply-bytes", 8192, NULL);

  all = list_tasks (fx, "(@a{sv} {},)", &error);
  g_assert_null (all);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "io.github.enginemanager.Error.InvalidArgument");
  g_assert_nonnull (strstr (error->message, "filter.limit: the matching tasks take more than "
                                            "the 8192 bytes one D-Bus reply may hold"));
  fit = strstr (error->message, "which the first ");
  g_assert_nonnull (fit);
  n = g_ascii_strtoull (fit + strlen ("which the first "), NULL, 10);
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpuint (n, <, 40);
  g_clear_error (&error);

  /* still on the bus, and a page as long as the refusal said fits is sent */
  g_assert_false (g_dbus_connection_is_closed (fx->service));
  filter = g_strdup_printf ("({'limit': <uint32 %u>},)", n);
  page = list_tasks (fx, filter, &error);
  g_assert_no_error (error);
  tasks = g_variant_get_child_value (page, 0);
  g_assert_cmpuint (g_variant_n_children (tasks), ==, n);
  g_assert_cmpuint (g_variant_get_size (page), <=, 8192);
}

/* the ids of a ListTasks reply, in order */
static GStrv
listed_ids (Fixture    *fx,
            const char *filter)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = list_tasks (fx, filter, &error);
  g_autoptr(GVariant) tasks = NULL;
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();

  g_assert_no_error (error);
  tasks = g_variant_get_child_value (reply, 0);
  for (gsize i = 0; i < g_variant_n_children (tasks); i++)
    {
      g_autoptr(GVariant) task = g_variant_get_child_value (tasks, i);
      const char *id = NULL;

      g_assert_true (g_variant_lookup (task, "id", "&s", &id));
      g_strv_builder_add (ids, id);
    }
  return g_strv_builder_end (ids);
}

/* a listing read in several pages is the one listing: every task once, in
 * order, offset and limit counted over the whole */
static void
test_listing_pages (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) scheduled = NULL;
  g_auto(GStrv) all = NULL;
  g_auto(GStrv) slice = NULL;
  g_autofree char *filter = NULL;

  schedule_pending (fx, 1100);
  scheduled = em_engine_manager_list_tasks (fx->manager, NULL, 0, 0, NULL);
  g_assert_cmpuint (scheduled->len, ==, 1100);

  all = listed_ids (fx, "(@a{sv} {},)");
  g_assert_cmpuint (g_strv_length (all), ==, 1100);
  for (guint i = 0; i < scheduled->len; i++)
    g_assert_cmpstr (all[i], ==, em_task_get_id (g_ptr_array_index (scheduled, i)));

  slice = listed_ids (fx, "({'offset': <uint32 70>, 'limit': <uint32 1000>},)");
  g_assert_cmpuint (g_strv_length (slice), ==, 1000);
  for (guint i = 0; i < 1000; i++)
    g_assert_cmpstr (slice[i], ==, all[70 + i]);
  g_clear_pointer (&slice, g_strfreev);

  filter = g_strdup_printf ("({'after': <'%s'>, 'offset': <uint32 5>},)", all[100]);
  slice = listed_ids (fx, filter);
  g_assert_cmpuint (g_strv_length (slice), ==, 1100 - 106);
  g_assert_cmpstr (slice[0], ==, all[106]);
  g_assert_cmpstr (slice[1100 - 107], ==, all[1099]);
}

/* the peak resident memory of this process in KiB, from now on */
static guint64
reset_peak_rss (void)
{
  int fd;

  /* freed memory goes back first, so what the listing takes shows */
  malloc_trim (0);
  fd = open ("/proc/self/clear_refs", O_WRONLY);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "5", 1), ==, 1);
  close (fd);
  return peak_rss ();
}

/* a listing that cannot be sent is refused after reading about as much
 * history as the reply may hold: the whole of it was read, converted and
 * only then refused (200 000 tasks took 2.2 GB and 10 s) */
static void
test_listing_refused_early (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autofree char *remote = NULL;
  g_autofree char *name = g_strnfill (256, 'n');
  guint64 before, after;

  em_engine_manager_pause (fx->manager);
  for (guint i = 0; i < LARGE_HISTORY; i++)
    {
      g_autoptr(EmTaskSpec) spec = em_task_spec_new (name, "wait", NULL);

      em_engine_manager_schedule_task (fx->manager, spec, &error);
      g_assert_no_error (error);
    }
  g_object_set (fx->adapter, "max-reply-bytes", 65536, NULL);
  /* the task objects' signals are handled before the measure begins */
  all = list_tasks (fx, "({'limit': <uint32 1>},)", &error);
  g_assert_no_error (error);
  g_clear_pointer (&all, g_variant_unref);

  before = reset_peak_rss ();
  all = list_tasks (fx, "(@a{sv} {},)", &error);
  after = peak_rss ();
  g_assert_null (all);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "io.github.enginemanager.Error.InvalidArgument");
  g_assert_nonnull (strstr (error->message, "filter.limit: "));
  g_test_message ("peak RSS before %" G_GUINT64_FORMAT " KiB, during the listing %"
                  G_GUINT64_FORMAT " KiB", before, after);
  /* the history read whole was about 40 MiB */
  g_assert_cmpuint (after - before, <, 8 * 1024);
}

static void
communicated_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* owns the service's name on the test's bus, for enginectl */
static void
own_name (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) owned = NULL;
  guint32 reply = 0;

  owned = g_dbus_connection_call_sync (fx->service, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", EM_DBUS_NAME, 4),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);
  g_variant_get (owned, "(u)", &reply);
  g_assert_cmpuint (reply, ==, 1);
}

/* enginectl list pages through history 1000 tasks a call; where a page is
 * larger than one reply may hold it asks for smaller ones, rather than fail
 * with the service's refusal of a limit the user never gave */
static void
test_cli_list_smaller_pages (Fixture *fx, gconstpointer data)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) cli = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) listed = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  schedule_pending (fx, 40);
  g_object_set (fx->adapter, "max-reply-bytes", 8192, NULL);
  own_name (fx);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", fx->bus_address, TRUE);
  cli = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("ENGINECTL"), "list", "--json",
                                     NULL);
  g_assert_no_error (error);
  /* the service answers on this thread's loop */
  g_subprocess_communicate_utf8_async (cli, NULL, NULL, communicated_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, 2 * TIMEOUT_MS);
  g_subprocess_communicate_utf8_finish (cli, result, &out, &err, &error);
  g_assert_no_error (error);
  if (g_subprocess_get_exit_status (cli) != 0)
    g_error ("enginectl list failed: %s", err);
  listed = json_from_string (out, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (listed)), ==, 40);
}

static guint64
published_last_event_seq (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;

  reply = call_service (fx, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new ("(ss)", MANAGER_IFACE, "LastEventSeq"),
                        G_VARIANT_TYPE ("(v)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_get_uint64 (value);
}

/* every event up to the last one is on disk, where GetEvents reads, and
 * LastEventSeq says so (it is published at most 10 times a second) */
static guint64
wait_events_committed (Fixture *fx)
{
  guint64 last = em_engine_manager_get_last_event_seq (fx->manager);

  EM_TEST_WAIT_UNTIL (em_engine_manager_get_committed_event_seq (fx->manager) >= last, TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (published_last_event_seq (fx) >= last, TIMEOUT_MS);
  return last;
}

/* GetEvents stops short of what one reply may hold, and a client reads on
 * from the last seq: large events (a tile scan's result lists every tile)
 * made a reply the service had to refuse, over and over, so a client could
 * never read past them */
static void
test_events_pages (Fixture *fx, gconstpointer data)
{
  guint64 last, seq = 0;
  guint pages = 0;

  schedule_pending (fx, 100);
  last = wait_events_committed (fx);
  g_assert_cmpuint (last, >=, 100);
  g_object_set (fx->adapter, "max-reply-bytes", 8192, NULL);

  while (seq < last)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GVariant) events = NULL;

      reply = call_service (fx, MANAGER_IFACE, "GetEvents", g_variant_new ("(tu)", seq, 1000),
                            G_VARIANT_TYPE ("(aa{sv}t)"), &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_get_size (reply), <=, 8192);
      events = g_variant_get_child_value (reply, 0);
      g_assert_cmpuint (g_variant_n_children (events), >, 0);
      for (gsize i = 0; i < g_variant_n_children (events); i++)
        {
          g_autoptr(GVariant) event = g_variant_get_child_value (events, i);
          gint64 event_seq = 0;

          g_assert_true (g_variant_lookup (event, "seq", "x", &event_seq));
          g_assert_cmpint (event_seq, ==, seq + 1);
          seq = event_seq;
        }
      pages++;
    }
  g_assert_cmpuint (pages, >, 1);
}

#if defined(__SANITIZE_ADDRESS__)
/* freed memory waits in the quarantine, and the peak counts all that went by */
#define RSS_COUNTS_FREED_MEMORY TRUE
#else
#define RSS_COUNTS_FREED_MEMORY FALSE
#endif

static char *
held_property (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;

  reply = call_service (fx, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new ("(ss)", MANAGER_IFACE, "Held"), G_VARIANT_TYPE ("(v)"),
                        &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_dup_string (value, NULL);
}

static GSubprocess *
spawn_cli_queue (Fixture *fx, const char *option)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *cli;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", fx->bus_address, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C", TRUE);
  cli = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("ENGINECTL"), "queue", option,
                                     NULL);
  g_assert_no_error (error);
  return cli;
}

/* what it printed, once it has exited with 0; the service answers on this
 * thread's loop */
static char *
cli_output (GSubprocess *cli, GAsyncResult **result)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;

  EM_TEST_WAIT_UNTIL (*result != NULL, 2 * TIMEOUT_MS);
  g_subprocess_communicate_utf8_finish (cli, *result, &out, &err, &error);
  g_assert_no_error (error);
  if (g_subprocess_get_exit_status (cli) != 0)
    g_error ("enginectl queue failed: %s", err);
  return out;
}

/* on the service connection's worker thread: counts the GetQueue calls that
 * came in, from any client */
static GDBusMessage *
count_get_queue_cb (GDBusConnection *connection,
                    GDBusMessage    *message,
                    gboolean         incoming,
                    gpointer         user_data)
{
  if (incoming && g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL &&
      g_strcmp0 (g_dbus_message_get_member (message), "GetQueue") == 0)
    g_atomic_int_inc ((gint *) user_data);
  return message;
}

static void
assert_queue_held (GVariant *reply, const char *held)
{
  g_autoptr(GVariant) queue = g_variant_get_child_value (reply, 0);
  const char *value = NULL;

  g_assert_true (g_variant_lookup (queue, "held", "&s", &value));
  g_assert_cmpstr (value, ==, held);
}

/* a queue that the store's backlog holds back says so in GetQueue, Held and
 * enginectl queue:
 * before, its ready tasks stayed pending with nothing telling why. The
 * store's writer is held, so that the backlog, of real results, lasts; the
 * finished counts of GetQueue are read behind the writes, so its answer comes
 * once the writer goes on, and says what was true when it was called */
static void
test_queue_held_by_store (Fixture *fx, gconstpointer data)
{
  const gsize bound = 64 * 1024;
  g_autoptr(JsonObject) large = json_object_new ();
  g_autoptr(EmTaskSpec) large_spec = NULL, waiting_spec = NULL;
  g_autoptr(EmTask) first = NULL, waiting = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *trace = NULL;
  g_autoptr(GSubprocess) text_cli = NULL, json_cli = NULL;
  g_autoptr(GAsyncResult) text_result = NULL, json_result = NULL;
  g_autofree char *text = NULL, *json = NULL;
  g_autoptr(JsonNode) printed = NULL;
  const char *after;
  char *held;
  gint get_queue_calls = 0;
  guint filter;

  /* the store counts as behind past 64 KiB of uncommitted writes, not 32 MiB */
  g_object_set (fx->manager, "store-backlog-bytes", (guint64) bound, NULL);
  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
  reply = call_service (fx, MANAGER_IFACE, "GetQueue", NULL, G_VARIANT_TYPE ("(a{sv})"), &error);
  g_assert_no_error (error);
  assert_queue_held (reply, "");
  g_clear_pointer (&reply, g_variant_unref);

  em_store_hold_writer (fx->manager->store, TRUE);
  /* its row and its task_completed event each carry the result */
  json_object_set_int_member (large, "result_bytes", 4 * bound);
  large_spec = em_task_spec_new ("large", "stubborn", large);
  first = g_object_ref (em_engine_manager_schedule_task (fx->manager, large_spec, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_status (first) == EM_TASK_STATUS_COMPLETED, TIMEOUT_MS);
  /* once the engine has handed them over */
  EM_TEST_WAIT_UNTIL (em_store_is_backlogged (fx->manager->store), TIMEOUT_MS);
  waiting_spec = em_task_spec_new ("waits", "stubborn", NULL);
  waiting = g_object_ref (em_engine_manager_schedule_task (fx->manager, waiting_spec, &error));
  g_assert_no_error (error);
  em_test_run_for (200);
  g_assert_cmpint (em_task_get_status (waiting), ==, EM_TASK_STATUS_PENDING);

  held = held_property (fx);
  g_assert_cmpstr (held, ==, "store");
  g_free (held);
  /* paused, it is the pause that holds them; resumed, the store again */
  g_variant_unref (call_service (fx, MANAGER_IFACE, "Pause", NULL, NULL, &error));
  g_assert_no_error (error);
  held = held_property (fx);
  g_assert_cmpstr (held, ==, "");
  g_free (held);
  g_variant_unref (call_service (fx, MANAGER_IFACE, "Resume", NULL, NULL, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_engine_manager_get_held (fx->manager), "store") == 0,
                      TIMEOUT_MS);
  held = held_property (fx);
  g_assert_cmpstr (held, ==, "store");
  g_free (held);
  own_name (fx);
  filter = g_dbus_connection_add_filter (fx->service, count_get_queue_cb, &get_queue_calls, NULL);
  text_cli = spawn_cli_queue (fx, NULL);
  g_subprocess_communicate_utf8_async (text_cli, NULL, NULL, communicated_cb, &text_result);
  json_cli = spawn_cli_queue (fx, "--json");
  g_subprocess_communicate_utf8_async (json_cli, NULL, NULL, communicated_cb, &json_result);
  g_dbus_connection_call (fx->client, g_dbus_connection_get_unique_name (fx->service),
                          EM_DBUS_MANAGER_PATH, MANAGER_IFACE, "GetQueue", NULL,
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS,
                          NULL, replied_cb, &result);
  /* the writer goes on only once the service has read all three calls, however
   * long enginectl took to start; a call made after them is handled after
   * them, so its answer means theirs have read the queue */
  EM_TEST_WAIT_UNTIL (g_atomic_int_get (&get_queue_calls) == 3, 2 * TIMEOUT_MS);
  g_dbus_connection_remove_filter (fx->service, filter);
  held = held_property (fx);
  g_assert_cmpstr (held, ==, "store");
  g_free (held);
  em_store_hold_writer (fx->manager->store, FALSE);
  EM_TEST_WAIT_UNTIL (result != NULL, CALL_TIMEOUT_MS);
  reply = g_dbus_connection_call_finish (fx->client, result, &error);
  g_assert_no_error (error);
  assert_queue_held (reply, "store");
  g_clear_pointer (&reply, g_variant_unref);
  text = cli_output (text_cli, &text_result);
  g_assert_nonnull (strstr (text, "\nHeld:"));
  g_assert_nonnull (strstr (text, "by the task database"));
  json = cli_output (json_cli, &json_result);
  printed = json_from_string (json, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (printed), "held"), ==,
                   "store");

  /* down to half the bound, the waiting task starts and nothing is held */
  EM_TEST_WAIT_UNTIL (em_task_get_status (waiting) == EM_TASK_STATUS_COMPLETED, TIMEOUT_MS);
  reply = call_service (fx, MANAGER_IFACE, "GetQueue", NULL, G_VARIANT_TYPE ("(a{sv})"), &error);
  g_assert_no_error (error);
  assert_queue_held (reply, "");
  held = held_property (fx);
  g_assert_cmpstr (held, ==, "");
  g_free (held);
  /* and watchers of the property heard of both changes */
  trace = joined (fx->trace);
  after = strstr (trace, "Held=store");
  g_assert_nonnull (after);
  after += strlen ("Held=store");
  g_assert_true (strstr (after, "Held= ") != NULL || g_str_has_suffix (after, "Held="));
}

/* whether the client saw Held become "store", then empty */
static gboolean
held_cleared_in_trace (Fixture *fx)
{
  g_autofree char *trace = joined (fx->trace);
  const char *after = strstr (trace, "Held=store");

  if (after == NULL)
    return FALSE;
  after += strlen ("Held=store");
  return strstr (after, "Held= ") != NULL || g_str_has_suffix (after, "Held=");
}

/* the store counts as behind past HELD_BOUND of uncommitted writes, not
 * 32 MiB, and its writer commits nothing until it is let go */
#define HELD_BOUND (64 * 1024)

static void
open_store_held (Fixture *fx)
{
  g_autoptr(GError) error = NULL;

  g_object_set (fx->manager, "store-backlog-bytes", (guint64) HELD_BOUND, NULL);
  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
  em_store_hold_writer (fx->manager->store, TRUE);
}

/* a task whose row and task_completed event each carry a result four times
 * the bound: once the engine has handed them over, the store is behind */
static void
put_store_behind (Fixture *fx)
{
  g_autoptr(JsonObject) large = json_object_new ();
  g_autoptr(EmTaskSpec) spec = NULL;
  g_autoptr(EmTask) task = NULL;
  g_autoptr(GError) error = NULL;

  json_object_set_int_member (large, "result_bytes", 4 * HELD_BOUND);
  spec = em_task_spec_new ("large", "stubborn", large);
  task = g_object_ref (em_engine_manager_schedule_task (fx->manager, spec, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_COMPLETED, TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (em_store_is_backlogged (fx->manager->store), TIMEOUT_MS);
}

/* the queue is held only while a task is ready to start: once the last one
 * is cancelled, Held goes back to empty, without waiting for the store to
 * catch up (which the held writer keeps from happening here) */
static void
test_queue_held_until_cancelled (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) waiting_spec = NULL;
  g_autoptr(EmTask) waiting = NULL;
  g_autoptr(GError) error = NULL;
  char *held;

  open_store_held (fx);
  put_store_behind (fx);
  waiting_spec = em_task_spec_new ("waits", "stubborn", NULL);
  waiting = g_object_ref (em_engine_manager_schedule_task (fx->manager, waiting_spec, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_engine_manager_get_held (fx->manager), "store") == 0,
                      TIMEOUT_MS);

  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (waiting), &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_engine_manager_get_held (fx->manager) == NULL, TIMEOUT_MS);
  /* the store is still behind: it was the ready task that was held */
  g_assert_true (em_store_is_backlogged (fx->manager->store));
  held = held_property (fx);
  g_assert_cmpstr (held, ==, "");
  g_free (held);
  /* and watchers of the property heard of it */
  EM_TEST_WAIT_UNTIL (held_cleared_in_trace (fx), TIMEOUT_MS);
  em_store_hold_writer (fx->manager->store, FALSE);
}

/* the store holds the queue only when a task could start now but for it: a
 * stage task behind a long move waits for the stage, whatever the store, and
 * is held by the store only once the stage is free. Before, Held said
 * "store" while the task's waiting_for named the stage */
static void
test_queue_held_not_by_busy_device (Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonNode) long_params = json_from_string ("{\"x\": 40000, \"speed\": 1}", NULL);
  g_autoptr(JsonNode) short_params = json_from_string ("{\"x\": 10}", NULL);
  g_autoptr(EmTaskSpec) move_spec = NULL, behind_spec = NULL;
  g_autoptr(EmTask) move = NULL, behind = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *waiting_for;
  char *held;

  /* the long move must not reach the fixture's cancellation at half way */
  fx->cancelled = TRUE;
  open_store_held (fx);

  move_spec = em_task_spec_new ("long move", "move_stage", json_node_get_object (long_params));
  move = g_object_ref (em_engine_manager_schedule_task (fx->manager, move_spec, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_status (move) == EM_TASK_STATUS_RUNNING, TIMEOUT_MS);
  put_store_behind (fx);

  behind_spec = em_task_spec_new ("behind", "move_stage", json_node_get_object (short_params));
  behind = g_object_ref (em_engine_manager_schedule_task (fx->manager, behind_spec, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_waiting_for (behind) != NULL &&
                      em_task_get_waiting_for (behind)[0] != NULL, TIMEOUT_MS);
  em_test_run_for (200);
  waiting_for = em_task_get_waiting_for (behind);
  g_assert_cmpstr (waiting_for[0], ==, "stage");
  g_assert_null (waiting_for[1]);
  g_assert_null (em_engine_manager_get_held (fx->manager));
  held = held_property (fx);
  g_assert_cmpstr (held, ==, "");
  g_free (held);

  /* the stage is free: now it is the store that holds the task */
  g_assert_true (em_engine_manager_cancel_task (fx->manager, em_task_get_id (move), &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_engine_manager_get_held (fx->manager), "store") == 0,
                      TIMEOUT_MS);
  g_assert_cmpint (em_task_get_status (behind), ==, EM_TASK_STATUS_PENDING);
  g_assert_null (em_task_get_waiting_for (behind)[0]);
  held = held_property (fx);
  g_assert_cmpstr (held, ==, "store");
  g_free (held);

  em_store_hold_writer (fx->manager->store, FALSE);
  EM_TEST_WAIT_UNTIL (em_task_get_status (behind) == EM_TASK_STATUS_COMPLETED, TIMEOUT_MS);
  g_assert_null (em_engine_manager_get_held (fx->manager));
}

/* once the engine stops, nothing starts whatever the store: Held is empty.
 * Before, it stayed "store" through the stop */
static void
test_queue_held_until_shutdown (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) waiting_spec = NULL;
  g_autoptr(EmTask) waiting = NULL;
  g_autoptr(GError) error = NULL;

  open_store_held (fx);
  put_store_behind (fx);
  waiting_spec = em_task_spec_new ("waits", "stubborn", NULL);
  waiting = g_object_ref (em_engine_manager_schedule_task (fx->manager, waiting_spec, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_engine_manager_get_held (fx->manager), "store") == 0,
                      TIMEOUT_MS);

  em_store_hold_writer (fx->manager->store, FALSE);
  em_engine_manager_shutdown (fx->manager);
  g_assert_null (em_engine_manager_get_held (fx->manager));
  g_assert_cmpint (em_task_get_status (waiting), ==, EM_TASK_STATUS_PENDING);
}

static void
pause_on_waiting_cb (EmTask *task, GParamSpec *pspec, EmEngineManager *manager)
{
  if (em_task_get_waiting_for (task)[0] != NULL)
    em_engine_manager_pause (manager);
}

/* a listener told of a task's waiting_for in the pass that finds the queue
 * held may pause it: paused, the queue is not held by the store. Before, the
 * pass said "store" after the listeners had paused it */
static void
test_queue_held_paused_by_listener (Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonNode) long_params = json_from_string ("{\"x\": 40000, \"speed\": 1}", NULL);
  g_autoptr(JsonNode) short_params = json_from_string ("{\"x\": 10}", NULL);
  g_autoptr(EmTaskSpec) move_spec = NULL, behind_spec = NULL, free_spec = NULL;
  g_autoptr(EmTask) move = NULL, behind = NULL, ready = NULL;
  g_autoptr(GError) error = NULL;

  fx->cancelled = TRUE;
  open_store_held (fx);

  move_spec = em_task_spec_new ("long move", "move_stage", json_node_get_object (long_params));
  move = g_object_ref (em_engine_manager_schedule_task (fx->manager, move_spec, &error));
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (em_task_get_status (move) == EM_TASK_STATUS_RUNNING, TIMEOUT_MS);
  put_store_behind (fx);

  /* in one pass: one task the store holds, one that waits for the stage */
  free_spec = em_task_spec_new ("ready", "stubborn", NULL);
  ready = g_object_ref (em_engine_manager_schedule_task (fx->manager, free_spec, &error));
  g_assert_no_error (error);
  behind_spec = em_task_spec_new ("behind", "move_stage", json_node_get_object (short_params));
  behind = g_object_ref (em_engine_manager_schedule_task (fx->manager, behind_spec, &error));
  g_assert_no_error (error);
  g_signal_connect (behind, "notify::waiting-for", G_CALLBACK (pause_on_waiting_cb), fx->manager);
  EM_TEST_WAIT_UNTIL (em_engine_manager_get_paused (fx->manager), TIMEOUT_MS);
  em_test_run_for (100);
  g_signal_handlers_disconnect_by_func (behind, pause_on_waiting_cb, fx->manager);
  g_assert_cmpint (em_task_get_status (ready), ==, EM_TASK_STATUS_PENDING);
  g_assert_null (em_engine_manager_get_held (fx->manager));

  em_engine_manager_resume (fx->manager);
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_engine_manager_get_held (fx->manager), "store") == 0,
                      TIMEOUT_MS);
  em_store_hold_writer (fx->manager->store, FALSE);
  EM_TEST_WAIT_UNTIL (em_task_get_status (ready) == EM_TASK_STATUS_COMPLETED, TIMEOUT_MS);
  g_assert_null (em_engine_manager_get_held (fx->manager));
}

/* GetEvents and ListTasks read history from the store a reply's room at a
 * time, also where small tasks come before large ones: the batch after the
 * small ones was sized by them, and the store read all of it, tens of MiB
 * of results for a reply of a few */
static void
test_history_read_by_bytes (Fixture *fx, gconstpointer data)
{
  const guint n_small = 10, n_large = 64;
  EmTaskStatus pending = EM_TASK_STATUS_PENDING, running = EM_TASK_STATUS_RUNNING;
  g_autoptr(JsonObject) large = json_object_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autofree char *remote = NULL;
  guint64 last, seq = 0, before, after, events_peak = 0;

  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
  json_object_set_int_member (large, "result_bytes", 1536 * 1024);
  for (guint i = 0; i < n_small + n_large; i++)
    {
      g_autoptr(EmTaskSpec) spec = i < n_small ? em_task_spec_new ("small", "wait", NULL)
                                               : em_task_spec_new ("large", "stubborn", large);

      em_engine_manager_schedule_task (fx->manager, spec, &error);
      g_assert_no_error (error);
      if (i + 1 == n_small)
        EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, &pending) == 0 &&
                            em_engine_manager_count_tasks (fx->manager, &running) == 0,
                            TIMEOUT_MS);
    }
  /* 96 MiB of results to record: under valgrind, more than TIMEOUT_MS */
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (fx->manager, &pending) == 0 &&
                      em_engine_manager_count_tasks (fx->manager, &running) == 0,
                      CALL_TIMEOUT_MS);
  last = wait_events_committed (fx);
  g_object_set (fx->adapter, "max-reply-bytes", 8 * 1024 * 1024, NULL);

  while (seq < last)
    {
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GVariant) events = NULL;

      before = reset_peak_rss ();
      reply = call_service (fx, MANAGER_IFACE, "GetEvents", g_variant_new ("(tu)", seq, 1000),
                            G_VARIANT_TYPE ("(aa{sv}t)"), &error);
      after = peak_rss ();
      g_assert_no_error (error);
      events_peak = MAX (events_peak, after - MIN (before, after));
      events = g_variant_get_child_value (reply, 0);
      g_assert_cmpuint (g_variant_n_children (events), >, 0);
      /* every event once, in order, read on from where a reply stopped */
      for (gsize i = 0; i < g_variant_n_children (events); i++)
        {
          g_autoptr(GVariant) event = g_variant_get_child_value (events, i);
          gint64 event_seq = 0;

          g_assert_true (g_variant_lookup (event, "seq", "x", &event_seq));
          g_assert_cmpint (event_seq, ==, seq + 1);
          seq = event_seq;
        }
    }

  /* a listing past the reply's 8 MiB is refused once it has read that */
  before = reset_peak_rss ();
  all = list_tasks (fx, "(@a{sv} {},)", &error);
  after = peak_rss ();
  g_assert_null (all);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "io.github.enginemanager.Error.InvalidArgument");
  g_test_message ("the peak grew by %" G_GUINT64_FORMAT " KiB for GetEvents, by %"
                  G_GUINT64_FORMAT " KiB for ListTasks", events_peak,
                  after - MIN (before, after));
  if (!RSS_COUNTS_FREED_MEMORY)
    {
      g_assert_cmpuint (events_peak, <, 40 * 1024);
      g_assert_cmpuint (after - MIN (before, after), <, 40 * 1024);
    }
}

/* enginectl watch --since reads on past a short page up to LastEventSeq: a
 * page shorter than 1 000 events was taken for the end of the log */
static void
test_cli_watch_since_pages (Fixture *fx, gconstpointer data)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) cli = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *last_line = NULL;
  g_autofree char *expected = NULL;
  guint64 last;

  schedule_pending (fx, 100);
  last = wait_events_committed (fx);
  g_object_set (fx->adapter, "max-reply-bytes", 8192, NULL);
  own_name (fx);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", fx->bus_address, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C", TRUE);
  cli = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("ENGINECTL"), "watch",
                                     "--since", "0", "--json", NULL);
  g_assert_no_error (error);
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (cli));
  /* its first line on stderr says the catch-up is done, or why it failed */
  for (;;)
    {
      g_autoptr(GAsyncResult) result = NULL;
      g_autofree char *line = NULL;

      g_data_input_stream_read_line_async (err, G_PRIORITY_DEFAULT, NULL, communicated_cb, &result);
      EM_TEST_WAIT_UNTIL (result != NULL, 2 * TIMEOUT_MS);
      line = g_data_input_stream_read_line_finish (err, result, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (line);
      if (!g_str_has_prefix (line, "Watching events after seq "))
        g_error ("watch --since: %s", line);
      expected = g_strdup_printf ("Watching events after seq %" G_GUINT64_FORMAT " ", last);
      g_assert_true (g_str_has_prefix (line, expected));
      break;
    }
  g_subprocess_send_signal (cli, SIGINT);
  {
    g_autoptr(GAsyncResult) result = NULL;

    g_subprocess_communicate_utf8_async (cli, NULL, NULL, communicated_cb, &result);
    EM_TEST_WAIT_UNTIL (result != NULL, 2 * TIMEOUT_MS);
    g_subprocess_communicate_utf8_finish (cli, result, &out, NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_cmpint (g_subprocess_get_exit_status (cli), ==, 0);
  g_clear_pointer (&expected, g_free);
  expected = g_strdup_printf ("\"seq\":%" G_GUINT64_FORMAT "}\n", last);
  g_assert_true (g_str_has_suffix (out, expected));
}

/* the same for the replies GLib builds: GetManagedObjects grows with the
 * task objects (thousands of pending tasks with long dependency lists were
 * over 128 MiB) and, sent, took the service off the bus */
#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"
#define TASK_IFACE "io.github.enginemanager.Task1"

/* what the test hook saw of a GetManagedObjects being built */
typedef struct {
  Fixture *fx;
  guint turns;
  /* called after that many turns, when not 0 */
  guint act_at;
  void (*act) (EmDbusTaskTable *table, gpointer data);
  gpointer act_data;
  /* while this reply is outstanding, each turn sleeps a little: the
   * bus's threads must get the CPU between turns, which valgrind's
   * scheduler does not promise a thread that never blocks */
  GAsyncResult **awaited;
} Build;

static void
build_hook_cb (EmDbusTaskTable *table,
               gpointer         user_data)
{
  Build *build = user_data;

  build->turns++;
  if (build->act != NULL && build->turns == build->act_at)
    build->act (table, build);
  if (build->awaited != NULL && *build->awaited == NULL)
    g_usleep (G_TIME_SPAN_MILLISECOND);
}

static void
start_call (GDBusConnection *connection,
            Fixture         *fx,
            const char      *path,
            const char      *interface,
            const char      *method,
            GVariant        *parameters,
            GAsyncResult   **result)
{
  g_dbus_connection_call (connection, g_dbus_connection_get_unique_name (fx->service), path,
                          interface, method, parameters, NULL, G_DBUS_CALL_FLAGS_NONE,
                          CALL_TIMEOUT_MS, NULL, replied_cb, result);
}

/* the a{oa{sa{sv}}} of a GetManagedObjects reply, or NULL with @error set */
static GVariant *
managed_objects_finish (GDBusConnection  *connection,
                        GAsyncResult     *result,
                        GError          **error)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (connection, result, error);

  if (reply == NULL)
    return NULL;
  g_assert_cmpstr (g_variant_get_type_string (reply), ==, "(a{oa{sa{sv}}})");
  return g_variant_get_child_value (reply, 0);
}

static GVariant *
managed_objects (Fixture  *fx,
                 GError  **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  start_call (fx->client, fx, EM_DBUS_MANAGER_PATH, OBJECT_MANAGER_IFACE, "GetManagedObjects",
              NULL, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, CALL_TIMEOUT_MS + TIMEOUT_MS);
  return managed_objects_finish (fx->client, result, error);
}

/* Properties.GetAll of Task1 at @path, read on its own */
static GVariant *
task_properties (Fixture    *fx,
                 const char *path)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  start_call (fx->client, fx, path, "org.freedesktop.DBus.Properties", "GetAll",
              g_variant_new ("(s)", TASK_IFACE), &result);
  EM_TEST_WAIT_UNTIL (result != NULL, 2 * TIMEOUT_MS);
  reply = g_dbus_connection_call_finish (fx->client, result, &error);
  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

static void
assert_same_dict (GVariant *dict,
                  GVariant *expected)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_assert_cmpuint (g_variant_n_children (dict), ==, g_variant_n_children (expected));
  g_variant_iter_init (&iter, expected);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) found = g_variant_lookup_value (dict, key, NULL);
      g_autofree char *want = g_variant_print (value, TRUE);
      g_autofree char *got = found != NULL ? g_variant_print (found, TRUE) : NULL;

      g_assert_cmpstr (got, ==, want);
      g_variant_unref (value);
    }
}

/* every exported object, with each interface GLib's ObjectManager server
 * would list (the object's skeletons: Task1 alone) and its properties as the
 * object itself serves them */
static void
assert_objects_as_served (Fixture  *fx,
                          GVariant *objects,
                          guint     n_expected)
{
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  g_assert_cmpuint (g_variant_n_children (objects), ==, n_expected);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr(GVariant) properties = NULL;
      g_autoptr(GVariant) served = task_properties (fx, path);

      g_assert_true (g_str_has_prefix (path, EM_DBUS_TASKS_PATH "/"));
      g_assert_cmpuint (g_variant_n_children (interfaces), ==, 1);
      properties = g_variant_lookup_value (interfaces, TASK_IFACE, G_VARIANT_TYPE_VARDICT);
      g_assert_nonnull (properties);
      assert_same_dict (properties, served);
      g_variant_unref (interfaces);
    }
}

/* on a small table, the reply is what GLib's server sent: the same objects,
 * interfaces and properties, and a GDBusObjectManagerClient sees them all */
static void
test_managed_objects_as_served (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GDBusObjectManager) client = NULL;
  GList *proxies;

  schedule_pending (fx, 5);
  objects = managed_objects (fx, &error);
  g_assert_no_error (error);
  assert_objects_as_served (fx, objects, 5);

  em_dbus_object_manager_client_new (fx->client, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                     g_dbus_connection_get_unique_name (fx->service),
                                     EM_DBUS_MANAGER_PATH, NULL, replied_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, TIMEOUT_MS);
  client = em_dbus_object_manager_client_new_finish (result, &error);
  g_assert_no_error (error);
  proxies = g_dbus_object_manager_get_objects (client);
  g_assert_cmpuint (g_list_length (proxies), ==, 5);
  for (GList *l = proxies; l != NULL; l = l->next)
    {
      const char *path = g_dbus_object_get_object_path (l->data);
      g_autoptr(EmDBusTask1) task = em_dbus_object_get_task1 (l->data);
      g_autoptr(GVariant) served = task_properties (fx, path);
      g_auto(GStrv) names = g_dbus_proxy_get_cached_property_names (G_DBUS_PROXY (task));
      GVariantIter iter;
      const char *key;
      GVariant *value;

      g_assert_cmpuint (g_strv_length (names), ==, g_variant_n_children (served));
      g_variant_iter_init (&iter, served);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        {
          g_autoptr(GVariant) cached = g_dbus_proxy_get_cached_property (G_DBUS_PROXY (task), key);

          g_assert_nonnull (cached);
          g_assert_true (g_variant_equal (cached, value));
          g_variant_unref (value);
        }
    }
  g_list_free_full (proxies, g_object_unref);
}

typedef struct {
  const char *path;
  GAsyncResult *result;
} StatusCall;

static void
ask_status_cb (EmDbusTaskTable *table,
               gpointer         user_data)
{
  Build *build = user_data;
  StatusCall *call = build->act_data;

  start_call (build->fx->client, build->fx, call->path, "org.freedesktop.DBus.Properties", "Get",
              g_variant_new ("(ss)", TASK_IFACE, "Status"), &call->result);
}

/* GLib's server read every object in one turn: with 50 000 tasks the loop,
 * REST and D-Bus alike, stood still for seconds. A call that comes while
 * GetManagedObjects is being built is now answered before it */
static void
test_managed_objects_loop_turns (Fixture *fx, gconstpointer data)
{
  g_autoptr(GAsyncResult) objects_result = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("first", "wait", NULL);
  StatusCall call = { NULL };
  /* asked after the first turn, so the service has begun the build */
  Build build = { fx, 0, 1, ask_status_cb, &call, .awaited = &call.result };
  gboolean status_first = FALSE;
  EmTask *task;

  em_engine_manager_pause (fx->manager);
  task = em_engine_manager_schedule_task (fx->manager, spec, &error);
  g_assert_no_error (error);
  path = em_dbus_task_path (em_task_get_id (task));
  call.path = path;
  schedule_pending (fx, 3000);
  em_dbus_managed_objects_set_test_hook (10, build_hook_cb, &build);

  start_call (fx->client, fx, EM_DBUS_MANAGER_PATH, OBJECT_MANAGER_IFACE, "GetManagedObjects",
              NULL, &objects_result);
  EM_TEST_WAIT_UNTIL (objects_result != NULL || call.result != NULL, CALL_TIMEOUT_MS);
  status_first = call.result != NULL && objects_result == NULL;
  EM_TEST_WAIT_UNTIL (objects_result != NULL && call.result != NULL, CALL_TIMEOUT_MS);
  em_dbus_managed_objects_set_test_hook (0, NULL, NULL);

  status = g_dbus_connection_call_finish (fx->client, call.result, &error);
  g_clear_object (&call.result);
  g_assert_no_error (error);
  objects = managed_objects_finish (fx->client, objects_result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 3001);
  g_assert_true (status_first);
  g_assert_cmpuint (build.turns, >=, 3001 / 10);
}

typedef struct {
  char *removed_early;  /* unexported before the build read it */
  char *removed_late;   /* unexported after */
  char *changed;        /* changed after it was read */
  char *added;
} Changes;

static const char *
some_id (EmDbusTaskTable *table,
         const char      *other)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, em_dbus_task_table_get_objects (table));
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (g_strcmp0 (key, other) != 0)
      return key;
  g_assert_not_reached ();
}

static void
forget (EmDbusTaskTable *table,
        const char      *id)
{
  const char *ids[] = { id, NULL };

  em_dbus_task_table_forget (table, ids);
}

static void
change_early_cb (EmDbusTaskTable *table,
                 gpointer         user_data)
{
  Build *build = user_data;
  Changes *changes = build->act_data;
  GHashTableIter iter;
  gpointer key;

  /* the last id in the table's order is read last */
  g_hash_table_iter_init (&iter, em_dbus_task_table_get_objects (table));
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_free (changes->removed_early);
      changes->removed_early = g_strdup (key);
    }
  forget (table, changes->removed_early);

  build->act_at = build->turns + 9;
}

/* after the first pass read every object */
static void
change_late_cb (EmDbusTaskTable *table,
                gpointer         user_data)
{
  Build *build = user_data;
  Changes *changes = build->act_data;
  const char * const devices[] = { "camera", NULL };
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("added", "wait", NULL);
  g_autoptr(GError) error = NULL;
  EmTask *task;

  changes->removed_late = g_strdup (some_id (table, NULL));
  forget (table, changes->removed_late);
  changes->changed = g_strdup (some_id (table, NULL));
  task = em_dbus_task_object_get_task (em_dbus_task_table_lookup (table, changes->changed));
  em_task_set_waiting_for (task, devices);
  task = em_engine_manager_schedule_task (build->fx->manager, spec, &error);
  g_assert_no_error (error);
  changes->added = g_strdup (em_task_get_id (task));
  g_assert_nonnull (em_dbus_task_table_lookup (table, changes->added));
}

static void
change_cb (EmDbusTaskTable *table,
           gpointer         user_data)
{
  Build *build = user_data;

  if (build->turns == 1)
    change_early_cb (table, user_data);
  else
    change_late_cb (table, user_data);
}

static gboolean
has_object (GVariant   *objects,
            const char *id)
{
  g_autofree char *path = em_dbus_task_path (id);
  g_autoptr(GVariant) interfaces = g_variant_lookup_value (objects, path, NULL);

  return interfaces != NULL;
}

/* the reply is the table as it is when sent, as GLib's synchronous answer
 * was: objects removed during the build are not in it, one changed after it
 * was read is read again, one added is in it */
static void
test_managed_objects_changes (Fixture *fx, gconstpointer data)
{
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) interfaces = NULL;
  g_autoptr(GVariant) waiting_for = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *changed_path = NULL;
  Changes changes = { NULL };
  Build build = { fx, 0, 1, change_cb, &changes };

  schedule_pending (fx, 100);
  em_dbus_managed_objects_set_test_hook (10, build_hook_cb, &build);
  objects = managed_objects (fx, &error);
  em_dbus_managed_objects_set_test_hook (0, NULL, NULL);
  g_assert_no_error (error);

  g_assert_nonnull (changes.added);
  g_assert_cmpuint (build.turns, ==, 10);
  assert_objects_as_served (fx, objects, 100 - 2 + 1);
  g_assert_false (has_object (objects, changes.removed_early));
  g_assert_false (has_object (objects, changes.removed_late));
  g_assert_true (has_object (objects, changes.added));
  changed_path = em_dbus_task_path (changes.changed);
  interfaces = g_variant_lookup_value (objects, changed_path, NULL);
  g_assert_nonnull (interfaces);
  {
    g_autoptr(GVariant) properties = g_variant_lookup_value (interfaces, TASK_IFACE, NULL);

    waiting_for = g_variant_lookup_value (properties, "WaitingFor", G_VARIANT_TYPE_STRING_ARRAY);
  }
  g_assert_nonnull (waiting_for);
  g_assert_cmpuint (g_variant_n_children (waiting_for), ==, 1);

  g_free (changes.removed_early);
  g_free (changes.removed_late);
  g_free (changes.changed);
  g_free (changes.added);
}

/* a reply over what one D-Bus message may hold is refused as soon as the
 * objects read pass the limit, not once all were read; the bus would
 * disconnect the service for sending it */
static void
test_managed_objects_too_large (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) page = NULL;
  g_autofree char *remote = NULL;
  Build build = { fx };

  schedule_pending (fx, 40);
  g_object_set (fx->adapter, "max-reply-bytes", 8192, NULL);
  em_dbus_managed_objects_set_test_hook (5, build_hook_cb, &build);

  g_test_expect_message ("em-dbus", G_LOG_LEVEL_WARNING,
                         "refusing GetManagedObjects: 40 task objects take more than 8192 bytes");
  objects = managed_objects (fx, &error);
  g_test_assert_expected_messages ();
  em_dbus_managed_objects_set_test_hook (0, NULL, NULL);
  g_assert_null (objects);
  remote = g_dbus_error_get_remote_error (error);
  /* the service's own error, as every refusal of it, and as its interface
   * documents for this case */
  g_assert_cmpstr (remote, ==, "io.github.enginemanager.Error.Failed");
  g_assert_nonnull (strstr (error->message, "The 40 task objects take more than the 8192 bytes "
                                            "one D-Bus message may hold"));
  g_assert_nonnull (strstr (error->message, "ListTasks"));
  g_assert_cmpuint (build.turns, <, 40 / 5 / 2);
  g_clear_error (&error);

  g_assert_false (g_dbus_connection_is_closed (fx->service));
  page = list_tasks (fx, "({'limit': <uint32 5>},)", &error);
  g_assert_no_error (error);
}

static void
close_cb (EmDbusTaskTable *table,
          gpointer         user_data)
{
  GDBusConnection *leaving = ((Build *) user_data)->act_data;

  g_dbus_connection_close_sync (leaving, NULL, NULL);
}

/* calls that come during a build share it; one whose caller left meanwhile
 * is dropped by the bus */
static void
test_managed_objects_concurrent (Fixture *fx, gconstpointer data)
{
  g_autoptr(GDBusConnection) leaving = connect_bus (fx);
  GAsyncResult *results[3] = { NULL };
  g_autoptr(GAsyncResult) left = NULL;
  Build build = { fx, 0, 3, close_cb, leaving };

  schedule_pending (fx, 200);
  em_dbus_managed_objects_set_test_hook (10, build_hook_cb, &build);
  start_call (leaving, fx, EM_DBUS_MANAGER_PATH, OBJECT_MANAGER_IFACE, "GetManagedObjects",
              NULL, &left);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    start_call (fx->client, fx, EM_DBUS_MANAGER_PATH, OBJECT_MANAGER_IFACE, "GetManagedObjects",
                NULL, &results[i]);
  EM_TEST_WAIT_UNTIL (results[0] != NULL && results[1] != NULL && results[2] != NULL && left != NULL,
                      CALL_TIMEOUT_MS);
  em_dbus_managed_objects_set_test_hook (0, NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) objects = managed_objects_finish (fx->client, results[i], &error);

      g_assert_no_error (error);
      g_assert_cmpuint (g_variant_n_children (objects), ==, 200);
      g_object_unref (results[i]);
    }
  g_assert_cmpuint (build.turns, >=, 200 / 10);
}

/* each turn takes a while: time for the bus to say that a caller left */
static void
slow_hook_cb (EmDbusTaskTable *table,
              gpointer         user_data)
{
  build_hook_cb (table, user_data);
  g_usleep (2 * 1000);
}

/* a build whose only caller left stops: it read on to the end before, for a
 * reply nobody was there to receive */
static void
test_managed_objects_caller_leaves (Fixture *fx, gconstpointer data)
{
  g_autoptr(GDBusConnection) leaving = connect_bus (fx);
  g_autoptr(GAsyncResult) left = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GError) error = NULL;
  EmDbusSenderLimits *limits = em_dbus_manager_adapter_get_sender_limits (fx->adapter);
  Build build = { fx, 0, 3, close_cb, leaving };

  schedule_pending (fx, 1000);
  em_dbus_managed_objects_set_test_hook (10, slow_hook_cb, &build);
  start_call (leaving, fx, EM_DBUS_MANAGER_PATH, OBJECT_MANAGER_IFACE, "GetManagedObjects",
              NULL, &left);
  EM_TEST_WAIT_UNTIL (left != NULL && build.turns >= 3, CALL_TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (em_dbus_sender_limits_get_senders (limits) == 0, CALL_TIMEOUT_MS);
  g_test_message ("the build stopped after %u of 100 turns", build.turns);
  g_assert_cmpuint (build.turns, <, 1000 / 10 / 2);

  /* and the next caller gets a whole build of its own */
  build.act = NULL;
  objects = managed_objects (fx, &error);
  em_dbus_managed_objects_set_test_hook (0, NULL, NULL);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 1000);
}

static void
leave_bus_cb (EmDbusTaskTable *table,
              gpointer         user_data)
{
  Build *build = user_data;

  em_dbus_manager_adapter_unexport (build->fx->adapter);
}

/* the service leaving the bus answers the calls still being built */
static void
test_managed_objects_stop (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autofree char *remote = NULL;
  Build build = { fx, 0, 2, leave_bus_cb };

  schedule_pending (fx, 100);
  em_dbus_managed_objects_set_test_hook (10, build_hook_cb, &build);
  objects = managed_objects (fx, &error);
  em_dbus_managed_objects_set_test_hook (0, NULL, NULL);
  g_assert_null (objects);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "io.github.enginemanager.Error.Unavailable");
  g_assert_cmpuint (build.turns, ==, 2);
}

/* a task deleted from history (DELETE /tasks, retention) leaves the bus at
 * once: its object stayed for the rest of its grace period, showing a task
 * that GetTask and ListTasks no longer knew */
static void
test_deleted_task_unexported (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("deleted", "wait", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *path = NULL;
  g_autofree char *status = NULL;
  g_autofree char *gone = NULL;
  g_auto(EmTaskQuery) query;
  EmTask *task;
  guint deleted = 0;

  task = em_engine_manager_schedule_task (fx->manager, spec, &error);
  g_assert_no_error (error);
  path = em_dbus_task_path (em_task_get_id (task));
  g_object_ref (task);
  EM_TEST_WAIT_UNTIL (em_task_get_status (task) == EM_TASK_STATUS_COMPLETED, TIMEOUT_MS);
  g_object_unref (task);
  /* within the grace period, the object is there */
  status = task_status (fx, path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (status, ==, "completed");

  em_task_query_init (&query);
  query.statuses = EM_TASK_QUERY_STATUS (EM_TASK_STATUS_COMPLETED);
  em_engine_manager_delete_tasks_async (fx->manager, &query, NULL, replied_cb, &result);
  EM_TEST_WAIT_UNTIL (result != NULL, TIMEOUT_MS);
  g_assert_true (em_engine_manager_delete_tasks_finish (fx->manager, result, &deleted, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (deleted, ==, 1);

  gone = task_status (fx, path, &error);
  g_assert_null (gone);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
}

/* without a store, a finished task past keep-finished is gone as a deleted
 * one is, and so is its object */
static void
test_evicted_task_unexported (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("evicted", "wait", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;
  g_autofree char *gone = NULL;
  EmTask *task;

  g_object_set (fx->manager, "keep-finished", 0, NULL);
  task = em_engine_manager_schedule_task (fx->manager, spec, &error);
  g_assert_no_error (error);
  id = g_strdup (em_task_get_id (task));
  path = em_dbus_task_path (id);
  EM_TEST_WAIT_UNTIL (em_engine_manager_get_task (fx->manager, id) == NULL, TIMEOUT_MS);

  gone = task_status (fx, path, &error);
  g_assert_null (gone);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
}

static GDBusMessage *
count_reply_cb (GDBusConnection *connection,
                GDBusMessage    *message,
                gboolean         incoming,
                gpointer         user_data)
{
  if (!incoming && g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_RETURN)
    g_atomic_int_inc ((gint *) user_data);
  return message;
}

static void
service_started_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (em_dbus_service_start_finish (EM_DBUS_SERVICE (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

#define LISTED_TASKS 2000

/* a stop waits while the service is answering calls, then flushes its
 * connection and exits: a listing's reply, sent by a worker, must be on the
 * connection by the time its call stops counting, or the flush misses it and
 * the exit drops it */
static void
test_answering_until_sent (Fixture *fx, gconstpointer data)
{
  g_autoptr(EmDbusService) service = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean started = FALSE;
  gint replies = 0;
  guint filter;

  g_setenv ("DBUS_SESSION_BUS_ADDRESS", fx->bus_address, TRUE);
  service = em_dbus_service_new (fx->manager, NULL);
  em_dbus_service_start_async (service, NULL, service_started_cb, &started);
  EM_TEST_WAIT_UNTIL (started, TIMEOUT_MS);
  /* many tasks: a reply that takes a while to build and send */
  schedule_pending (fx, LISTED_TASKS);
  /* the connection the service answers on */
  connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  filter = g_dbus_connection_add_filter (connection, count_reply_cb, &replies, NULL);

  g_dbus_connection_call (fx->client, EM_DBUS_NAME, EM_DBUS_MANAGER_PATH, MANAGER_IFACE,
                          "ListTasks", g_variant_new_parsed ("(@a{sv} {},)"),
                          G_VARIANT_TYPE ("(aa{sv})"), G_DBUS_CALL_FLAGS_NONE, 6 * TIMEOUT_MS,
                          NULL, replied_cb, &result);
  EM_TEST_WAIT_UNTIL (em_dbus_service_is_answering (service), TIMEOUT_MS);
  /* as the stop looks, but without missing a moment */
  while (em_dbus_service_is_answering (service))
    g_main_context_iteration (NULL, FALSE);
  g_dbus_connection_flush_sync (connection, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_atomic_int_get (&replies), ==, 1);

  EM_TEST_WAIT_UNTIL (result != NULL, 6 * TIMEOUT_MS);
  reply = g_dbus_connection_call_finish (fx->client, result, &error);
  g_assert_no_error (error);
  g_dbus_connection_remove_filter (connection, filter);
  em_dbus_service_stop (service);
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
}

static gboolean
unexport_cb (gpointer user_data)
{
  em_dbus_manager_adapter_unexport (EM_DBUS_MANAGER_ADAPTER (user_data));
  return G_SOURCE_REMOVE;
}

/* the adapter leaves the bus, as a stop makes it, once the task is created
 * and its acknowledgement asked of the store, before that answers */
static void
leave_on_scheduled_cb (EmEngineManager *manager,
                       EmEvent         *event,
                       Fixture         *fx)
{
  if (em_event_get_event_type (event) == EM_EVENT_TASK_SCHEDULED)
    g_idle_add_full (G_PRIORITY_HIGH, unexport_cb, g_object_ref (fx->adapter), g_object_unref);
}

/* a submission the store took while the service left the bus is answered
 * as taken: "Unavailable: the service is shutting down" told the client it
 * was not, and one that sent it again had it run twice */
static void
test_acknowledged_while_leaving (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  const char *id = NULL;

  g_assert_true (em_engine_manager_open_store (fx->manager, &error));
  g_assert_no_error (error);
  g_signal_connect (fx->manager, "event", G_CALLBACK (leave_on_scheduled_cb), fx);

  reply = call_service (fx, MANAGER_IFACE, "ScheduleTask",
                        g_variant_new_parsed ("('left', 'wait', @a{sv} {}, @a{sv} {})"),
                        G_VARIANT_TYPE ("(so)"), &error);
  tasks = em_engine_manager_list_tasks (fx->manager, NULL, 0, 0, NULL);
  g_assert_cmpuint (tasks->len, ==, 1);
  g_assert_no_error (error);
  g_variant_get (reply, "(&so)", &id, NULL);
  g_assert_cmpstr (id, ==, em_task_get_id (g_ptr_array_index (tasks, 0)));
}

/* on a full queue a batch's items are still read, as ScheduleTask's and a
 * REST body's are: an invalid one is named, and only a valid batch is told
 * to come back when there is room */
static void
test_batch_invalid_on_full_queue (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *remote = NULL;

  g_object_set (fx->manager, "max-pending", 1, NULL);
  schedule_pending (fx, 1);

  reply = call_service (fx, MANAGER_IFACE, "ScheduleBatch",
                        g_variant_new_parsed ("([{'name': <'bad'>, 'action': <'no_such_action'>}], "
                                              "@a{sv} {})"),
                        G_VARIANT_TYPE ("(as)"), &error);
  g_assert_null (reply);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "io.github.enginemanager.Error.InvalidArgument");
  g_dbus_error_strip_remote_error (error);
  g_assert_true (g_str_has_prefix (error->message, "tasks[0] "));
  g_assert_nonnull (strstr (error->message, "action"));
  g_clear_error (&error);
  g_clear_pointer (&remote, g_free);

  reply = call_service (fx, MANAGER_IFACE, "ScheduleBatch",
                        g_variant_new_parsed ("([{'name': <'good'>, 'action': <'wait'>}], @a{sv} {})"),
                        G_VARIANT_TYPE ("(as)"), &error);
  g_assert_null (reply);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "io.github.enginemanager.Error.Unavailable");
  g_dbus_error_strip_remote_error (error);
  g_assert_nonnull (strstr (error->message, "the queue is full"));
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/dbus/adapter/queue-held-by-store", Fixture, NULL, fixture_setup,
              test_queue_held_by_store, fixture_teardown);
  g_test_add ("/dbus/adapter/queue-held-until-cancelled", Fixture, NULL, fixture_setup,
              test_queue_held_until_cancelled, fixture_teardown);
  g_test_add ("/dbus/adapter/queue-held-not-by-busy-device", Fixture, NULL, fixture_setup,
              test_queue_held_not_by_busy_device, fixture_teardown);
  g_test_add ("/dbus/adapter/queue-held-paused-by-listener", Fixture, NULL, fixture_setup,
              test_queue_held_paused_by_listener, fixture_teardown);
  g_test_add ("/dbus/adapter/queue-held-until-shutdown", Fixture, NULL, fixture_setup,
              test_queue_held_until_shutdown, fixture_teardown);
  g_test_add ("/dbus/adapter/progress-then-cancel", Fixture, NULL, fixture_setup,
              test_progress_then_cancel, fixture_teardown);
  g_test_add ("/dbus/adapter/listing-too-large", Fixture, NULL, fixture_setup,
              test_listing_too_large, fixture_teardown);
  g_test_add ("/dbus/adapter/listing-pages", Fixture, NULL, fixture_setup,
              test_listing_pages, fixture_teardown);
  g_test_add ("/dbus/adapter/listing-refused-early", Fixture, NULL, fixture_setup,
              test_listing_refused_early, fixture_teardown);
  g_test_add ("/dbus/adapter/cli-list-smaller-pages", Fixture, NULL, fixture_setup,
              test_cli_list_smaller_pages, fixture_teardown);
  g_test_add ("/dbus/adapter/history-read-by-bytes", Fixture, NULL, fixture_setup,
              test_history_read_by_bytes, fixture_teardown);
  g_test_add ("/dbus/adapter/events-pages", Fixture, NULL, fixture_setup,
              test_events_pages, fixture_teardown);
  g_test_add ("/dbus/adapter/cli-watch-since-pages", Fixture, NULL, fixture_setup,
              test_cli_watch_since_pages, fixture_teardown);
  g_test_add ("/dbus/adapter/managed-objects-too-large", Fixture, NULL, fixture_setup,
              test_managed_objects_too_large, fixture_teardown);
  g_test_add ("/dbus/adapter/managed-objects-as-served", Fixture, NULL, fixture_setup,
              test_managed_objects_as_served, fixture_teardown);
  g_test_add ("/dbus/adapter/managed-objects-loop-turns", Fixture, NULL, fixture_setup,
              test_managed_objects_loop_turns, fixture_teardown);
  g_test_add ("/dbus/adapter/managed-objects-changes", Fixture, NULL, fixture_setup,
              test_managed_objects_changes, fixture_teardown);
  g_test_add ("/dbus/adapter/managed-objects-concurrent", Fixture, NULL, fixture_setup,
              test_managed_objects_concurrent, fixture_teardown);
  g_test_add ("/dbus/adapter/managed-objects-caller-leaves", Fixture, NULL, fixture_setup,
              test_managed_objects_caller_leaves, fixture_teardown);
  g_test_add ("/dbus/adapter/managed-objects-stop", Fixture, NULL, fixture_setup,
              test_managed_objects_stop, fixture_teardown);
  g_test_add ("/dbus/adapter/deleted-task-unexported", Fixture, NULL, fixture_setup,
              test_deleted_task_unexported, fixture_teardown);
  g_test_add ("/dbus/adapter/evicted-task-unexported", Fixture, NULL, fixture_setup,
              test_evicted_task_unexported, fixture_teardown);
  g_test_add ("/dbus/adapter/answering-until-sent", Fixture, NULL, fixture_setup,
              test_answering_until_sent, fixture_teardown);
  g_test_add ("/dbus/adapter/acknowledged-while-leaving", Fixture, NULL, fixture_setup,
              test_acknowledged_while_leaving, fixture_teardown);
  g_test_add ("/dbus/adapter/batch-invalid-on-full-queue", Fixture, NULL, fixture_setup,
              test_batch_invalid_on_full_queue, fixture_teardown);

  return g_test_run ();
}
