#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "engine/em-json-writer.h"
#include "engine/em-task-spec.h"
#include "engine/em-time.h"

EmTaskSpec *
em_task_spec_new (const char *name,
                  const char *action,
                  JsonObject *parameters)
{
  EmTaskSpec *self = g_new0 (EmTaskSpec, 1);

  self->name = g_strdup (name);
  self->action = g_strdup (action);
  self->parameters = parameters != NULL ? json_object_ref (parameters) : NULL;
  self->retry_delay = EM_TASK_DEFAULT_RETRY_DELAY;
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
  g_strfreev (self->depends_on);
  g_clear_pointer (&self->run_at, g_date_time_unref);
  g_free (self);
}

gboolean
em_task_spec_check_batch_size (guint n_tasks, GError **error)
{
  if (n_tasks == 0)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("tasks: a batch needs at least one task"));
      return FALSE;
    }
  if (n_tasks > EM_TASK_BATCH_MAX)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("tasks: a batch holds at most %u tasks, got %u; submit the rest "
                     "in further batches"), (guint) EM_TASK_BATCH_MAX, n_tasks);
      return FALSE;
    }
  return TRUE;
}

static gboolean
holds_type (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static gboolean
get_string_member (JsonObject  *object,
                   const char  *key,
                   const char **out,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, key);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!holds_type (node, G_TYPE_STRING))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("%s must be a string"), key);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_number (JsonNode    *node,
            const char  *key,
            gdouble      minimum,
            gdouble      maximum,
            gdouble     *out,
            GError     **error)
{
  char low[G_ASCII_DTOSTR_BUF_SIZE], high[G_ASCII_DTOSTR_BUF_SIZE], given[G_ASCII_DTOSTR_BUF_SIZE];
  gdouble value;

  if (!holds_type (node, G_TYPE_INT64) && !holds_type (node, G_TYPE_DOUBLE))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("%s must be a number"), key);
      return FALSE;
    }
  value = json_node_get_double (node);
  if (!isfinite (value) || value < minimum || value > maximum)
    {
      /* in full: with %g's six digits a value just past a bound reads as it */
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s must be between %s and %s, got %s"), key,
                   em_json_format_double (low, minimum), em_json_format_double (high, maximum),
                   em_json_format_double (given, value));
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static gboolean
get_integer (JsonNode    *node,
             const char  *key,
             gint64       minimum,
             gint64       maximum,
             gint64      *out,
             GError     **error)
{
  char given[G_ASCII_DTOSTR_BUF_SIZE];
  gint64 value;

  if (!holds_type (node, G_TYPE_INT64) && !holds_type (node, G_TYPE_DOUBLE))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("%s must be an integer"), key);
      return FALSE;
    }
  /* JSON has no 2 apart from 2.0, as for an action's integer parameter; the
   * bounds here are far inside what a double holds exactly */
  if (holds_type (node, G_TYPE_DOUBLE))
    {
      gdouble number = json_node_get_double (node);

      if (!isfinite (number) || number != trunc (number) ||
          number < (gdouble) minimum || number > (gdouble) maximum)
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       number == trunc (number) && isfinite (number)
                         ? _("%s must be between %lld and %lld, got %s")
                         : _("%s must be an integer between %lld and %lld, got %s"),
                       key, (long long) minimum, (long long) maximum,
                       em_json_format_double (given, number));
          return FALSE;
        }
      *out = (gint64) number;
      return TRUE;
    }
  value = json_node_get_int (node);
  if (value < minimum || value > maximum)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s must be between %lld and %lld, got %lld"), key,
                   (long long) minimum, (long long) maximum, (long long) value);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static gboolean
set_depends_on (EmTaskSpec *self, JsonNode *node, GError **error)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("depends_on must be an array of task ids"));
      return FALSE;
    }
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *item = json_array_get_element (array, i);

      if (!holds_type (item, G_TYPE_STRING))
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("depends_on[%u] must be a task id string"), i);
          return FALSE;
        }
      g_strv_builder_add (builder, json_node_get_string (item));
    }
  g_strfreev (self->depends_on);
  self->depends_on = g_strv_builder_end (builder);
  return TRUE;
}

/* the options a submission may give; each is optional */
static const char * const option_keys[] = {
  "priority", "depends_on", "max_retries", "retry_delay", "delay", "timeout", "run_at", NULL
};

