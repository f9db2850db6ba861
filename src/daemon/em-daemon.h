#pragma once

#include <gio/gio.h>

#include "daemon/em-daemon-config.h"
#include "engine/em-engine-manager.h"

G_BEGIN_DECLS


#define EM_TYPE_DAEMON (em_daemon_get_type ())
G_DECLARE_FINAL_TYPE (EmDaemon, em_daemon, EM, DAEMON, GObject)

/* @settings: (nullable): live changes of it are applied while the daemon runs */
EmDaemon *em_daemon_new          (const EmDaemonConfig *config,
                                  GSettings            *settings);
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
/* whether it stopped on its own because it could no longer serve (the bus
 * name was lost), having logged why */
gboolean  em_daemon_get_failed   (EmDaemon            *self);
/* (nullable): the engine, once started */
EmEngineManager *em_daemon_get_engine (EmDaemon *self);

G_END_DECLS
