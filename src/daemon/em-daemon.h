#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  EM_BUS_SESSION,
  EM_BUS_NONE,
} EmBusType;

/* everything the daemon can be told, after defaults and command line are merged */
typedef struct {
  char      *http_address;
  guint      http_port;
  gboolean   http_enabled;
  char      *data_dir;
  char      *camera_pipeline;
  guint      camera_width;
  guint      camera_height;
  EmBusType  bus;
  /* retention of finished history in the task database; 0: keep everything */
  guint      retention_max_tasks;
  guint      retention_max_age_days;
} EmDaemonConfig;

void em_daemon_config_init_defaults (EmDaemonConfig *config);
void em_daemon_config_clear         (EmDaemonConfig *config);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EmDaemonConfig, em_daemon_config_clear)

#define EM_TYPE_DAEMON (em_daemon_get_type ())
G_DECLARE_FINAL_TYPE (EmDaemon, em_daemon, EM, DAEMON, GObject)

EmDaemon *em_daemon_new          (const EmDaemonConfig *config);
/* builds the engine and devices and starts the transports; on failure the daemon
 * is unusable and @error says why in words a user can act on */
void      em_daemon_start_async  (EmDaemon            *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
gboolean  em_daemon_start_finish (EmDaemon            *self,
                                  GAsyncResult        *result,
                                  GError             **error);
/* cancels work, closes clients; emits `stopped` once everything has wound down */
void      em_daemon_stop         (EmDaemon            *self);

G_END_DECLS
