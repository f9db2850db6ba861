#include "config.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "daemon/em-daemon.h"
#include "engine/em-task-spec.h"
#include "em-test-util.h"

/*
 * The whole daemon, in process, on a private data directory with the REST
 * server on a free port and no bus: a stop waits for the acknowledgements
 * and the history queries asked for before it, and then everything, engine
 * and camera included, winds down.
 */

/* well past the daemon's first look at whether it may stop; and however
 * slow the machine, a chain and not a single acknowledgement */
#define CHAIN_MS 200
#define CHAIN_MIN 3

typedef struct {
  EmDaemon *daemon;
  gboolean  started;
  gboolean  stopped;
  gint64    chain_end;
  guint     asked;
  guint     answered;
  guint     asked_at_stop;
  guint     answered_at_stop;
} Fixture;

static void
started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (em_daemon_start_finish (EM_DAEMON (source), result, &error));
  g_assert_no_error (error);
  fx->started = TRUE;
}

static void
stopped_cb (EmDaemon *daemon, Fixture *fx)
{
  fx->stopped = TRUE;
  fx->asked_at_stop = fx->asked;
  fx->answered_at_stop = fx->answered;
}

/* each answer asks for the next one, so one is always waiting on the store */
static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error));
  g_assert_no_error (error);
  fx->answered++;
  if (g_get_monotonic_time () < fx->chain_end || fx->asked < CHAIN_MIN)
    {
      fx->asked++;
      em_engine_manager_sync_async (EM_ENGINE_MANAGER (source), NULL, synced_cb, fx);
    }
}

/* each answer asks for the next listing, so one always waits on the store */
static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  g_auto(EmTaskQuery) query = { 0, };

  tasks = em_engine_manager_query_tasks_finish (EM_ENGINE_MANAGER (source), result, NULL, NULL,
                                                &error);
  g_assert_no_error (error);
  g_assert_nonnull (tasks);
  fx->answered++;
  if (g_get_monotonic_time () < fx->chain_end || fx->asked < CHAIN_MIN)
    {
      fx->asked++;
      em_task_query_init (&query);
      em_engine_manager_query_tasks_async (EM_ENGINE_MANAGER (source), &query, NULL, listed_cb, fx);
    }
}

static EmEngineManager *
start_daemon (Fixture *fx, const char *data_dir)
{
  g_auto(EmDaemonConfig) config = { 0, };
  EmEngineManager *engine;

  em_daemon_config_init_defaults (&config);
  g_free (config.data_dir);
  config.data_dir = g_strdup (data_dir);
  config.http_port = 0;
  config.bus = EM_BUS_NONE;
  fx->daemon = em_daemon_new (&config, NULL);
  g_signal_connect (fx->daemon, "stopped", G_CALLBACK (stopped_cb), fx);
  em_daemon_start_async (fx->daemon, NULL, started_cb, fx);
  EM_TEST_WAIT_UNTIL (fx->started, 20000);
  engine = em_daemon_get_engine (fx->daemon);
  g_assert_nonnull (engine);
  return engine;
}

static void
test_stop_answers_acknowledgements (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  Fixture fx = { 0, };
  EmEngineManager *engine = start_daemon (&fx, data_dir);

  fx.chain_end = g_get_monotonic_time () + CHAIN_MS * G_TIME_SPAN_MILLISECOND;
  fx.asked = 1;
  em_engine_manager_sync_async (engine, NULL, synced_cb, &fx);
  em_daemon_stop (fx.daemon);
  g_assert_true (em_engine_manager_is_acknowledging (engine));
  EM_TEST_WAIT_UNTIL (fx.stopped, 20000);

  /* every acknowledgement was answered before the daemon called itself stopped */
  g_assert_cmpuint (fx.asked_at_stop, >=, CHAIN_MIN);
  g_assert_cmpuint (fx.answered_at_stop, ==, fx.asked_at_stop);
  g_assert_false (em_engine_manager_is_acknowledging (engine));
  /* nothing holds the engine any more: the daemon, the engine and the camera go */
  g_assert_finalize_object (fx.daemon);
  em_test_rmdir (data_dir);
}

/* a listing answered from the task database holds the engine until its
 * answer: a stop that did not wait left the engine, and with it the store,
 * open past the loop, and the journal unemptied */
