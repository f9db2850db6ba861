#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "rest/em-json-guard.h"
#include "rest/em-problem.h"
#include "rest/em-rest-async.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-i18n.h"

/* seconds a client refused for the pending limit is asked to wait */
#define RETRY_AFTER_SECONDS "1"

/* POST /tasks takes one task object, an array of them (an atomic batch), or
 * {"tasks": [...], "exclusive": true} */
typedef struct {
  EmEngineManager *manager;
  GPtrArray       *tasks;   /* EmTask, referenced */
  gboolean         batch;
} Created;

static void
created_free (gpointer data)
{
  Created *created = data;

  g_ptr_array_unref (created->tasks);
  g_object_unref (created->manager);
  g_free (created);
}

static char *
task_location (EmTask *task)
{
  const char *id = em_task_get_id (task);
  g_autofree char *escaped = NULL;

  /* the engine's ids are UUIDs, with nothing to escape */
  if (id[strspn (id, "0123456789abcdef-")] == '\0')
    return g_strconcat ("/tasks/", id, NULL);
  escaped = g_uri_escape_string (id, NULL, FALSE);
  return g_strconcat ("/tasks/", escaped, NULL);
}

static void
respond_created (SoupServerMessage *msg,
                 Created           *created)
{
  g_autofree char *location = task_location (g_ptr_array_index (created->tasks, 0));
  GString *body;

  /* a batch is located by its first task: every item is one GET /tasks/{id} away */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Location", location);
  if (!created->batch)
    {
      em_rest_respond_json_text (msg, 201, em_task_to_json_string (g_ptr_array_index (created->tasks, 0)));
      return;
    }
  body = g_string_new ("[");
  for (guint i = 0; i < created->tasks->len; i++)
    {
      g_autofree char *item = em_task_to_json_string (g_ptr_array_index (created->tasks, i));

      if (i > 0)
        g_string_append_c (body, ',');
      g_string_append (body, item);
    }
  g_string_append_c (body, ']');
  em_rest_respond_json_text (msg, 201, g_string_free (body, FALSE));
}

static void
synced_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  EmRestAsync *async = user_data;
  Created *created = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  gboolean synced = em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error);

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (synced)
    respond_created (msg, created);
  else
    em_problem_respond_printf (msg, 503,
                               _("store: the task was not acknowledged because it "
                                 "could not be recorded: %s"), error->message);
  em_rest_async_done (async);
}

/* 201 only once the tasks are on disk: an acknowledged task survives a crash */
static void
acknowledge (EmEngineManager   *manager,
             GCancellable      *cancellable,
             SoupServerMessage *msg,
             GPtrArray         *tasks,
             gboolean           batch)
{
  Created *created = g_new0 (Created, 1);
  EmRestAsync *async;

  created->manager = g_object_ref (manager);
  created->tasks = g_ptr_array_new_full (tasks->len, g_object_unref);
  for (guint i = 0; i < tasks->len; i++)
    g_ptr_array_add (created->tasks, g_object_ref (g_ptr_array_index (tasks, i)));
  created->batch = batch;

  async = em_rest_async_begin (msg, created, created_free);
  em_engine_manager_sync_async (manager, cancellable, synced_cb, async);
}

gboolean
em_rest_tasks_check_capacity (EmEngineManager   *manager,
                              SoupServerMessage *msg,
                              guint              adding)
{
  g_autoptr(GError) error = NULL;

  if (em_engine_manager_check_capacity (manager, adding, &error))
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Retry-After", RETRY_AFTER_SECONDS);
  em_problem_respond_printf (msg, 429, _("tasks: %s; retry once some have started"),
                             error->message);
  return FALSE;
}

typedef struct {
  EmEngineManager *manager;
  GCancellable    *cancellable;
  GPtrArray       *specs;     /* EmTaskSpec */
  gboolean         batch;
  gboolean         exclusive;
} Submission;

static void
submission_free (gpointer data)
{
  Submission *submission = data;

  g_object_unref (submission->manager);
  g_clear_object (&submission->cancellable);
  g_ptr_array_unref (submission->specs);
  g_free (submission);
}

/* answers at once, or returns TRUE when the acknowledgement will */
static gboolean
schedule (Submission *submission, SoupServerMessage *msg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) tasks = NULL;

  /* the engine validates the tasks before it looks for room, so an invalid
   * one gets its 400 even when the queue is full */
  if (submission->batch)
    tasks = em_engine_manager_schedule_batch (submission->manager, submission->specs,
                                              submission->exclusive, &error);
  else
    {
      EmTask *task = em_engine_manager_schedule_task (submission->manager,
                                                      g_ptr_array_index (submission->specs, 0),
                                                      &error);

      if (task != NULL)
        {
          tasks = g_ptr_array_new ();
          g_ptr_array_add (tasks, task);
        }
    }
  if (tasks == NULL)
    {
      /* no room is 429, to retry shortly, not the 503 of a stop */
      if (!g_error_matches (error, EM_ERROR, EM_ERROR_UNAVAILABLE) ||
          em_rest_tasks_check_capacity (submission->manager, msg, submission->specs->len))
        em_problem_respond_error (msg, error);
      return FALSE;
    }
  acknowledge (submission->manager, submission->cancellable, msg, tasks, submission->batch);
  return TRUE;
}

