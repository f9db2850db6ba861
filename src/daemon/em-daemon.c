#define G_LOG_DOMAIN "engine-manager"

#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "actions/em-builtin-actions.h"
#include "actions/em-image-dir.h"
#include "daemon/em-daemon.h"
#include "daemon/em-settings-watch.h"
#include "dbus/em-dbus-service.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "rest/em-rest-server.h"

/* how long cancelled actions, then unanswered acknowledgements, may take to
 * wind down before the daemon exits anyway */
#define STOP_GRACE_MS 5000
#define STOP_POLL_MS 20
/* the bus connection's last flush, even when the grace has run out */
#define STOP_FLUSH_MIN_MS 1000
/* how long a start by the bus waits for another service to close the task
 * database: a stopping one leaves the bus before it has, and a call in
 * between has the bus start this one. Past its stop's grace, and within the
 * bus's 25 s for an activated service to take its name */
#define STORE_WAIT_S 15
#define STORE_RETRY_MS 100

struct _EmDaemon
{
  GObject          parent_instance;

  EmDaemonConfig   config;
  GSettings       *settings;
  EmSettingsWatch *watch;
  EmEngineManager *manager;
  EmRestServer    *rest;
  EmDbusService   *dbus;
  gboolean         stopping;
  /* it stopped on its own because it could no longer serve */
  gboolean         failed;
  gboolean         clients_closed;
  gint64           stop_deadline;
  /* the bus connection under way: a stop cancels it, and waits for its
   * answer, since until then it holds the D-Bus service and the engine */
  GCancellable    *bus_cancellable;
  gulong           bus_cancel_id;
  gboolean         bus_starting;
  gboolean         bus_flushed;
  /* the start while it waits for the task database's lock */
  GTask           *store_task;
  guint            store_retry_id;
  gint64           store_deadline;
};

G_DEFINE_FINAL_TYPE (EmDaemon, em_daemon, G_TYPE_OBJECT)

