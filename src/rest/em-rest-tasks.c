#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-json-guard.h"
#include "rest/em-problem.h"
#include "rest/em-rest-context.h"

/* how long DELETE waits for a running action to honour its cancellable */
#define CANCEL_WAIT_MS 10000

static char *
task_location (EmTask *task)
{
  g_autofree char *escaped = g_uri_escape_string (em_task_get_id (task), NULL, FALSE);

  return g_strconcat ("/tasks/", escaped, NULL);
}

void
em_rest_tasks_create (EmRestContext     *ctx,
                      SoupServerMessage *msg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(EmTaskSpec) spec = NULL;
  g_autoptr(JsonNode) json = NULL;
  g_autofree char *location = NULL;
  const char *data;
  gsize length;
  EmTask *task;

  body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  data = g_bytes_get_data (body, &length);

  root = em_json_guard_parse (data, length, ctx->max_json_depth, &error);
  if (root == NULL)
    {
      em_problem_respond_error (msg, error);
      return;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      em_problem_respond (msg, 400, NULL,
                          _("body: expected a JSON object with “name” and “action”"));
      return;
    }

  spec = em_task_spec_from_json (root, &error);
  if (spec == NULL)
    {
      em_problem_respond_error (msg, error);
      return;
    }
  task = em_engine_manager_schedule_task (ctx->manager, spec, &error);
  if (task == NULL)
    {
      em_problem_respond_error (msg, error);
      return;
    }

  location = task_location (task);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Location", location);
  json = em_task_to_json (task);
  em_rest_respond_json (msg, 201, json);
}

static gboolean
parse_uint_param (SoupServerMessage *msg,
                  GHashTable        *query,
                  const char        *name,
                  guint              minimum,
                  guint              maximum,
                  guint             *inout_value)
{
  const char *text = query != NULL ? g_hash_table_lookup (query, name) : NULL;
  guint64 value;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, minimum, maximum, &value, NULL))
    {
      em_problem_respond_printf (msg, 400, _("%s: must be an integer from %u to %u"),
                                 name, minimum, maximum);
      return FALSE;
    }
  *inout_value = (guint) value;
  return TRUE;
}

static char *
next_link (const char *status,
           guint       offset,
           guint       limit)
{
  g_autofree char *escaped = status != NULL ? g_uri_escape_string (status, NULL, FALSE) : NULL;

  return g_strdup_printf ("</tasks?%s%s%soffset=%u&limit=%u>; rel=\"next\"",
                          status != NULL ? "status=" : "", status != NULL ? escaped : "",
                          status != NULL ? "&" : "", offset, limit);
}

void
em_rest_tasks_list (EmRestContext     *ctx,
                    SoupServerMessage *msg,
                    GHashTable        *query)
{
  static const char *known[] = { "status", "limit", "offset", NULL };
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(JsonArray) array = NULL;
  g_autoptr(JsonNode) root = NULL;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *status_text = NULL;
  EmTaskStatus status;
  guint limit = ctx->page_default;
  guint offset = 0;
  guint total = 0;
  char total_text[32];

  if (query != NULL)
    {
      GHashTableIter iter;
      const char *key;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
        {
          if (!g_strv_contains (known, key))
            {
              em_problem_respond_printf (msg, 400,
                                         _("%s: unknown query parameter; use status, limit or offset"),
                                         key);
              return;
            }
        }
      status_text = g_hash_table_lookup (query, "status");
    }

  if (status_text != NULL && !em_task_status_from_string (status_text, &status))
    {
      em_problem_respond_printf (msg, 400,
                                 _("status: unknown status “%s”; use pending, running, "
                                   "completed, failed or cancelled"),
                                 status_text);
      return;
    }
  if (!parse_uint_param (msg, query, "limit", 1, ctx->page_max, &limit) ||
      !parse_uint_param (msg, query, "offset", 0, G_MAXUINT, &offset))
    return;

  tasks = em_engine_manager_list_tasks (ctx->manager, status_text != NULL ? &status : NULL,
                                        offset, limit, &total);
  array = json_array_sized_new (tasks->len);
  for (guint i = 0; i < tasks->len; i++)
    json_array_add_element (array, em_task_to_json (g_ptr_array_index (tasks, i)));

  g_snprintf (total_text, sizeof total_text, "%u", total);
  soup_message_headers_replace (headers, "X-Total-Count", total_text);
  if (tasks->len > 0 && (guint64) offset + tasks->len < total)
    {
      g_autofree char *link = next_link (status_text, offset + tasks->len, limit);

      soup_message_headers_replace (headers, "Link", link);
    }

  root = json_node_init_array (json_node_alloc (), array);
  em_rest_respond_json (msg, 200, root);
}