static void
dependencies_found_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  EmRestAsync *async = user_data;
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  gboolean found = em_engine_manager_look_up_dependencies_finish (EM_ENGINE_MANAGER (source),
                                                                  result, &error);

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    em_problem_respond (msg, 503, NULL, _("The service is shutting down"));
  else if (!found)
    em_problem_respond_printf (msg, 503, _("depends_on: the task history cannot be read: %s"),
                               error->message);
  /* the acknowledgement holds the message paused from here on */
  else if (schedule (em_rest_async_get_data (async), msg))
    {
      em_rest_async_release (async);
      return;
    }
  em_rest_async_done (async);
}

/* a dependency on a task that finished long ago is looked up in the store
 * first; everything else is scheduled at once */
static void
submit (EmRestContext     *ctx,
        SoupServerMessage *msg,
        GPtrArray         *specs,
        gboolean           batch,
        gboolean           exclusive)
{
  Submission now = { ctx->manager, ctx->cancellable, specs, batch, exclusive };
  Submission *later;
  EmRestAsync *async;

  if (em_engine_manager_dependencies_known (ctx->manager, specs))
    {
      (void) schedule (&now, msg);
      return;
    }
  later = g_memdup2 (&now, sizeof now);
  g_object_ref (later->manager);
  if (later->cancellable != NULL)
    g_object_ref (later->cancellable);
  g_ptr_array_ref (later->specs);
  async = em_rest_async_begin (msg, later, submission_free);
  em_engine_manager_look_up_dependencies_async (ctx->manager, specs, ctx->cancellable,
                                                dependencies_found_cb, async);
}

static void
create_one (EmRestContext     *ctx,
            SoupServerMessage *msg,
            JsonNode          *root)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  EmTaskSpec *spec = em_task_spec_from_json (root, &error);

  if (spec == NULL)
    {
      em_problem_respond_error (msg, error);
      return;
    }
  g_ptr_array_add (specs, spec);
  submit (ctx, msg, specs, FALSE, FALSE);
}

static void
create_batch (EmRestContext     *ctx,
              SoupServerMessage *msg,
              JsonArray         *items,
              gboolean           exclusive)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  g_autoptr(GError) error = NULL;
  guint n = json_array_get_length (items);

  if (n == 0)
    {
      em_problem_respond (msg, 400, NULL, _("tasks: a batch needs at least one task"));
      return;
    }
  /* every item is parsed before any is scheduled, and the engine checks them all
   * again before creating one: all or nothing */
  for (guint i = 0; i < n; i++)
    {
      EmTaskSpec *spec = em_task_spec_from_json (json_array_get_element (items, i), &error);

      if (spec == NULL)
        {
          g_prefix_error (&error, "[%u] ", i);
          em_problem_respond_error (msg, error);
          return;
        }
      g_ptr_array_add (specs, spec);
    }
  submit (ctx, msg, specs, TRUE, exclusive);
}

/* {"tasks": [...], "exclusive": bool}; nothing else */
static void
create_envelope (EmRestContext     *ctx,
                 SoupServerMessage *msg,
                 JsonObject        *envelope)
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
              em_problem_respond (msg, 400, NULL, _("exclusive: must be true or false"));
              return;
            }
          exclusive = json_node_get_boolean (member);
        }
      else
        {
          g_autofree char *quoted = em_clip_member_name (key);

          em_problem_respond_printf (msg, 400,
                                     _("%s: unknown field of a batch; use tasks and exclusive"),
                                     quoted);
          return;
        }
    }
  if (!JSON_NODE_HOLDS_ARRAY (tasks))
    {
      em_problem_respond (msg, 400, NULL, _("tasks: must be an array of task objects"));
      return;
    }
  create_batch (ctx, msg, json_node_get_array (tasks), exclusive);
}

/* the body is read as it came: a compressed one would otherwise be refused
 * for its bytes ("not valid UTF-8 at byte 1"), which misleads the client */
static gboolean
check_content_encoding (SoupServerMessage *msg)
{
  const char *encoding = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                                        "Content-Encoding");
  g_auto(GStrv) codings = NULL;

  if (encoding == NULL)
    return TRUE;
  codings = g_strsplit (encoding, ",", -1);
  for (guint i = 0; codings[i] != NULL; i++)
    {
      const char *coding = g_strstrip (codings[i]);
      g_autofree char *quoted = NULL;

      if (*coding == '\0' || g_ascii_strcasecmp (coding, "identity") == 0)
        continue;
      quoted = em_clip_for_message (coding);
      /* RFC 9110 §12.5.3: say which codings are taken */
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Accept-Encoding", "identity");
      em_problem_respond_printf (msg, 415,
                                 _("Content-Encoding: “%s” is not supported; send the body "
                                   "uncompressed"), quoted);
      return FALSE;
    }
  return TRUE;
}

void
em_rest_tasks_create (EmRestContext     *ctx,
                      SoupServerMessage *msg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonNode) root = NULL;
  const char *data;
  gsize length;

  if (!check_content_encoding (msg))
    return;
  body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  data = g_bytes_get_data (body, &length);

  root = em_json_guard_parse (data, length, ctx->max_json_depth, &error);
  if (root == NULL)
    {
      em_problem_respond_error (msg, error);
      return;
    }
  if (JSON_NODE_HOLDS_ARRAY (root))
    create_batch (ctx, msg, json_node_get_array (root), FALSE);
  else if (JSON_NODE_HOLDS_OBJECT (root) &&
           json_object_has_member (json_node_get_object (root), "tasks"))
    create_envelope (ctx, msg, json_node_get_object (root));
  else if (JSON_NODE_HOLDS_OBJECT (root))
    create_one (ctx, msg, root);
  else
    em_problem_respond (msg, 400, NULL,
                        _("body: expected a JSON object with “name” and “action”, "
                          "or an array of them"));
}
