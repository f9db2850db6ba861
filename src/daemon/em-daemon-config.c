#define G_LOG_DOMAIN "engine-manager"

#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gi18n.h>

#include "daemon/em-daemon-config.h"
#include "devices/em-gst-camera.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"

/* the simulated devices' travel and speeds; the schema's defaults repeat them
 * (tests/test-daemon-config.c checks that they agree) */
static const EmStagePosition default_stage_min = { -50000.0, -50000.0, 0.0 };
static const EmStagePosition default_stage_max = { 50000.0, 50000.0, 10000.0 };
#define DEFAULT_STAGE_SPEED 1000.0
#define DEFAULT_FOCUS_MIN   0.0
#define DEFAULT_FOCUS_MAX   10000.0
#define DEFAULT_FOCUS_SPEED 500.0

static char *
default_data_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "engine-manager", NULL);
}

void
em_daemon_config_init_defaults (EmDaemonConfig *config)
{
  config->http_address = g_strdup ("127.0.0.1");
  config->http_port = 8000;
  config->http_enabled = TRUE;
  config->token_file = NULL;
  /* -1: the REST server's own default */
  config->max_pending = -1;
  config->keep_finished = -1;
  config->finished_cache_size = -1;
  config->keep_finished_bytes = -1;
  config->ws_max_clients = -1;
  config->max_header_size = -1;
  config->idle_timeout = -1;
  config->data_dir = default_data_dir ();
  config->camera_pipeline = g_strdup (EM_GST_CAMERA_DEFAULT_SOURCE);
  config->camera_width = EM_GST_CAMERA_DEFAULT_WIDTH;
  config->camera_height = EM_GST_CAMERA_DEFAULT_HEIGHT;
  config->stage_min = default_stage_min;
  config->stage_max = default_stage_max;
  config->stage_speed = DEFAULT_STAGE_SPEED;
  config->focus_min = DEFAULT_FOCUS_MIN;
  config->focus_max = DEFAULT_FOCUS_MAX;
  config->focus_speed = DEFAULT_FOCUS_SPEED;
  config->bus = EM_BUS_SESSION;
  config->dbus_max_calls_per_sender = -1;
  config->max_concurrent = EM_ENGINE_DEFAULT_MAX_CONCURRENT;
  config->retention_max_tasks = 0;
  config->retention_max_age_days = 0;
  config->pinned = NULL;
}

void
em_daemon_config_clear (EmDaemonConfig *config)
{
  g_clear_pointer (&config->http_address, g_free);
  g_clear_pointer (&config->token_file, g_free);
  g_clear_pointer (&config->token, g_free);
  g_clear_pointer (&config->tls_certificate, g_free);
  g_clear_pointer (&config->tls_key, g_free);
  g_clear_pointer (&config->cors_origins, g_strfreev);
  g_clear_pointer (&config->data_dir, g_free);
  g_clear_pointer (&config->camera_pipeline, g_free);
  g_clear_pointer (&config->pinned, g_strfreev);
}

void
em_daemon_config_copy (EmDaemonConfig       *dest,
                       const EmDaemonConfig *src)
{
  *dest = *src;
  dest->http_address = g_strdup (src->http_address);
  dest->token_file = g_strdup (src->token_file);
  dest->token = g_strdup (src->token);
  dest->tls_certificate = g_strdup (src->tls_certificate);
  dest->tls_key = g_strdup (src->tls_key);
  dest->cors_origins = g_strdupv (src->cors_origins);
  dest->data_dir = g_strdup (src->data_dir);
  dest->camera_pipeline = g_strdup (src->camera_pipeline);
  dest->pinned = g_strdupv (src->pinned);
}

gboolean
em_daemon_config_is_pinned (const EmDaemonConfig *config,
                            const char           *key)
{
  return config->pinned != NULL &&
         g_strv_contains ((const char * const *) config->pinned, key);
}

/* the limits are given with every digit and a decimal point whatever the
 * locale: %g calls 10000.0001 "10000", and a decimal comma is not how the
 * value is written on the command line or in GSettings */
