#include "config.h"

#include <gst/gst.h>

#include "daemon/em-daemon.h"
#include "em-test-util.h"

/*
 * The whole daemon, in process, on a private data directory with the REST
 * server on a free port and no bus: a stop waits for the acknowledgements
 * asked for before it, and then everything, camera included, winds down.
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

static void
test_stop_answers_acknowledgements (void)
{
  g_auto(EmDaemonConfig) config = { 0, };
  g_autofree char *data_dir = em_test_mkdtemp ();
  Fixture fx = { 0, };
  EmEngineManager *engine;

  em_daemon_config_init_defaults (&config);
  g_free (config.data_dir);
  config.data_dir = g_strdup (data_dir);
  config.http_port = 0;
  config.bus = EM_BUS_NONE;
  fx.daemon = em_daemon_new (&config, NULL);
  g_signal_connect (fx.daemon, "stopped", G_CALLBACK (stopped_cb), &fx);
  em_daemon_start_async (fx.daemon, NULL, started_cb, &fx);
  EM_TEST_WAIT_UNTIL (fx.started, 20000);
  engine = em_daemon_get_engine (fx.daemon);
  g_assert_nonnull (engine);

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

int
main (int argc, char **argv)
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/stop/answers-acknowledgements", test_stop_answers_acknowledgements);
  status = g_test_run ();
  gst_deinit ();
  return status;
}