static gboolean
set_option (EmTaskSpec *self, const char *key, JsonNode *node, GError **error)
{
  g_autofree char *quoted = NULL;
  gint64 integer;

  /* many clients write a field they leave out as null: it keeps its
   * default. Not under an unknown name, which may be a misspelt one */
  if (JSON_NODE_HOLDS_NULL (node) && g_strv_contains (option_keys, key))
    return TRUE;

  if (g_str_equal (key, "priority"))
    {
      if (!get_integer (node, key, -EM_TASK_PRIORITY_LIMIT, EM_TASK_PRIORITY_LIMIT, &integer, error))
        return FALSE;
      self->priority = (gint) integer;
      return TRUE;
    }
  if (g_str_equal (key, "depends_on"))
    return set_depends_on (self, node, error);
  if (g_str_equal (key, "max_retries"))
    {
      if (!get_integer (node, key, 0, EM_TASK_MAX_RETRIES, &integer, error))
        return FALSE;
      self->max_retries = (guint) integer;
      return TRUE;
    }
  if (g_str_equal (key, "retry_delay"))
    return get_number (node, key, 0, EM_TASK_RETRY_DELAY_CAP, &self->retry_delay, error);
  if (g_str_equal (key, "delay"))
    return get_number (node, key, 0, EM_TASK_MAX_DELAY, &self->delay, error);
  if (g_str_equal (key, "timeout"))
    {
      if (!get_number (node, key, 0, EM_TASK_MAX_DELAY, &self->timeout, error))
        return FALSE;
      if (self->timeout == 0)
        {
          g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("timeout must be greater than 0"));
          return FALSE;
        }
      return TRUE;
    }
  if (g_str_equal (key, "run_at"))
    {
      g_autoptr(GDateTime) run_at = NULL;

      if (!holds_type (node, G_TYPE_STRING))
        {
          g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("run_at must be an RFC 3339 time with a time zone, e.g. 2026-01-01T12:00:00Z"));
          return FALSE;
        }
      run_at = em_time_parse (json_node_get_string (node));
      if (run_at == NULL)
        {
          /* quoted back: a time with its zone may still be no date (Feb 30) */
          g_autofree char *given = em_clip_for_message (json_node_get_string (node));

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: “%s” is not an RFC 3339 time with a time zone, "
                         "e.g. 2026-01-01T12:00:00Z"), key, given);
          return FALSE;
        }
      g_clear_pointer (&self->run_at, g_date_time_unref);
      self->run_at = g_steal_pointer (&run_at);
      return TRUE;
    }

  /* the name is the client's: quoted up to a bound, as an unknown id is */
  quoted = em_clip_member_name (key);
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("%s: unknown field"), quoted);
  return FALSE;
}

gboolean
em_task_spec_set_options (EmTaskSpec *self, JsonObject *options, GError **error)
{
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;

  if (options == NULL)
    return TRUE;

  json_object_iter_init_ordered (&iter, options);
  while (json_object_iter_next_ordered (&iter, &key, &member))
    {
      if (!set_option (self, key, member, error))
        return FALSE;
    }
  if (self->run_at != NULL && self->delay > 0)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("delay: give run_at or delay, not both"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_declared (const EmParamSpec *params,
             guint              n_params,
             const char        *name)
{
  for (guint i = 0; i < n_params; i++)
    if (g_str_equal (params[i].name, name))
      return TRUE;
  return FALSE;
}

void
em_task_spec_drop_null_parameters (EmTaskSpec *self,
                                   EmAction   *action)
{
  const EmParamSpec *params;
  guint n_params = 0;
  JsonObject *kept;
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;
  gboolean any = FALSE;

  if (self->parameters == NULL)
    return;
  json_object_iter_init_ordered (&iter, self->parameters);
  while (!any && json_object_iter_next_ordered (&iter, &key, &member))
    any = JSON_NODE_HOLDS_NULL (member);
  if (!any)
    return;

  params = em_action_get_params (action, &n_params);
  kept = json_object_new ();
  json_object_iter_init_ordered (&iter, self->parameters);
  while (json_object_iter_next_ordered (&iter, &key, &member))
    if (!JSON_NODE_HOLDS_NULL (member) || !is_declared (params, n_params, key))
      json_object_set_member (kept, key, json_node_ref (member));
  json_object_unref (self->parameters);
  self->parameters = kept;
}

EmTaskSpec *
em_task_spec_from_json (JsonNode *node, GError **error)
{
  g_autoptr(EmTaskSpec) spec = NULL;
  g_autoptr(JsonObject) options = json_object_new ();
  JsonObject *object;
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

  if (!get_string_member (object, "name", &name, error) ||
      !get_string_member (object, "action", &action, error))
    return NULL;

  member = json_object_get_member (object, "parameters");
  if (member != NULL && !JSON_NODE_HOLDS_NULL (member))
    {
      if (!JSON_NODE_HOLDS_OBJECT (member))
        {
          g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("parameters must be an object or null"));
          return NULL;
        }
      parameters = json_node_get_object (member);
    }

  /* presence and content of name and action are checked by the engine, so every
   * transport gets the same messages */
  spec = em_task_spec_new (name, action, parameters);

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &key, &member))
    {
      if (g_str_equal (key, "name") || g_str_equal (key, "action") || g_str_equal (key, "parameters"))
        continue;
      json_object_set_member (options, key, json_node_ref (member));
    }
  if (!em_task_spec_set_options (spec, options, error))
    return NULL;

  return g_steal_pointer (&spec);
}
