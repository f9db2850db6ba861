#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "rest/em-json-guard.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-task-body.h"

void
em_rest_task_body_free (EmRestTaskBody *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->specs);
  g_free (self);
}

static EmRestTaskBody *
body_new (gboolean batch,
          gboolean exclusive)
{
  EmRestTaskBody *self = g_new0 (EmRestTaskBody, 1);

  self->specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  self->batch = batch;
  self->exclusive = exclusive;
  return self;
}

static EmRestTaskBody *
read_one (JsonNode  *root,
          GError   **error)
{
  g_autoptr(EmRestTaskBody) body = NULL;
  EmTaskSpec *spec = em_task_spec_from_json (root, error);

  if (spec == NULL)
    return NULL;
  body = body_new (FALSE, FALSE);
  g_ptr_array_add (body->specs, spec);
  return g_steal_pointer (&body);
}

static EmRestTaskBody *
read_batch (JsonArray  *items,
            gboolean    exclusive,
            GError    **error)
{
  g_autoptr(EmRestTaskBody) body = NULL;
  guint n = json_array_get_length (items);

  /* counted before any item is read: a batch too large is refused as such,
   * not for what its 6000th item says */
  if (!em_task_spec_check_batch_size (n, error))
    return NULL;
  body = body_new (TRUE, exclusive);
  /* every item is parsed before any is scheduled, and the engine checks them all
   * again before creating one: all or nothing */
  for (guint i = 0; i < n; i++)
    {
      EmTaskSpec *spec = em_task_spec_from_json (json_array_get_element (items, i), error);

      if (spec == NULL)
        {
          g_prefix_error (error, "[%u] ", i);
          return NULL;
        }
      g_ptr_array_add (body->specs, spec);
    }
  return g_steal_pointer (&body);
}

/* {"tasks": [...], "exclusive": bool}; nothing else */
static EmRestTaskBody *
read_envelope (JsonObject  *envelope,
               GError     **error)
{
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;
  JsonNode *tasks = NULL;
  gboolean exclusive = FALSE;

  json_object_iter_init_ordered (&iter, envelope);
  while (json_object_iter_next_ordered (&iter, &key, &member))
    {
      if (g_str_equal (key, "tasks"))
        tasks = member;
      else if (g_str_equal (key, "exclusive"))
        {
          /* null is the field left out, as for a task's own */
          if (JSON_NODE_HOLDS_NULL (member))
            continue;
          if (!JSON_NODE_HOLDS_VALUE (member) ||
              json_node_get_value_type (member) != G_TYPE_BOOLEAN)
            {
              g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                                   _("exclusive: must be true or false"));
              return NULL;
            }
          exclusive = json_node_get_boolean (member);
        }
      else
        {
          g_autofree char *quoted = em_clip_member_name (key);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: unknown field of a batch; use tasks and exclusive"), quoted);
          return NULL;
        }
    }
  if (!JSON_NODE_HOLDS_ARRAY (tasks))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("tasks: must be an array of task objects"));
      return NULL;
    }
  return read_batch (json_node_get_array (tasks), exclusive, error);
}

EmRestTaskBody *
em_rest_task_body_read (const char  *data,
                        gsize        length,
                        guint        max_depth,
                        GError     **error)
{
  g_autoptr(JsonNode) root = em_json_guard_parse (data, length, max_depth, error);

  if (root == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_ARRAY (root))
    return read_batch (json_node_get_array (root), FALSE, error);
  if (JSON_NODE_HOLDS_OBJECT (root) &&
      json_object_has_member (json_node_get_object (root), "tasks"))
    return read_envelope (json_node_get_object (root), error);
  if (JSON_NODE_HOLDS_OBJECT (root))
    return read_one (root, error);
  g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("body: expected a JSON object with “name” and “action”, "
                         "or an array of them"));
  return NULL;
}

typedef struct {
  GBytes *body;
  char   *accept_language;
  guint   max_depth;
} Reading;

static void
reading_free (gpointer data)
{
  Reading *reading = data;

  g_bytes_unref (reading->body);
  g_free (reading->accept_language);
  g_free (reading);
}

static void
read_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  Reading *reading = task_data;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  g_autoptr(GError) error = NULL;
  const char *data;
  gsize length;
  EmRestTaskBody *body;

  if (g_task_return_error_if_cancelled (task))
    return;
  em_rest_i18n_scope_enter (&scope, reading->accept_language);
  data = g_bytes_get_data (reading->body, &length);
  body = em_rest_task_body_read (data, length, reading->max_depth, &error);
  if (body == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, body, (GDestroyNotify) em_rest_task_body_free);
}

void
em_rest_task_body_read_async (GBytes              *body,
                              const char          *accept_language,
                              guint                max_depth,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  Reading *reading = g_new0 (Reading, 1);

  reading->body = g_bytes_ref (body);
  reading->accept_language = g_strdup (accept_language);
  reading->max_depth = max_depth;
  g_task_set_source_tag (task, em_rest_task_body_read_async);
  g_task_set_name (task, "[engine-manager] read a POST /tasks body");
  g_task_set_task_data (task, reading, reading_free);
  g_task_run_in_thread (task, read_thread);
}

EmRestTaskBody *
em_rest_task_body_read_finish (GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