enum {
  SIGNAL_STOPPED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
em_daemon_finalize (GObject *object)
{
  EmDaemon *self = EM_DAEMON (object);

  g_clear_object (&self->watch);
  g_clear_object (&self->settings);
  g_clear_object (&self->bus_cancellable);
  g_clear_object (&self->dbus);
  g_clear_object (&self->rest);
  g_clear_object (&self->manager);
  em_daemon_config_clear (&self->config);

  G_OBJECT_CLASS (em_daemon_parent_class)->finalize (object);
}

static void
em_daemon_class_init (EmDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = em_daemon_finalize;

  signals[SIGNAL_STOPPED] = g_signal_new ("stopped", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 0);
}

static void
em_daemon_init (EmDaemon *self)
{
}

EmDaemon *
em_daemon_new (const EmDaemonConfig *config,
               GSettings            *settings)
{
  EmDaemon *self = g_object_new (EM_TYPE_DAEMON, NULL);

  em_daemon_config_copy (&self->config, config);
  if (settings != NULL)
    self->settings = g_object_ref (settings);
  return self;
}

typedef enum {
  DATA_DIR_DEFAULT,
  DATA_DIR_OPTION,
  DATA_DIR_SETTING,
} DataDirSource;

/* every user who can write here can swap the task database, or put links
 * where the images and a tile scan's directory go: the service works all the
 * same, but the operator must know */
static void
warn_if_shared (const char *directory)
{
  GStatBuf info;

  if (g_stat (directory, &info) == 0 && (info.st_mode & S_IWOTH) != 0)
    g_warning (_("The directory “%s” can be written by every user, who could replace "
                 "the task database or the images in it; make it private with chmod 750"),
               directory);
}

/* @source: what chose it, so the message says what to change */
static gboolean
prepare_data_dir (const char *data_dir, DataDirSource source, GError **error)
{
  g_autofree char *images = g_build_filename (data_dir, "images", NULL);

  /* task results name files inside it, and JSON and D-Bus strings are UTF-8
   * only: such a path would break every answer that carries one */
  if (!g_utf8_validate (data_dir, -1, NULL))
    {
      g_autofree char *shown = g_filename_display_name (data_dir);

      if (source == DATA_DIR_OPTION)
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("--data-dir: “%s” is not valid UTF-8; task results hold paths "
                       "inside it, and JSON and D-Bus carry only UTF-8"), shown);
      else if (source == DATA_DIR_SETTING)
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("The data directory “%s” of the setting data-dir is not valid UTF-8; "
                       "task results hold paths inside it, and JSON and D-Bus carry only "
                       "UTF-8. Choose another with “gsettings set %s data-dir DIR”, or "
                       "with --data-dir"), shown, EM_APP_ID);
      else
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("The data directory “%s” is not valid UTF-8; task results hold "
                       "paths inside it, and JSON and D-Bus carry only UTF-8. Choose "
                       "another with --data-dir"), shown);
      return FALSE;
    }

  /* startup only, before the loop serves anyone */
  if (g_file_test (data_dir, G_FILE_TEST_EXISTS) &&
      !g_file_test (data_dir, G_FILE_TEST_IS_DIR))
    {
      if (source == DATA_DIR_OPTION)
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("--data-dir: “%s” is not a directory"), data_dir);
      else if (source == DATA_DIR_SETTING)
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("The data directory “%s” of the setting data-dir is not a "
                       "directory; choose another with “gsettings set %s data-dir "
                       "DIR”, or with --data-dir"), data_dir, EM_APP_ID);
      else
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("The data directory “%s” is not a directory; choose another "
                       "with --data-dir"), data_dir);
      return FALSE;
    }
  if (g_mkdir_with_parents (images, 0750) != 0)
    {
      int saved_errno = errno;

      if (source == DATA_DIR_OPTION)
        g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                     _("--data-dir: cannot create “%s”: %s"),
                     images, g_strerror (saved_errno));
      else if (source == DATA_DIR_SETTING)
        g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                     _("Cannot create the data directory “%s” of the setting data-dir: "
                       "%s; choose another with “gsettings set %s data-dir DIR”, "
                       "or with --data-dir"),
                     images, g_strerror (saved_errno), EM_APP_ID);
      else
        g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                     _("Cannot create the data directory “%s”: %s"),
                     images, g_strerror (saved_errno));
      return FALSE;
    }
  warn_if_shared (data_dir);
  warn_if_shared (images);
  return TRUE;
}

static DataDirSource
data_dir_source (EmDaemon *self)
{
  g_autofree char *setting = NULL;

  if (em_daemon_config_is_pinned (&self->config, "data-dir"))
    return DATA_DIR_OPTION;
  /* the settings were read into the configuration just before: a value
   * there is where the directory came from */
  if (self->settings != NULL)
    setting = g_settings_get_string (self->settings, "data-dir");
  return setting != NULL && *setting != '\0' ? DATA_DIR_SETTING : DATA_DIR_DEFAULT;
}

static void
swept_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  guint removed = em_image_dir_sweep_temporaries_finish (result);

  if (removed > 0)
    g_debug ("removed %u temporaries of image writes a stop interrupted", removed);
}

static EmEngineManager *
build_engine (const EmDaemonConfig *config)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new (config->camera_pipeline,
                                                  config->camera_width,
                                                  config->camera_height);
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);

  em_stage_set_limits (stage, &config->stage_min, &config->stage_max);
  em_stage_set_default_speed (stage, config->stage_speed);
  em_focus_set_limits (focus, config->focus_min, config->focus_max);
  em_focus_set_default_speed (focus, config->focus_speed);
  em_builtin_actions_register (registry);
  return em_engine_manager_new (registry, devices, config->data_dir);
}

/* a token file asks for authentication: never serve without it */
static gboolean
apply_token_file (EmRestServer *rest,
                  const char   *token_file,
                  GError      **error)
{
  if (token_file == NULL)
    return TRUE;
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (rest), "token-file") == NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("token-file: this build of the REST server cannot check tokens; "
                     "clear the setting or serve D-Bus only with --no-http"));
      return FALSE;
    }
  g_object_set (rest, "token-file", token_file, NULL);
  return TRUE;
}

