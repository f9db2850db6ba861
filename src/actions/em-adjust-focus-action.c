#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "actions/em-adjust-focus-action.h"
#include "devices/em-device-set.h"
#include "engine/em-error.h"

struct _EmAdjustFocusAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmAdjustFocusAction, em_adjust_focus_action, EM_TYPE_ACTION)

/* the travel is the drive's business: a target outside it fails at run time */
static const EmParamSpec adjust_focus_params[] = {
  {
    .name = "position",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Target focus position"),
    .required = TRUE,
  },
  {
    .name = "relative",
    .type = EM_PARAM_BOOLEAN,
    .description = N_("Whether position is an offset from the current position"),
    .default_value = "false",
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


static void
moved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmFocus *focus = EM_FOCUS (source);
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  JsonObject *reply;

  if (!em_focus_move_finish (focus, result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  reply = json_object_new ();
  json_object_set_double_member (reply, "position", em_focus_get_position (focus));
  g_task_return_pointer (task, reply, (GDestroyNotify) json_object_unref);
}

static void
em_adjust_focus_action_run_async (EmAction            *action,
                                  EmActionContext     *context,
                                  JsonObject          *parameters,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (action, cancellable, callback, user_data);
  EmDeviceSet *devices = em_action_context_get_devices (context);
  EmFocus *focus = devices != NULL ? em_device_set_get_focus (devices) : NULL;
  gdouble target;
  gdouble speed = 0.0;

  g_task_set_source_tag (task, em_adjust_focus_action_run_async);

  if (focus == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No focus drive is configured"));
      return;
    }

  target = em_action_param_double (action, parameters, "position");
  if (em_action_param_boolean (action, parameters, "relative"))
    target += em_focus_get_position (focus);
  if (em_action_param_has (parameters, "speed"))
    speed = em_action_param_double (action, parameters, "speed");

  em_focus_move_async (focus, target, speed, cancellable, em_action_context_forward_progress, context,
                       moved_cb, g_steal_pointer (&task));
}


/* as for the stage: a relative move that failed part-way would land
 * somewhere else if run again */
static gboolean
em_adjust_focus_action_is_retry_safe (EmAction *action, JsonObject *parameters, GError **error)
{
  if (!em_action_param_boolean (action, parameters, "relative"))
    return TRUE;
  g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("parameters.relative is true: a relative move that failed part-way "
                         "would end elsewhere when run again; give an absolute position"));
  return FALSE;
}

static void
em_adjust_focus_action_class_init (EmAdjustFocusActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->run_async = em_adjust_focus_action_run_async;
  action_class->is_retry_safe = em_adjust_focus_action_is_retry_safe;
}

static void
em_adjust_focus_action_init (EmAdjustFocusAction *self)
{
  em_action_set_info (EM_ACTION (self), "adjust_focus",
                      N_("Move the focus drive to a position, or by an offset"),
                      EM_DEVICE_KIND_FOCUS, adjust_focus_params, G_N_ELEMENTS (adjust_focus_params));
}

EmAction *
em_adjust_focus_action_new (void)
{
  return g_object_new (EM_TYPE_ADJUST_FOCUS_ACTION, NULL);
}
