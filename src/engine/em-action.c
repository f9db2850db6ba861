#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "engine/em-action-private.h"
#include "engine/em-clip.h"
#include "engine/em-enum-types.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"

typedef struct
{
  char              *name;
  char              *description;
  EmDeviceKind       claims;
  const EmParamSpec *params;
  guint              n_params;
} EmActionPrivate;

G_DEFINE_TYPE_WITH_PRIVATE (EmAction, em_action, G_TYPE_OBJECT)

struct _EmActionContext
{
  EmDeviceSet    *devices;
  char           *task_id;
  char           *data_dir;
  EmProgressFunc  progress;
  gpointer        progress_data;
};

static void
em_action_finalize (GObject *object)
{
  EmActionPrivate *priv = em_action_get_instance_private (EM_ACTION (object));

  g_free (priv->name);
  g_free (priv->description);

  G_OBJECT_CLASS (em_action_parent_class)->finalize (object);
}

static void
em_action_class_init (EmActionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = em_action_finalize;
}

static void
em_action_init (EmAction *self)
{
}

void
em_action_set_info (EmAction          *self,
                    const char        *name,
                    const char        *description,
                    EmDeviceKind       claims,
                    const EmParamSpec *params,
                    guint              n_params)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);

  g_return_if_fail (EM_IS_ACTION (self));

  g_free (priv->name);
  g_free (priv->description);
  priv->name = g_strdup (name);
  priv->description = g_strdup (description);
  priv->claims = claims;
  /* parameter tables are static data of the subclass */
  priv->params = params;
  priv->n_params = n_params;
}

const char *
em_action_get_name (EmAction *self)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);

  g_return_val_if_fail (EM_IS_ACTION (self), NULL);
  return priv->name;
}

const char *
em_action_get_description (EmAction *self)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);

  g_return_val_if_fail (EM_IS_ACTION (self), NULL);
  return priv->description;
}

EmDeviceKind
em_action_get_claims (EmAction *self)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);

  g_return_val_if_fail (EM_IS_ACTION (self), EM_DEVICE_KIND_NONE);
  return priv->claims;
}

const EmParamSpec *
em_action_get_params (EmAction *self, guint *n_params)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);

  g_return_val_if_fail (EM_IS_ACTION (self), NULL);
  if (n_params != NULL)
    *n_params = priv->n_params;
  return priv->params;
}

static const EmParamSpec *
find_param (EmAction *self, const char *name)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);

  for (guint i = 0; i < priv->n_params; i++)
    {
      if (g_str_equal (priv->params[i].name, name))
        return &priv->params[i];
    }
  return NULL;
}

static const char *
param_type_name (EmParamType type)
{
  switch (type)
    {
    case EM_PARAM_NUMBER:
      return _("a number");
    case EM_PARAM_INTEGER:
      return _("an integer");
    case EM_PARAM_BOOLEAN:
      return _("a boolean");
    case EM_PARAM_STRING:
    default:
      return _("a string");
    }
}

static gboolean
node_has_type (JsonNode *node, EmParamType type)
{
  GType value_type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  value_type = json_node_get_value_type (node);

  switch (type)
    {
    case EM_PARAM_NUMBER:
    case EM_PARAM_INTEGER:
      /* whether a number is whole is check_integral's: JSON has no 2 apart from 2.0 */
      return value_type == G_TYPE_INT64 || value_type == G_TYPE_DOUBLE;
    case EM_PARAM_BOOLEAN:
      return value_type == G_TYPE_BOOLEAN;
    case EM_PARAM_STRING:
    default:
      return value_type == G_TYPE_STRING;
    }
}

static gboolean
check_range (const EmParamSpec *spec, gdouble value, GError **error)
{
  char bound[G_ASCII_DTOSTR_BUF_SIZE];
  char given[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (value))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s must be a finite number"), spec->name);
      return FALSE;
    }
  if (spec->has_minimum && spec->exclusive_minimum && !(value > spec->minimum))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s must be greater than %s, got %s"),
                   spec->name, em_json_format_double (bound, spec->minimum),
                   em_json_format_double (given, value));
      return FALSE;
    }
  if (spec->has_minimum && !spec->exclusive_minimum && value < spec->minimum)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s must be at least %s, got %s"),
                   spec->name, em_json_format_double (bound, spec->minimum),
                   em_json_format_double (given, value));
      return FALSE;
    }
  if (spec->has_maximum && value > spec->maximum)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s must be at most %s, got %s"),
                   spec->name, em_json_format_double (bound, spec->maximum),
                   em_json_format_double (given, value));
      return FALSE;
    }
  return TRUE;
}

/* JSON Schema's "integer": any number whose fractional part is zero, 2.0 as 2,
 * within the signed 64 bits a JSON integer may have here */