/* access control and limits of the REST server; the token comes from a file
 * or the environment, never from the command line */
static void
apply_rest_options (EmRestServer         *rest,
                    const EmDaemonConfig *config)
{
  if (config->token_file == NULL && config->token != NULL && *config->token != '\0')
    g_object_set (rest, "token", config->token, NULL);
  g_object_set (rest,
                "insecure", config->insecure,
                "tls-certificate-file", config->tls_certificate,
                "tls-key-file", config->tls_key,
                "cors-origins", config->cors_origins,
                NULL);
  if (config->ws_max_clients > 0)
    g_object_set (rest, "ws-max-clients", (guint) config->ws_max_clients, NULL);
  if (config->max_header_size >= 0)
    g_object_set (rest, "max-header-size", (guint) config->max_header_size, NULL);
  if (config->idle_timeout >= 0)
    g_object_set (rest, "idle-timeout", (guint) config->idle_timeout, NULL);
}

static void
dbus_started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EmDaemon *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;

  self->bus_starting = FALSE;
  g_cancellable_disconnect (g_task_get_cancellable (task), self->bus_cancel_id);
  self->bus_cancel_id = 0;
  if (!em_dbus_service_start_finish (self->dbus, result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* where it listens, as "Listening on" says for HTTP; with --no-http the only place */
  g_message (_("Serving %s on the session bus"), EM_APP_ID);
  g_task_return_boolean (task, TRUE);
}

static void
cancel_bus_cb (GCancellable *cancellable, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static void
name_lost_cb (EmDbusService *dbus, EmDaemon *self)
{
  /* clients can no longer reach it: a service manager must see a failure
   * and may restart it */
  g_warning (_("Lost the D-Bus name %s; stopping"), EM_APP_ID);
  self->failed = TRUE;
  em_daemon_stop (self);
}

static void     serve          (EmDaemon *self,
                                GTask    *owned_task,
                                gint64    started_s);
static gboolean store_retry_cb (gpointer  user_data);

void
em_daemon_start_async (EmDaemon            *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  /* before anything can write an image */
  gint64 started_s = g_get_real_time () / G_USEC_PER_SEC;

  g_task_set_source_tag (task, em_daemon_start_async);

  /* the settings' limits, before anything is created */
  if (!em_daemon_check_stage_limits (&self->config.stage_min, &self->config.stage_max, &error) ||
      !em_daemon_check_focus_limits (self->config.focus_min, self->config.focus_max, &error) ||
      !em_daemon_check_speed ("stage-speed", self->config.stage_speed, &error) ||
      !em_daemon_check_speed ("focus-speed", self->config.focus_speed, &error) ||
      (self->config.http_enabled && self->config.http_address != NULL &&
       !em_daemon_check_http_address ("http-address", self->config.http_address, &error)))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* image paths are recorded under it and handed to clients: relative to
   * this start's working directory they would mean nothing to a client, nor
   * to the next start */
  if (!g_path_is_absolute (self->config.data_dir))
    {
      g_autofree char *relative = g_steal_pointer (&self->config.data_dir);

      self->config.data_dir = g_canonicalize_filename (relative, NULL);
    }

  if (!prepare_data_dir (self->config.data_dir, data_dir_source (self), &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  self->manager = build_engine (&self->config);
  g_object_set (self->manager,
                "max-concurrent", self->config.max_concurrent,
                "retention-max-tasks", self->config.retention_max_tasks,
                "retention-max-age", (gdouble) self->config.retention_max_age_days * 24 * 3600,
                NULL);
  /* the engine's limit, with or without HTTP: 429 over REST, Unavailable over D-Bus */
  if (self->config.max_pending >= 0)
    g_object_set (self->manager, "max-pending", (guint) self->config.max_pending, NULL);
  if (self->config.keep_finished >= 0)
    g_object_set (self->manager, "keep-finished", (guint) self->config.keep_finished, NULL);
  if (self->config.keep_finished_bytes >= 0)
    g_object_set (self->manager, "keep-finished-bytes", (guint64) self->config.keep_finished_bytes, NULL);
  if (self->config.finished_cache_size > 0)
    g_object_set (self->manager, "finished-cache-size", (guint) self->config.finished_cache_size, NULL);
  if (self->settings != NULL)
    self->watch = em_settings_watch_new (self->settings, self->manager, &self->config);
  /* the record comes back before anyone is served; a bad file stops startup */
  if (self->config.in_memory)
    g_warning (_("No task database (--in-memory): the history is lost when the service stops"));
  else if (!em_engine_manager_open_store (self->manager, &error))
    {
      /* locked, with the bus starting this one for a call (it says so in
       * the environment): the service before it may be closing it. Started
       * by hand, a second service is told at once */
      if (!g_error_matches (error, EM_ERROR, EM_ERROR_UNAVAILABLE) ||
          g_getenv ("DBUS_STARTER_BUS_TYPE") == NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      g_message (_("%s Waiting up to %d s for it to be released."), error->message, STORE_WAIT_S);
      self->store_task = g_steal_pointer (&task);
      self->store_deadline = g_get_monotonic_time () + STORE_WAIT_S * G_USEC_PER_SEC;
      self->store_retry_id = g_timeout_add (STORE_RETRY_MS, store_retry_cb, self);
      return;
    }
  serve (self, g_steal_pointer (&task), started_s);
}

static void
serve (EmDaemon *self,
       GTask    *owned_task,
       gint64    started_s)
{
  g_autoptr(GTask) task = owned_task;
  g_autoptr(GError) error = NULL;
  g_autofree char *base_url = NULL;

  /* a write cut short by a crash left its temporaries; writes from now on
   * are this run's and keep theirs. After the store: a second service that
   * cannot have it must not touch the first one's writes */
  {
    g_autofree char *images = g_build_filename (self->config.data_dir, "images", NULL);

    em_image_dir_sweep_temporaries_async (images, started_s, swept_cb, NULL);
  }
  g_message (_("Data directory: %s"), self->config.data_dir);
  g_message (_("Camera: %s"), self->config.camera_pipeline);

  if (self->config.http_enabled)
    {
      self->rest = em_rest_server_new (self->manager);
      apply_rest_options (self->rest, &self->config);
      if (!apply_token_file (self->rest, self->config.token_file, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      /* its errors say which setting is at fault (a token file that is not
       * private, a bad address) or that the port is taken: no prefix here */
      if (!em_rest_server_listen (self->rest, self->config.http_address,
                                  self->config.http_port, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      base_url = em_rest_server_get_base_url (self->rest);
      g_message (_("Listening on %s"), base_url);
    }

  if (self->config.bus == EM_BUS_NONE)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  self->dbus = em_dbus_service_new (self->manager, base_url);
  if (self->config.dbus_max_calls_per_sender > 0)
    g_object_set (self->dbus, "max-calls-per-sender",
                  (guint) self->config.dbus_max_calls_per_sender, NULL);
  g_signal_connect (self->dbus, "name-lost", G_CALLBACK (name_lost_cb), self);
  /* cancelled by a stop as by the caller */
  self->bus_cancellable = g_cancellable_new ();
  if (g_task_get_cancellable (task) != NULL)
    self->bus_cancel_id = g_cancellable_connect (g_task_get_cancellable (task),
                                                 G_CALLBACK (cancel_bus_cb),
                                                 g_object_ref (self->bus_cancellable),
                                                 g_object_unref);
  self->bus_starting = TRUE;
  em_dbus_service_start_async (self->dbus, self->bus_cancellable, dbus_started_cb,
                               g_steal_pointer (&task));
}

static gboolean
store_retry_cb (gpointer user_data)
{
  EmDaemon *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  /* the other service's writes ended when it let go of the store */
  gint64 started_s = g_get_real_time () / G_USEC_PER_SEC;

  if (!em_engine_manager_open_store (self->manager, &error) &&
      g_error_matches (error, EM_ERROR, EM_ERROR_UNAVAILABLE) &&
      g_get_monotonic_time () < self->store_deadline)
    return G_SOURCE_CONTINUE;

  self->store_retry_id = 0;
  task = g_steal_pointer (&self->store_task);
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    serve (self, g_steal_pointer (&task), started_s);
  return G_SOURCE_REMOVE;
}

gboolean
em_daemon_start_finish (EmDaemon *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
wait_idle_cb (gpointer user_data)
{
  EmDaemon *self = user_data;
  gint64 now = g_get_monotonic_time ();

  if (!self->clients_closed)
    {
      /* a request the engine has answered, a submission above all, gets its
       * answer written before the connections go */
      if (((self->manager != NULL && em_engine_manager_is_busy (self->manager)) ||
           (self->rest != NULL && em_rest_server_is_answering (self->rest))) &&
          now < self->stop_deadline)
        return G_SOURCE_CONTINUE;

      /* the cancelled events have gone out; now say goodbye to the clients */
      if (self->rest != NULL)
        em_rest_server_shutdown (self->rest);
      if (self->dbus != NULL)
        em_dbus_service_stop (self->dbus);
      self->clients_closed = TRUE;
      self->stop_deadline = now + STOP_GRACE_MS * G_TIME_SPAN_MILLISECOND;
    }
  /* acknowledgements asked for before the clients went, history requests
   * (a listing, a lookup, a deletion, a pruning) and bus calls still waiting
   * on the task database hold the engine; left unanswered, it and its
   * camera's streaming thread would outlive the loop, its store never closed
   * nor its journal emptied, and the exit would hang.
   * A WebSocket client slow to read has its close frame still queued behind
   * the socket, which the exit would drop: it would see the connection cut */
  if (((self->manager != NULL && (em_engine_manager_is_acknowledging (self->manager) ||
                                  em_engine_manager_has_store_requests (self->manager))) ||
       self->bus_starting ||
       (self->dbus != NULL && em_dbus_service_is_answering (self->dbus)) ||
       (self->rest != NULL && em_rest_server_is_flushing (self->rest))) &&
      now < self->stop_deadline)
    return G_SOURCE_CONTINUE;

  /* the bus connection writes from a queue of its own, which the exit would
   * drop: the last replies and signals, the stop's InterfacesRemoved among
   * them, are written out first */
  if (self->dbus != NULL && !self->bus_flushed)
    {
      self->bus_flushed = TRUE;
      em_dbus_service_flush (self->dbus);
      self->stop_deadline = MAX (self->stop_deadline,
                                 now + STOP_FLUSH_MIN_MS * G_TIME_SPAN_MILLISECOND);
    }
  if (self->dbus != NULL && em_dbus_service_is_flushing (self->dbus) &&
      now < self->stop_deadline)
    return G_SOURCE_CONTINUE;

  g_signal_emit (self, signals[SIGNAL_STOPPED], 0);
  return G_SOURCE_REMOVE;
}

void
em_daemon_stop (EmDaemon *self)
{
  g_return_if_fail (EM_IS_DAEMON (self));

  if (self->stopping)
    return;
  self->stopping = TRUE;
  self->stop_deadline = g_get_monotonic_time () + STOP_GRACE_MS * G_TIME_SPAN_MILLISECOND;
  g_clear_object (&self->watch);
  if (self->bus_cancellable != NULL)
    g_cancellable_cancel (self->bus_cancellable);
  if (self->store_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->store_task);

      g_clear_handle_id (&self->store_retry_id, g_source_remove);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("Stopped while waiting for the task database"));
    }

  if (self->manager != NULL)
    em_engine_manager_shutdown (self->manager);
  if (self->rest != NULL)
    em_rest_server_drain (self->rest);
  g_timeout_add_full (G_PRIORITY_DEFAULT, STOP_POLL_MS, wait_idle_cb,
                      g_object_ref (self), g_object_unref);
}

gboolean
em_daemon_get_failed (EmDaemon *self)
{
  g_return_val_if_fail (EM_IS_DAEMON (self), FALSE);
  return self->failed;
}

EmEngineManager *
em_daemon_get_engine (EmDaemon *self)
{
  g_return_val_if_fail (EM_IS_DAEMON (self), NULL);
  return self->manager;
}
