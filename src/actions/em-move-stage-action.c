#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "actions/em-move-stage-action.h"
#include "devices/em-device-set.h"
#include "engine/em-error.h"

struct _EmMoveStageAction
{
  EmAction parent_instance;
};

G_DEFINE_FINAL_TYPE (EmMoveStageAction, em_move_stage_action, EM_TYPE_ACTION)

/* the travel is the stage's business: a target outside it fails at run time */
static const EmParamSpec move_stage_params[] = {
  {
    .name = "x",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Target x; the stage keeps its x when absent"),
  },
  {
    .name = "y",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Target y; the stage keeps its y when absent"),
  },
  {
    .name = "z",
    .type = EM_PARAM_NUMBER,
    .unit = "µm",
    .description = N_("Target z; the stage keeps its z when absent"),
  },
  {
    .name = "relative",
    .type = EM_PARAM_BOOLEAN,
    .description = N_("Whether x, y and z are offsets from the current position"),
    .default_value = "false",
  },
  {
    .name = "speed",
    .type = EM_PARAM_NUMBER,
    .unit = "µm/s",
    .description = N_("Speed along the path; the stage's default speed when absent"),
    .has_minimum = TRUE,
    .minimum = 0,
    .exclusive_minimum = TRUE,
  },
};

static gboolean
em_move_stage_action_validate (EmAction    *action,
                               JsonObject  *parameters,
                               GError     **error)
{
  if (!em_action_param_has (parameters, "x") &&
      !em_action_param_has (parameters, "y") &&
      !em_action_param_has (parameters, "z"))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.x, parameters.y or parameters.z is required"));
      return FALSE;
    }
  return TRUE;
}


static void
moved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmStage *stage = EM_STAGE (source);
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  EmStagePosition position;
  JsonObject *reply;

  if (!em_stage_move_finish (stage, result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  em_stage_get_position (stage, &position);
  reply = json_object_new ();
  json_object_set_double_member (reply, "x", position.x);
  json_object_set_double_member (reply, "y", position.y);
  json_object_set_double_member (reply, "z", position.z);
  g_task_return_pointer (task, reply, (GDestroyNotify) json_object_unref);
}

static gdouble
axis_target (EmAction   *action,
             JsonObject *parameters,
             const char *axis,
             gdouble     current,
             gboolean    relative)
{
  gdouble value;

  if (!em_action_param_has (parameters, axis))
    return current;
  value = em_action_param_double (action, parameters, axis);
  return relative ? current + value : value;
}

static void
em_move_stage_action_run_async (EmAction            *action,
                                EmActionContext     *context,
                                JsonObject          *parameters,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (action, cancellable, callback, user_data);
  EmDeviceSet *devices = em_action_context_get_devices (context);
  EmStage *stage = devices != NULL ? em_device_set_get_stage (devices) : NULL;
  EmStagePosition current;
  EmStagePosition target;
  gboolean relative;
  gdouble speed = 0.0;

  g_task_set_source_tag (task, em_move_stage_action_run_async);

  if (stage == NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, _("No stage is configured"));
      return;
    }

  em_stage_get_position (stage, &current);
  relative = em_action_param_boolean (action, parameters, "relative");
  target.x = axis_target (action, parameters, "x", current.x, relative);
  target.y = axis_target (action, parameters, "y", current.y, relative);
  target.z = axis_target (action, parameters, "z", current.z, relative);
  if (em_action_param_has (parameters, "speed"))
    speed = em_action_param_double (action, parameters, "speed");

  em_stage_move_async (stage, &target, speed, cancellable, em_action_context_forward_progress, context,
                       moved_cb, g_steal_pointer (&task));
}


/* a relative move that failed part-way would land somewhere else if run again */
static gboolean
em_move_stage_action_is_retry_safe (EmAction *action, JsonObject *parameters, GError **error)
{
  if (!em_action_param_boolean (action, parameters, "relative"))
    return TRUE;
  g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("parameters.relative is true: a relative move that failed part-way "
                         "would end elsewhere when run again; give an absolute target"));
  return FALSE;
}

static void
em_move_stage_action_class_init (EmMoveStageActionClass *klass)
{
  EmActionClass *action_class = EM_ACTION_CLASS (klass);

  action_class->validate = em_move_stage_action_validate;
  action_class->run_async = em_move_stage_action_run_async;
  action_class->is_retry_safe = em_move_stage_action_is_retry_safe;
}

static void
em_move_stage_action_init (EmMoveStageAction *self)
{
  em_action_set_info (EM_ACTION (self), "move_stage",
                      N_("Move the stage to a position, or by an offset"),
                      EM_DEVICE_KIND_STAGE, move_stage_params, G_N_ELEMENTS (move_stage_params));
}

EmAction *
em_move_stage_action_new (void)
{
  return g_object_new (EM_TYPE_MOVE_STAGE_ACTION, NULL);
}
