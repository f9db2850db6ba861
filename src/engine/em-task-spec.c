#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-task-spec.h"

EmTaskSpec *
em_task_spec_new (const char *name,
                  const char *action,
                  JsonObject *parameters)
{
  EmTaskSpec *self = g_new0 (EmTaskSpec, 1);

  self->name = g_strdup (name);
  self->action = g_strdup (action);
  self->parameters = parameters != NULL ? json_object_ref (parameters) : NULL;
  return self;
}

void
em_task_spec_free (EmTaskSpec *self)
{
  if (self == NULL)
    return;
  g_free (self->name);
  g_free (self->action);
  g_clear_pointer (&self->parameters, json_object_unref);
  g_free (self);
}

static gboolean
get_string_member (JsonObject  *object,
                   const char  *key,
                   const char **out,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out = NULL;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s must be a string"), key);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

EmTaskSpec *
em_task_spec_from_json (JsonNode *node, GError **error)
{
  static const char *known[] = { "name", "action", "parameters", NULL };
  JsonObject *object;
  JsonNode *params_node;
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;
  const char *name;
  const char *action;
  JsonObject *parameters = NULL;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("the task must be a JSON object"));
      return NULL;
    }
  object = json_node_get_object (node);

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &key, &member))
    {
      if (!g_strv_contains (known, key))
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: unknown field"), key);
          return NULL;
        }
    }

  if (!get_string_member (object, "name", &name, error) ||
      !get_string_member (object, "action", &action, error))
    return NULL;

  params_node = json_object_get_member (object, "parameters");
  if (params_node != NULL && !JSON_NODE_HOLDS_NULL (params_node))
    {
      if (!JSON_NODE_HOLDS_OBJECT (params_node))
        {
          g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("parameters must be an object or null"));
          return NULL;
        }
      parameters = json_node_get_object (params_node);
    }

  /* presence and content of name and action are checked by the engine, so every
   * transport gets the same messages */
  return em_task_spec_new (name, action, parameters);
}