static gboolean
check_stage_axis (const char *axis, gdouble min, gdouble max, GError **error)
{
  char low[G_ASCII_DTOSTR_BUF_SIZE];
  char high[G_ASCII_DTOSTR_BUF_SIZE];

  /* GSettings takes nan for a double: it exceeds nothing, and no move could
   * be checked against it */
  if (isnan (min) || isnan (max))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   isnan (min) ? _("stage-min’s %s is not a number") : _("stage-max’s %s is not a number"),
                   axis);
      return FALSE;
    }
  /* and inf, which no JSON number can carry: GET /devices would answer with
   * a document no client can parse */
  if (isinf (min) || isinf (max))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   isinf (min) ? _("stage-min’s %s is infinite") : _("stage-max’s %s is infinite"),
                   axis);
      return FALSE;
    }
  if (min <= max)
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("stage-min’s %s (%s) exceeds stage-max’s (%s)"), axis,
               em_json_format_double (low, min), em_json_format_double (high, max));
  return FALSE;
}

gboolean
em_daemon_check_stage_limits (const EmStagePosition  *min,
                              const EmStagePosition  *max,
                              GError                **error)
{
  return check_stage_axis ("x", min->x, max->x, error) &&
         check_stage_axis ("y", min->y, max->y, error) &&
         check_stage_axis ("z", min->z, max->z, error);
}

gboolean
em_daemon_check_focus_limits (gdouble   min,
                              gdouble   max,
                              GError  **error)
{
  char low[G_ASCII_DTOSTR_BUF_SIZE];
  char high[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (min) || isnan (max))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           isnan (min) ? _("focus-min is not a number") : _("focus-max is not a number"));
      return FALSE;
    }
  if (isinf (min) || isinf (max))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           isinf (min) ? _("focus-min is infinite") : _("focus-max is infinite"));
      return FALSE;
    }
  if (min <= max)
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("focus-min (%s) exceeds focus-max (%s)"),
               em_json_format_double (low, min), em_json_format_double (high, max));
  return FALSE;
}

gboolean
em_daemon_check_speed (const char  *key,
                       gdouble      speed,
                       GError     **error)
{
  /* the schema's range lets nan through (it compares as neither below nor
   * above), and a move at that speed would never arrive */
  if (!isnan (speed))
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("%s is not a number"), key);
  return FALSE;
}

gboolean
em_daemon_check_cors_origin (const char  *origin,
                             GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;

  if (g_str_equal (origin, "*"))
    return TRUE;
  uri = g_uri_parse (origin, G_URI_FLAGS_NONE, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  if (uri != NULL &&
      (g_str_equal (scheme, "http") || g_str_equal (scheme, "https")) &&
      g_uri_get_host (uri) != NULL && *g_uri_get_host (uri) != '\0' &&
      g_uri_get_userinfo (uri) == NULL && *g_uri_get_path (uri) == '\0' &&
      g_uri_get_query (uri) == NULL && g_uri_get_fragment (uri) == NULL)
    return TRUE;
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("--cors-origin takes an origin such as “https://lab.example.org” or "
                 "“http://127.0.0.1:8080” (a scheme, a host and maybe a port; no path, "
                 "not even “/”) or “*”, not “%s”"), origin);
  return FALSE;
}

gboolean
em_daemon_check_http_address (const char  *name,
                              const char  *address,
                              GError     **error)
{
  g_autoptr(GInetAddress) inet = NULL;

  if (g_str_equal (address, "localhost"))
    return TRUE;
  inet = g_inet_address_new_from_string (address);
  if (inet != NULL)
    return TRUE;
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("%s: “%s” is not an IP address"), name, address);
  return FALSE;
}

/* every key the daemon reads, with the type it reads it as */
static const struct {
  const char *name;
  const char *type;
} settings_keys[] = {
  { "http-address", "s" },
  { "http-port", "i" },
  { "http-enabled", "b" },
  { "token-file", "s" },
  { "data-dir", "s" },
  { "camera-pipeline", "s" },
  { "camera-width", "u" },
  { "camera-height", "u" },
  { "stage-min", "(ddd)" },
  { "stage-max", "(ddd)" },
  { "stage-speed", "d" },
  { "focus-min", "d" },
  { "focus-max", "d" },
  { "focus-speed", "d" },
  { "max-concurrent", "u" },
  { "retention-max-tasks", "u" },
  { "retention-max-age-days", "u" },
};