static gboolean
check_integral (const EmParamSpec *spec, JsonNode *node, GError **error)
{
  char given[G_ASCII_DTOSTR_BUF_SIZE];
  gdouble value;

  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return TRUE;

  value = json_node_get_double (node);
  /* non-finite values get check_range's message */
  if (!isfinite (value))
    return TRUE;
  if (value == trunc (value) && value >= -0x1p63 && value < 0x1p63)
    return TRUE;

  /* a whole number past 64 bits is out of range rather than fractional:
   * the range says so when one of its bounds refuses it */
  if (value == trunc (value))
    {
      if (check_range (spec, value, error))
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("parameters.%s must be an integer within 64 bits, got %s"),
                     spec->name, em_json_format_double (given, value));
      return FALSE;
    }
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("parameters.%s must be an integer, got %s"),
               spec->name, em_json_format_double (given, value));
  return FALSE;
}

static gboolean
check_param (const EmParamSpec *spec, JsonNode *node, GError **error)
{
  if (!node_has_type (node, spec->type))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s must be %s"), spec->name, param_type_name (spec->type));
      return FALSE;
    }

  if (spec->type == EM_PARAM_INTEGER && !check_integral (spec, node, error))
    return FALSE;
  if (spec->type == EM_PARAM_NUMBER || spec->type == EM_PARAM_INTEGER)
    return check_range (spec, json_node_get_double (node), error);

  if (spec->type == EM_PARAM_STRING && spec->choices != NULL &&
      !g_strv_contains (spec->choices, json_node_get_string (node)))
    {
      g_autofree char *allowed = g_strjoinv (", ", (char **) spec->choices);
      g_autofree char *quoted = em_clip_for_message (json_node_get_string (node));

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("parameters.%s must be one of %s, got “%s”"),
                   spec->name, allowed, quoted);
      return FALSE;
    }
  return TRUE;
}

/**
 * em_action_validate:
 * @parameters: (nullable): the parameters, %NULL meaning none
 *
 * Checks @parameters against the action's parameter specs (unknown keys, types,
 * ranges, choices, required keys), then against the subclass's own rules.
 * Messages name the field as `parameters.<key>`.
 */
gboolean
em_action_validate (EmAction *self, JsonObject *parameters, GError **error)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);
  EmActionClass *klass = EM_ACTION_GET_CLASS (self);

  g_return_val_if_fail (EM_IS_ACTION (self), FALSE);

  if (parameters != NULL)
    {
      JsonObjectIter iter;
      const char *key;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, parameters);
      while (json_object_iter_next_ordered (&iter, &key, &member))
        {
          const EmParamSpec *spec = find_param (self, key);

          if (spec == NULL)
            {
              g_autofree char *quoted = em_clip_member_name (key);

              g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("parameters.%s: unknown parameter for action “%s”"),
                           quoted, priv->name);
              return FALSE;
            }
          if (!check_param (spec, member, error))
            return FALSE;
        }
    }

  for (guint i = 0; i < priv->n_params; i++)
    {
      if (priv->params[i].required &&
          (parameters == NULL || !json_object_has_member (parameters, priv->params[i].name)))
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("parameters.%s is required"), priv->params[i].name);
          return FALSE;
        }
    }

  if (klass->validate != NULL)
    return klass->validate (self, parameters, error);
  return TRUE;
}

