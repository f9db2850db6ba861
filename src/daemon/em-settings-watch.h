#pragma once

#include <gio/gio.h>

#include "daemon/em-daemon-config.h"
#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

#define EM_TYPE_SETTINGS_WATCH (em_settings_watch_get_type ())
G_DECLARE_FINAL_TYPE (EmSettingsWatch, em_settings_watch, EM, SETTINGS_WATCH, GObject)

/* applies live changes of @settings to @manager and its devices: retention,
 * concurrency, stage and focus limits and speeds. Keys in @config's pinned list
 * (set on the command line) are left alone; the others say in the log that
 * they apply at the next start. */
EmSettingsWatch *em_settings_watch_new (GSettings            *settings,
                                        EmEngineManager      *manager,
                                        const EmDaemonConfig *config);

G_END_DECLS