static void
test_stop_answers_queries (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autofree char *journal = g_build_filename (data_dir, "tasks.journal", NULL);
  g_auto(EmTaskQuery) query = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("w", "wait", NULL);
  Fixture fx = { 0, };
  EmEngineManager *engine = start_daemon (&fx, data_dir);
  GStatBuf info;

  /* something for the journal to hold until the store closes */
  g_assert_nonnull (em_engine_manager_schedule_task (engine, spec, &error));
  g_assert_no_error (error);

  fx.chain_end = g_get_monotonic_time () + CHAIN_MS * G_TIME_SPAN_MILLISECOND;
  fx.asked = 1;
  em_task_query_init (&query);
  em_engine_manager_query_tasks_async (engine, &query, NULL, listed_cb, &fx);
  em_daemon_stop (fx.daemon);
  EM_TEST_WAIT_UNTIL (fx.stopped, 20000);

  g_assert_cmpuint (fx.asked_at_stop, >=, CHAIN_MIN);
  g_assert_cmpuint (fx.answered_at_stop, ==, fx.asked_at_stop);
  g_object_add_weak_pointer (G_OBJECT (engine), (gpointer *) &engine);
  g_assert_finalize_object (fx.daemon);
  /* the engine went with the daemon, and closed its store: nothing to replay */
  g_assert_null (engine);
  g_assert_cmpint (g_stat (journal, &info), ==, 0);
  g_assert_cmpint (info.st_size, ==, 0);
  em_test_rmdir (data_dir);
}

/* a session bus that takes the connection but never answers: the daemon's
 * start waits for it for as long as the test likes */
static GSocket *
silent_bus (const char *dir, char **address)
{
  g_autofree char *path = g_build_filename (dir, "bus", NULL);
  g_autoptr(GSocketAddress) socket_address = g_unix_socket_address_new (path);
  g_autoptr(GError) error = NULL;
  GSocket *listener;

  listener = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  g_socket_bind (listener, socket_address, TRUE, &error);
  g_assert_no_error (error);
  g_socket_listen (listener, &error);
  g_assert_no_error (error);
  *address = g_strconcat ("unix:path=", path, NULL);
  return listener;
}

static void
start_failed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr(GError) error = NULL;

  /* cut short by the stop, as asked */
  g_assert_false (em_daemon_start_finish (EM_DAEMON (source), result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  fx->started = TRUE;
}

/* a stop while the daemon still connects to the session bus: the connection
 * attempt held the D-Bus service, and with it the engine, past the stop; the
 * engine never closed its store */
static void
test_stop_while_connecting (void)
{
  g_autofree char *data_dir = em_test_mkdtemp ();
  g_autofree char *journal = g_build_filename (data_dir, "tasks.journal", NULL);
  g_autofree char *address = NULL;
  g_autofree char *old_address = g_strdup (g_getenv ("DBUS_SESSION_BUS_ADDRESS"));
  g_autoptr(GSocket) bus = silent_bus (data_dir, &address);
  g_auto(EmDaemonConfig) config = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(EmTaskSpec) spec = em_task_spec_new ("w", "wait", NULL);
  Fixture fx = { 0, };
  EmEngineManager *engine;
  GStatBuf info;

  g_setenv ("DBUS_SESSION_BUS_ADDRESS", address, TRUE);
  em_daemon_config_init_defaults (&config);
  g_free (config.data_dir);
  config.data_dir = g_strdup (data_dir);
  config.http_enabled = FALSE;
  config.bus = EM_BUS_SESSION;
  fx.daemon = em_daemon_new (&config, NULL);
  g_signal_connect (fx.daemon, "stopped", G_CALLBACK (stopped_cb), &fx);
  em_daemon_start_async (fx.daemon, NULL, start_failed_cb, &fx);
  engine = em_daemon_get_engine (fx.daemon);
  g_assert_nonnull (engine);
  g_object_add_weak_pointer (G_OBJECT (engine), (gpointer *) &engine);
  /* something for the journal to hold until the store closes */
  g_assert_nonnull (em_engine_manager_schedule_task (engine, spec, &error));
  g_assert_no_error (error);
  /* well into the wait for the bus */
  em_test_run_for (200);
  g_assert_false (fx.started);

  em_daemon_stop (fx.daemon);
  EM_TEST_WAIT_UNTIL (fx.stopped, 20000);
  /* the attempt was given up, and its answer came before the stop ended */
  g_assert_true (fx.started);
  g_assert_finalize_object (fx.daemon);
  g_assert_null (engine);
  g_assert_cmpint (g_stat (journal, &info), ==, 0);
  g_assert_cmpint (info.st_size, ==, 0);

  if (old_address != NULL)
    g_setenv ("DBUS_SESSION_BUS_ADDRESS", old_address, TRUE);
  else
    g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  g_socket_close (bus, NULL);
  em_test_rmdir (data_dir);
}

int
main (int argc, char **argv)
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/stop/answers-acknowledgements", test_stop_answers_acknowledgements);
  g_test_add_func ("/daemon/stop/answers-queries", test_stop_answers_queries);
  g_test_add_func ("/daemon/stop/while-connecting", test_stop_while_connecting);
  status = g_test_run ();
  gst_deinit ();
  return status;
}
