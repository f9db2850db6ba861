#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "actions/em-autofocus-action.h"
#include "actions/em-autofocus.h"
#include "devices/em-device-set.h"
#include "engine/em-error.h"

#define MAX_EXPOSURE_MS 60000.0

struct _EmAutofocusAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmAutofocusAction, em_autofocus_action, EM_TYPE_ACTION)

static const char *metric_choices[] = { "laplacian", "brenner", NULL };

static const EmParamSpec autofocus_params[] = {
  {
    .name = "center",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Middle of the search; the current focus position when absent"),
  },
  {
    .name = "range",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Full width of the search, clipped to the focus travel"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
    .has_maximum = TRUE,
    .maximum = EM_AUTOFOCUS_MAX_RANGE,
    .default_value = "40",
  },
  {
    .name = "coarse_step",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Spacing of the first sweep"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
    .default_value = "4",
  },
  {
    .name = "tolerance",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("How close to the sharpest position the search ends"),
    .has_minimum = TRUE,
    .minimum = 0.01,
    .default_value = "0.5",
  },
  {
    .name = "metric",
    .type = EM_PARAM_STRING,
    .description = N_("Sharpness score: variance of the Laplacian, or the Brenner gradient"),
    .choices = metric_choices,
    /* pixel noise sways it less: dim or small frames still show a peak */
    .default_value = "\"brenner\"",
  },
  {
    .name = "min_contrast",
    .type = EM_PARAM_NUMBER,
    .unit = "× noise",
    .description = N_("How many times the camera's noise the sharpest frame must stand above the rest of the "
                      "sweep; a lower peak fails the task"),
    .has_minimum = TRUE,
    .minimum = EM_AUTOFOCUS_MIN_MIN_CONTRAST,
    .has_maximum = TRUE,
    .maximum = EM_AUTOFOCUS_MAX_MIN_CONTRAST,
    .default_value = "5",
  },
  {
    .name = "exposure",
    .type = EM_PARAM_NUMBER,
    .unit = "ms",
    .description = N_("Exposure time of each frame"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
    .has_maximum = TRUE,
    .maximum = MAX_EXPOSURE_MS,
    .default_value = "10",
  },
  {
    .name = "gain",
    .type = EM_PARAM_NUMBER,
    .description = N_("Sensor gain of each frame, in the camera's own unit"),
    .has_minimum = TRUE,
    .minimum = 0,
    .default_value = "0",
  },
  {
    .name = "speed",
    .type = EM_PARAM_NUMBER,
    .unit = "µm/s",
    .description = N_("Speed of the focus drive; its default speed when absent"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
  },
};

static gboolean
em_autofocus_action_validate (EmAction    *action,
                              JsonObject  *parameters,
                              GError     **error)
{
  return em_autofocus_check_search (em_action_param_double (action, parameters, "range"),
                                    em_action_param_double (action, parameters, "coarse_step"),
                                    em_action_param_double (action, parameters, "tolerance"),
                                    "range", "coarse_step", "tolerance", error);
}


static void
focused_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  JsonObject *reply = em_autofocus_run_finish (result, &error);

  if (reply == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, reply, (GDestroyNotify) json_object_unref);
}

static void
em_autofocus_action_run_async (EmAction            *action,
                               EmActionContext     *context,
                               JsonObject          *parameters,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (action, cancellable, callback, user_data);
  EmDeviceSet *devices = em_action_context_get_devices (context);
  EmCamera *camera = devices != NULL ? em_device_set_get_camera (devices) : NULL;
  EmFocus *focus = devices != NULL ? em_device_set_get_focus (devices) : NULL;
  EmAutofocusSettings settings = { 0 };

  g_task_set_source_tag (task, em_autofocus_action_run_async);

  if (camera == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No camera is configured"));
      return;
    }
  if (focus == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No focus drive is configured"));
      return;
    }

  settings.center = em_action_param_has (parameters, "center")
                      ? em_action_param_double (action, parameters, "center")
                      : em_focus_get_position (focus);
  settings.range = em_action_param_double (action, parameters, "range");
  settings.coarse_step = em_action_param_double (action, parameters, "coarse_step");
  settings.tolerance = em_action_param_double (action, parameters, "tolerance");
  /* validated against the choices already */
  if (!em_focus_metric_from_string (em_action_param_string (action, parameters, "metric"), &settings.metric))
    settings.metric = EM_FOCUS_METRIC_BRENNER;
  settings.min_contrast = em_action_param_double (action, parameters, "min_contrast");
  settings.exposure_ms = em_action_param_double (action, parameters, "exposure");
  settings.gain = em_action_param_double (action, parameters, "gain");
  if (em_action_param_has (parameters, "speed"))
    settings.speed = em_action_param_double (action, parameters, "speed");

  em_autofocus_run_async (camera, focus, &settings, cancellable, em_action_context_forward_progress, context,
                          focused_cb, g_steal_pointer (&task));
}


/* without a center the search is around the focus's position at the start:
 * run again after failing part-way, it would search around where the focus
 * stopped, another range */
static gboolean
em_autofocus_action_is_retry_safe (EmAction *action, JsonObject *parameters, GError **error)
{
  if (em_action_param_has (parameters, "center"))
    return TRUE;
  g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("parameters.center is needed: without it a retry searches around "
                         "where the focus stopped"));
  return FALSE;
}

static void
em_autofocus_action_class_init (EmAutofocusActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->validate = em_autofocus_action_validate;
  action_class->run_async = em_autofocus_action_run_async;
  action_class->is_retry_safe = em_autofocus_action_is_retry_safe;
}

static void
em_autofocus_action_init (EmAutofocusAction *self)
{
  em_action_set_info (EM_ACTION (self), "autofocus",
                      N_("Find the sharpest focus position by sweeping the focus and scoring frames, and leave the focus there"),
                      EM_DEVICE_KIND_FOCUS | EM_DEVICE_KIND_CAMERA,
                      autofocus_params, G_N_ELEMENTS (autofocus_params));
}

EmAction *
em_autofocus_action_new (void)
{
  return g_object_new (EM_TYPE_AUTOFOCUS_ACTION, NULL);
}