gboolean
em_action_is_retry_safe (EmAction *self, JsonObject *parameters, GError **error)
{
  EmActionClass *klass = EM_ACTION_GET_CLASS (self);
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (EM_IS_ACTION (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (klass->is_retry_safe == NULL || klass->is_retry_safe (self, parameters, &local_error))
    return TRUE;
  /* an action that gave no reason still gets a message */
  if (local_error == NULL)
    g_set_error_literal (&local_error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                         _("a failed run may have changed what a retry would start from"));
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

void
em_action_run_async (EmAction            *self,
                     EmActionContext     *context,
                     JsonObject          *parameters,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_return_if_fail (EM_IS_ACTION (self));
  g_return_if_fail (EM_ACTION_GET_CLASS (self)->run_async != NULL);

  EM_ACTION_GET_CLASS (self)->run_async (self, context, parameters, cancellable,
                                         callback, user_data);
}

JsonObject *
em_action_run_finish (EmAction *self, GAsyncResult *result, GError **error)
{
  EmActionClass *klass = EM_ACTION_GET_CLASS (self);

  g_return_val_if_fail (EM_IS_ACTION (self), NULL);

  if (klass->run_finish != NULL)
    return klass->run_finish (self, result, error);

  /* most actions return their result object from a GTask of their own */
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static JsonNode *
default_node (const EmParamSpec *spec)
{
  if (spec->default_value == NULL)
    return NULL;
  return json_from_string (spec->default_value, NULL);
}

static void
describe_param (JsonBuilder *builder, const EmParamSpec *spec)
{
  g_autoptr(GEnumClass) types = g_type_class_ref (EM_TYPE_PARAM_TYPE);
  JsonNode *def = default_node (spec);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, spec->name);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, g_enum_get_value (types, spec->type)->value_nick);
  json_builder_set_member_name (builder, "required");
  json_builder_add_boolean_value (builder, spec->required);
  if (spec->unit != NULL)
    {
      json_builder_set_member_name (builder, "unit");
      json_builder_add_string_value (builder, spec->unit);
    }
  if (spec->description != NULL)
    {
      json_builder_set_member_name (builder, "description");
      json_builder_add_string_value (builder, _(spec->description));
    }
  if (spec->has_minimum)
    {
      json_builder_set_member_name (builder, spec->exclusive_minimum ? "exclusive_minimum" : "minimum");
      json_builder_add_double_value (builder, spec->minimum);
    }
  if (spec->has_maximum)
    {
      json_builder_set_member_name (builder, "maximum");
      json_builder_add_double_value (builder, spec->maximum);
    }
  if (spec->choices != NULL)
    {
      json_builder_set_member_name (builder, "choices");
      json_builder_begin_array (builder);
      for (guint i = 0; spec->choices[i] != NULL; i++)
        json_builder_add_string_value (builder, spec->choices[i]);
      json_builder_end_array (builder);
    }
  if (def != NULL)
    {
      json_builder_set_member_name (builder, "default");
      json_builder_add_value (builder, def);
    }
  json_builder_end_object (builder);
}

/* the registry's self-description, served by transports as is */
JsonNode *
em_action_describe (EmAction *self)
{
  EmActionPrivate *priv = em_action_get_instance_private (self);
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(GFlagsClass) kinds = g_type_class_ref (EM_TYPE_DEVICE_KIND);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, priv->name);
  json_builder_set_member_name (builder, "description");
  json_builder_add_string_value (builder, priv->description != NULL ? _(priv->description) : "");
  json_builder_set_member_name (builder, "claims");
  json_builder_begin_array (builder);
  for (guint i = 0; i < kinds->n_values; i++)
    {
      if (kinds->values[i].value != 0 && (priv->claims & kinds->values[i].value) != 0)
        json_builder_add_string_value (builder, kinds->values[i].value_nick);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "parameters");
  json_builder_begin_array (builder);
  for (guint i = 0; i < priv->n_params; i++)
    describe_param (builder, &priv->params[i]);
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

static JsonNode *
lookup_value (EmAction *self, JsonObject *parameters, const char *name, JsonNode **owned)
{
  const EmParamSpec *spec;

  *owned = NULL;
  if (parameters != NULL && json_object_has_member (parameters, name))
    return json_object_get_member (parameters, name);

  spec = find_param (self, name);
  g_return_val_if_fail (spec != NULL, NULL);
  *owned = default_node (spec);
  return *owned;
}

gdouble
em_action_param_double (EmAction *self, JsonObject *parameters, const char *name)
{
  g_autoptr(JsonNode) owned = NULL;
  JsonNode *node = lookup_value (self, parameters, name, &owned);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_double (node) : 0.0;
}

gboolean
em_action_param_boolean (EmAction *self, JsonObject *parameters, const char *name)
{
  g_autoptr(JsonNode) owned = NULL;
  JsonNode *node = lookup_value (self, parameters, name, &owned);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_boolean (node) : FALSE;
}

const char *
em_action_param_string (EmAction *self, JsonObject *parameters, const char *name)
{
  const EmParamSpec *spec;

  if (parameters != NULL && json_object_has_member (parameters, name))
    return json_object_get_string_member (parameters, name);

  /* defaults are JSON text in static tables: return the interned unquoted form */
  spec = find_param (self, name);
  g_return_val_if_fail (spec != NULL, NULL);
  if (spec->default_value == NULL)
    return NULL;
  {
    g_autoptr(JsonNode) node = default_node (spec);

    return node != NULL ? g_intern_string (json_node_get_string (node)) : NULL;
  }
}

gboolean
em_action_param_has (JsonObject *parameters, const char *name)
{
  return parameters != NULL && json_object_has_member (parameters, name);
}

EmActionContext *
em_action_context_new (EmDeviceSet    *devices,
                       const char     *task_id,
                       const char     *data_dir,
                       EmProgressFunc  progress,
                       gpointer        progress_data)
{
  EmActionContext *context = g_new0 (EmActionContext, 1);

  context->devices = devices != NULL ? (EmDeviceSet *) g_object_ref ((GObject *) devices) : NULL;
  context->task_id = g_strdup (task_id);
  context->data_dir = g_strdup (data_dir);
  context->progress = progress;
  context->progress_data = progress_data;
  return context;
}

void
em_action_context_free (EmActionContext *context)
{
  if (context == NULL)
    return;
  if (context->devices != NULL)
    g_object_unref ((GObject *) context->devices);
  g_free (context->task_id);
  g_free (context->data_dir);
  g_free (context);
}

EmDeviceSet *
em_action_context_get_devices (EmActionContext *context)
{
  return context->devices;
}

const char *
em_action_context_get_task_id (EmActionContext *context)
{
  return context->task_id;
}

const char *
em_action_context_get_data_dir (EmActionContext *context)
{
  return context->data_dir;
}

void
em_action_context_report_progress (EmActionContext *context, gdouble fraction)
{
  if (context->progress != NULL)
    context->progress (fraction, context->progress_data);
}

void
em_action_context_forward_progress (gdouble fraction, gpointer context)
{
  em_action_context_report_progress (context, fraction);
}
