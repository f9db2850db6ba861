#pragma once

#include <gio/gio.h>

#include "devices/em-stage.h"

G_BEGIN_DECLS

typedef enum {
  EM_BUS_SESSION,
  EM_BUS_NONE,
} EmBusType;

/* 100 000 years: in microseconds, as the store compares ages, a day count
 * much larger would not fit in 64 bits; the schema's range says the same */
#define EM_RETENTION_MAX_AGE_DAYS_MAX 36500000

/* everything the daemon can be told: built-in defaults, then GSettings, then
 * the command line on top */
typedef struct {
  char            *http_address;
  guint            http_port;
  gboolean         http_enabled;
  char            *token_file;
  /* ENGINE_MANAGER_TOKEN, taken out of the environment at startup; used
   * when no token file is set */
  char            *token;
  /* REST access control and limits; 0 or %NULL: the server's defaults */
  gboolean         insecure;
  char            *tls_certificate;
  char            *tls_key;
  GStrv            cors_origins;
  gint             max_pending;
  /* finished tasks kept in memory whole, then by final status only (for
   * depends_on); -1 (or 0 for the second): the engine's defaults */
  gint             keep_finished;
  gint             finished_cache_size;
  /* bytes of JSON those kept whole hold at most; -1: the engine's default */
  gint             keep_finished_bytes;
  gint             ws_max_clients;
  gint             max_header_size;
  gint             idle_timeout;
  char            *data_dir;
  char            *camera_pipeline;
  guint            camera_width;
  guint            camera_height;
  EmStagePosition  stage_min;
  EmStagePosition  stage_max;
  gdouble          stage_speed;
  gdouble          focus_min;
  gdouble          focus_max;
  gdouble          focus_speed;
  EmBusType        bus;
  /* D-Bus calls one sender may have in flight; -1: the service's default */
  gint             dbus_max_calls_per_sender;
  guint            max_concurrent;
  /* retention of finished history in the task database; 0: keep everything */
  guint            retention_max_tasks;
  guint            retention_max_age_days;
  /* benchmarks only: no task database, the whole history stays in memory */
  gboolean         in_memory;
  /* GSettings keys the command line set: live changes to them are ignored */
  GStrv            pinned;
} EmDaemonConfig;

void       em_daemon_config_init_defaults (EmDaemonConfig       *config);
void       em_daemon_config_clear         (EmDaemonConfig       *config);
void       em_daemon_config_copy          (EmDaemonConfig       *dest,
                                           const EmDaemonConfig *src);
gboolean   em_daemon_config_is_pinned     (const EmDaemonConfig *config,
                                           const char           *key);

/* what the schema's ranges cannot say: a lower limit must not exceed the
 * upper one */
gboolean   em_daemon_check_stage_limits   (const EmStagePosition *min,
                                           const EmStagePosition *max,
                                           GError               **error);
gboolean   em_daemon_check_focus_limits   (gdouble                min,
                                           gdouble                max,
                                           GError               **error);

/* a default speed from GSettings (@key names it): nan passes the schema's range */
gboolean   em_daemon_check_speed          (const char            *key,
                                           gdouble                speed,
                                           GError               **error);

/* where the REST server may listen: an IP address, or localhost (127.0.0.1);
 * @name is the option or setting it came from, for the message */
gboolean   em_daemon_check_http_address   (const char            *name,
                                           const char            *address,
                                           GError               **error);
/* an origin as browsers send it (scheme://host[:port], http or https) or "*":
 * anything else would never match one */
gboolean   em_daemon_check_cors_origin    (const char            *origin,
                                           GError               **error);

/* the service's settings when the schema is installed (or found through
 * GSETTINGS_SCHEMA_DIR) and has every key it reads, with its type; %NULL
 * otherwise, with a warning for a schema of another version; never aborts */
GSettings *em_daemon_settings_lookup      (void);
/* overwrites @config with every key of @settings */
void       em_daemon_config_load_settings (EmDaemonConfig       *config,
                                           GSettings            *settings);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EmDaemonConfig, em_daemon_config_clear)

G_END_DECLS
