#define G_LOG_DOMAIN "engine-manager"

#include "config.h"

#include <glib/gi18n.h>

#include "daemon/em-settings-watch.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"

#define SECONDS_PER_DAY (24.0 * 3600.0)

struct _EmSettingsWatch
{
  GObject          parent_instance;

  GSettings       *settings;
  EmEngineManager *manager;
  GStrv            pinned;
  GCancellable    *cancellable;
  gulong           changed_id;
};

G_DEFINE_FINAL_TYPE (EmSettingsWatch, em_settings_watch, G_TYPE_OBJECT)

static void
prune_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  guint count = 0;

  if (!em_engine_manager_prune_finish (EM_ENGINE_MANAGER (source), result, &count, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning (_("Cannot apply the new retention: %s"), error->message);
      return;
    }
  g_debug ("retention changed: pruned %u tasks", count);
}

static void
apply_retention (EmSettingsWatch *self,
                 const char      *key)
{
  /* only the key that changed: the other may be the command line's */
  if (g_str_equal (key, "retention-max-tasks"))
    g_object_set (self->manager, "retention-max-tasks",
                  g_settings_get_uint (self->settings, key), NULL);
  else
    g_object_set (self->manager, "retention-max-age",
                  g_settings_get_uint (self->settings, key) * SECONDS_PER_DAY, NULL);
  em_engine_manager_prune_async (self->manager, self->cancellable, prune_cb, NULL);
}

static void
apply_stage (EmSettingsWatch *self)
{
  EmStage *stage = em_device_set_get_stage (em_engine_manager_get_devices (self->manager));
  EmStagePosition min, max;
  gdouble speed = g_settings_get_double (self->settings, "stage-speed");
  g_autoptr(GError) error = NULL;

  if (stage == NULL)
    return;
  g_settings_get (self->settings, "stage-min", "(ddd)", &min.x, &min.y, &min.z);
  g_settings_get (self->settings, "stage-max", "(ddd)", &max.x, &max.y, &max.z);
  /* moving both limits past each other takes two changes: the first is
   * refused, the second applies both */
  if (em_daemon_check_stage_limits (&min, &max, &error))
    em_stage_set_limits (stage, &min, &max);
  else
    g_warning (_("Keeping the stage’s travel limits: %s"), error->message);
  g_clear_error (&error);
  if (em_daemon_check_speed ("stage-speed", speed, &error))
    em_stage_set_default_speed (stage, speed);
  else
    g_warning (_("Keeping the stage’s default speed: %s"), error->message);
}

static void
apply_focus (EmSettingsWatch *self)
{
  EmFocus *focus = em_device_set_get_focus (em_engine_manager_get_devices (self->manager));
  gdouble min = g_settings_get_double (self->settings, "focus-min");
  gdouble max = g_settings_get_double (self->settings, "focus-max");
  gdouble speed = g_settings_get_double (self->settings, "focus-speed");
  g_autoptr(GError) error = NULL;

  if (focus == NULL)
    return;
  if (em_daemon_check_focus_limits (min, max, &error))
    em_focus_set_limits (focus, min, max);
  else
    g_warning (_("Keeping the focus drive’s travel limits: %s"), error->message);
  g_clear_error (&error);
  if (em_daemon_check_speed ("focus-speed", speed, &error))
    em_focus_set_default_speed (focus, speed);
  else
    g_warning (_("Keeping the focus drive’s default speed: %s"), error->message);
}

static void
apply_camera_pipeline (EmSettingsWatch *self)
{
  EmCamera *camera = em_device_set_get_camera (em_engine_manager_get_devices (self->manager));
  g_autofree char *description = g_settings_get_string (self->settings, "camera-pipeline");

  /* a capture in flight finishes on the old pipeline */
  if (camera != NULL && EM_IS_GST_CAMERA (camera))
    em_gst_camera_set_source_description (EM_GST_CAMERA (camera), description);
}

static void
changed_cb (GSettings  *settings,
            const char *key,
            gpointer    user_data)
{
  EmSettingsWatch *self = user_data;

  if (self->pinned != NULL && g_strv_contains ((const char * const *) self->pinned, key))
    {
      g_debug ("setting %s changed, but the command line set it", key);
      return;
    }

  if (g_str_equal (key, "max-concurrent"))
    em_engine_manager_set_max_concurrent (self->manager, g_settings_get_uint (settings, key));
  else if (g_str_has_prefix (key, "retention-"))
    apply_retention (self, key);
  else if (g_str_has_prefix (key, "stage-"))
    apply_stage (self);
  else if (g_str_has_prefix (key, "focus-"))
    apply_focus (self);
  else if (g_str_equal (key, "camera-pipeline"))
    apply_camera_pipeline (self);
  else
    {
      /* the listening socket, the data directory */
      g_message (_("Setting %s changed; it applies when the service next starts"), key);
      return;
    }
  g_debug ("setting %s applied", key);
}

static void
em_settings_watch_dispose (GObject *object)
{
  EmSettingsWatch *self = EM_SETTINGS_WATCH (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_signal_handler (&self->changed_id, self->settings);
  g_clear_object (&self->settings);
  g_clear_object (&self->manager);

  G_OBJECT_CLASS (em_settings_watch_parent_class)->dispose (object);
}

static void
em_settings_watch_finalize (GObject *object)
{
  EmSettingsWatch *self = EM_SETTINGS_WATCH (object);

  g_clear_object (&self->cancellable);
  g_strfreev (self->pinned);

  G_OBJECT_CLASS (em_settings_watch_parent_class)->finalize (object);
}

static void
em_settings_watch_class_init (EmSettingsWatchClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = em_settings_watch_dispose;
  object_class->finalize = em_settings_watch_finalize;
}

static void
em_settings_watch_init (EmSettingsWatch *self)
{
  self->cancellable = g_cancellable_new ();
}

static void
read_every_key (GSettings *settings)
{
  g_autoptr(GSettingsSchema) schema = NULL;
  g_auto(GStrv) keys = NULL;

  g_object_get (settings, "settings-schema", &schema, NULL);
  keys = g_settings_schema_list_keys (schema);
  for (guint i = 0; keys[i] != NULL; i++)
    g_variant_unref (g_settings_get_value (settings, keys[i]));
}

EmSettingsWatch *
em_settings_watch_new (GSettings            *settings,
                       EmEngineManager      *manager,
                       const EmDaemonConfig *config)
{
  EmSettingsWatch *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (manager), NULL);

  self = g_object_new (EM_TYPE_SETTINGS_WATCH, NULL);
  self->settings = g_object_ref (settings);
  self->manager = g_object_ref (manager);
  self->pinned = g_strdupv (config->pinned);
  self->changed_id = g_signal_connect (settings, "changed", G_CALLBACK (changed_cb), self);
  /* GSettings promises "changed" only for keys read while a handler is
   * connected: dconf, for one, may not watch a key otherwise */
  read_every_key (settings);
  return self;
}