static EmTask *
lookup_or_respond (EmRestContext     *ctx,
                   SoupServerMessage *msg,
                   const char        *id)
{
  EmTask *task = em_engine_manager_get_task (ctx->manager, id);

  if (task == NULL)
    em_problem_respond_printf (msg, 404, _("id: no task “%s”"), id);
  return task;
}

void
em_rest_tasks_get (EmRestContext     *ctx,
                   SoupServerMessage *msg,
                   const char        *id)
{
  EmTask *task = lookup_or_respond (ctx, msg, id);
  g_autoptr(JsonNode) json = NULL;

  if (task == NULL)
    return;
  json = em_task_to_json (task);
  em_rest_respond_json (msg, 200, json);
}

/* a DELETE of a running task answers once the action has stopped */
typedef struct {
  SoupServerMessage *msg;
  EmTask            *task;
  gulong             notify_id;
  gulong             finished_id;
  guint              timeout_id;
} CancelWait;

static void
cancel_wait_free (CancelWait *wait)
{
  g_clear_signal_handler (&wait->notify_id, wait->task);
  g_clear_signal_handler (&wait->finished_id, wait->msg);
  g_clear_handle_id (&wait->timeout_id, g_source_remove);
  g_clear_object (&wait->task);
  g_clear_object (&wait->msg);
  g_free (wait);
}

static void
cancel_wait_done (CancelWait *wait)
{
  g_autoptr(JsonNode) json = em_task_to_json (wait->task);

  em_rest_respond_json (wait->msg, 200, json);
  soup_server_message_unpause (wait->msg);
  cancel_wait_free (wait);
}

static void
cancel_msg_finished_cb (SoupServerMessage *msg,
                        gpointer           user_data)
{
  /* the client went away while the action was stopping */
  cancel_wait_free (user_data);
}

static void
cancel_status_cb (EmTask     *task,
                  GParamSpec *pspec,
                  gpointer    user_data)
{
  if (em_task_is_finished (task))
    cancel_wait_done (user_data);
}

static gboolean
cancel_timeout_cb (gpointer user_data)
{
  CancelWait *wait = user_data;

  wait->timeout_id = 0;
  cancel_wait_done (wait);
  return G_SOURCE_REMOVE;
}

void
em_rest_tasks_cancel (EmRestContext     *ctx,
                      SoupServerMessage *msg,
                      const char        *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) json = NULL;
  EmTask *task = lookup_or_respond (ctx, msg, id);
  CancelWait *wait;

  if (task == NULL)
    return;

  if (!em_engine_manager_cancel_task (ctx->manager, id, &error))
    {
      if (g_error_matches (error, EM_ERROR, EM_ERROR_CONFLICT))
        em_problem_respond_printf (msg, 409,
                                   _("status: task “%s” is already %s and cannot be cancelled"),
                                   id, em_task_status_to_string (em_task_get_status (task)));
      else
        em_problem_respond_error (msg, error);
      return;
    }

  if (em_task_is_finished (task))
    {
      json = em_task_to_json (task);
      em_rest_respond_json (msg, 200, json);
      return;
    }

  wait = g_new0 (CancelWait, 1);
  wait->msg = g_object_ref (msg);
  wait->task = g_object_ref (task);
  wait->notify_id = g_signal_connect (task, "notify::status", G_CALLBACK (cancel_status_cb), wait);
  wait->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (cancel_msg_finished_cb), wait);
  wait->timeout_id = g_timeout_add (CANCEL_WAIT_MS, cancel_timeout_cb, wait);
  soup_server_message_pause (msg);
}

void
em_rest_tasks_image (EmRestContext     *ctx,
                     SoupServerMessage *msg,
                     const char        *id)
{
  EmTask *task = lookup_or_respond (ctx, msg, id);
  JsonObject *result;
  const char *path;
  const char *format;

  if (task == NULL)
    return;
  if (g_strcmp0 (em_task_get_action (task), "capture_image") != 0)
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” is a %s task and has no image"),
                                 id, em_task_get_action (task));
      return;
    }
  result = em_task_get_result (task);
  if (em_task_get_status (task) != EM_TASK_STATUS_COMPLETED || result == NULL)
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” is %s and has no image yet"),
                                 id, em_task_status_to_string (em_task_get_status (task)));
      return;
    }

  path = json_object_get_string_member_with_default (result, "path", NULL);
  format = json_object_get_string_member_with_default (result, "format", "png");
  if (path == NULL || !g_path_is_absolute (path))
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” recorded no image file"), id);
      return;
    }
  em_rest_send_file (msg, path, g_strcmp0 (format, "tiff") == 0 ? "image/tiff" : "image/png",
                     ctx->cancellable);
}