/* a schema installed by another version may lack a key or give it another
 * type; GSettings aborts on the first and misreads the second */
static gboolean
schema_fits (GSettingsSchema *schema)
{
  for (guint i = 0; i < G_N_ELEMENTS (settings_keys); i++)
    {
      g_autoptr(GSettingsSchemaKey) key = NULL;

      if (!g_settings_schema_has_key (schema, settings_keys[i].name))
        {
          g_warning (_("The installed GSettings schema %s has no key %s (it belongs to "
                       "another version); using the built-in defaults"),
                     EM_APP_ID, settings_keys[i].name);
          return FALSE;
        }
      key = g_settings_schema_get_key (schema, settings_keys[i].name);
      if (!g_variant_type_equal (g_settings_schema_key_get_value_type (key),
                                 G_VARIANT_TYPE (settings_keys[i].type)))
        {
          g_warning (_("The installed GSettings schema %s gives the key %s another type "
                       "(it belongs to another version); using the built-in defaults"),
                     EM_APP_ID, settings_keys[i].name);
          return FALSE;
        }
    }
  return TRUE;
}

GSettings *
em_daemon_settings_lookup (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source == NULL)
    return NULL;
  schema = g_settings_schema_source_lookup (source, EM_APP_ID, TRUE);
  if (schema == NULL)
    {
      g_debug ("no GSettings schema %s: using built-in defaults", EM_APP_ID);
      return NULL;
    }
  if (!schema_fits (schema))
    return NULL;
  return g_settings_new_full (schema, NULL, NULL);
}

/* empty strings in the schema mean "the built-in default" */
static void
load_string (GSettings  *settings,
             const char *key,
             char      **target)
{
  g_autofree char *value = g_settings_get_string (settings, key);

  if (*value == '\0')
    return;
  g_free (*target);
  *target = g_steal_pointer (&value);
}

/* a setting holds no working directory: the shell's, or / under D-Bus
 * activation, would make one value name different places. A relative path,
 * or one under ~/, is in the home directory */
static char *
settings_path (const char *value)
{
  if (g_path_is_absolute (value))
    return g_strdup (value);
  if (g_str_equal (value, "~"))
    return g_strdup (g_get_home_dir ());
  if (g_str_has_prefix (value, "~/"))
    value += strlen ("~/");
  return g_build_filename (g_get_home_dir (), value, NULL);
}

static void
load_path (GSettings   *settings,
           const char  *key,
           char       **target)
{
  g_autofree char *value = g_settings_get_string (settings, key);

  if (*value == '\0')
    return;
  g_free (*target);
  *target = settings_path (value);
}

static void
load_position (GSettings       *settings,
               const char      *key,
               EmStagePosition *target)
{
  g_settings_get (settings, key, "(ddd)", &target->x, &target->y, &target->z);
}

void
em_daemon_config_load_settings (EmDaemonConfig *config,
                                GSettings      *settings)
{
  g_autofree char *token_file = g_settings_get_string (settings, "token-file");

  load_string (settings, "http-address", &config->http_address);
  config->http_port = (guint) g_settings_get_int (settings, "http-port");
  config->http_enabled = g_settings_get_boolean (settings, "http-enabled");
  g_clear_pointer (&config->token_file, g_free);
  if (*token_file != '\0')
    config->token_file = settings_path (token_file);
  load_path (settings, "data-dir", &config->data_dir);
  load_string (settings, "camera-pipeline", &config->camera_pipeline);
  config->camera_width = g_settings_get_uint (settings, "camera-width");
  config->camera_height = g_settings_get_uint (settings, "camera-height");
  load_position (settings, "stage-min", &config->stage_min);
  load_position (settings, "stage-max", &config->stage_max);
  config->stage_speed = g_settings_get_double (settings, "stage-speed");
  config->focus_min = g_settings_get_double (settings, "focus-min");
  config->focus_max = g_settings_get_double (settings, "focus-max");
  config->focus_speed = g_settings_get_double (settings, "focus-speed");
  config->max_concurrent = g_settings_get_uint (settings, "max-concurrent");
  config->retention_max_tasks = g_settings_get_uint (settings, "retention-max-tasks");
  config->retention_max_age_days = g_settings_get_uint (settings, "retention-max-age-days");
}
