#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "rest/em-problem.h"
#include "rest/em-rest-async.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-task-array.h"
#include "rest/em-rest-task-body.h"

/* seconds a client refused for the pending limit is asked to wait */
#define RETRY_AFTER_SECONDS "1"
/* a body up to this size is read on the main loop, where it takes well under
 * a millisecond; a larger one, up to the body limit, is read in a worker */
#define READ_ON_LOOP_MAX_BYTES (16 * 1024)
/* an answer of up to this many tasks is written on the main loop */
#define WRITE_ON_LOOP_MAX_TASKS 64

/* POST /tasks takes one task object, an array of them (an atomic batch), or
 * {"tasks": [...], "exclusive": true} (em-rest-task-body.c) */
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
set_location (SoupServerMessage *msg,
              Created           *created)
{
  g_autofree char *location = task_location (g_ptr_array_index (created->tasks, 0));

  /* a batch is located by its first task: every item is one GET /tasks/{id} away */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Location", location);
}

static void
respond_created (SoupServerMessage *msg,
                 Created           *created)
{
  GString *body;

  set_location (msg, created);
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
written_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  EmRestAsync *async = user_data;
  SoupServerMessage *msg;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  g_autofree char *text = em_rest_task_array_write_finish (result, NULL);

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  set_location (msg, em_rest_async_get_data (async));
  em_rest_respond_json_text (msg, 201, g_steal_pointer (&text));
  em_rest_async_done (async);
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
  /* thousands of tasks are megabytes of text: written in a worker from a
   * copy of them as they are now, the message paused meanwhile */
  if (synced && created->batch && created->tasks->len > WRITE_ON_LOOP_MAX_TASKS)
    {
      em_rest_task_array_write_async (created->tasks, NULL, written_cb, async);
      return;
    }
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
 * first; everything else is scheduled at once. Answers at once, or returns
 * TRUE when an async step holds @msg paused and will answer */
static gboolean
submit (EmEngineManager   *manager,
        GCancellable      *cancellable,
        SoupServerMessage *msg,
        EmRestTaskBody    *body)
{
  Submission now = { manager, cancellable, body->specs, body->batch, body->exclusive };
  Submission *later;
  EmRestAsync *async;

  if (em_engine_manager_dependencies_known (manager, body->specs))
    return schedule (&now, msg);
  later = g_memdup2 (&now, sizeof now);
  g_object_ref (later->manager);
  if (later->cancellable != NULL)
    g_object_ref (later->cancellable);
  g_ptr_array_ref (later->specs);
  async = em_rest_async_begin (msg, later, submission_free);
  em_engine_manager_look_up_dependencies_async (manager, body->specs, cancellable,
                                                dependencies_found_cb, async);
  return TRUE;
}

typedef struct {
  EmEngineManager *manager;
  GCancellable    *cancellable;
} Reading;

static void
reading_free (gpointer data)
{
  Reading *reading = data;

  g_object_unref (reading->manager);
  g_clear_object (&reading->cancellable);
  g_free (reading);
}

static void
body_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  EmRestAsync *async = user_data;
  Reading *reading = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  g_autoptr(EmRestTaskBody) body = em_rest_task_body_read_finish (result, &error);

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    em_problem_respond (msg, 503, NULL, _("The service is shutting down"));
  else if (body == NULL)
    em_problem_respond_error (msg, error);
  /* the next step holds the message paused from here on */
  else if (submit (reading->manager, reading->cancellable, msg, body))
    {
      em_rest_async_release (async);
      return;
    }
  em_rest_async_done (async);
}

/* the body is read as it came: a compressed one would otherwise be refused
 * for its bytes ("not valid UTF-8 at byte 1"), which misleads the client */
gboolean
em_rest_tasks_check_content_encoding (SoupServerMessage *msg)
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
  g_autoptr(GBytes) data = NULL;
  g_autoptr(EmRestTaskBody) body = NULL;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  Reading *reading;
  EmRestAsync *async;

  if (!em_rest_tasks_check_content_encoding (msg))
    return;
  data = soup_message_body_flatten (soup_server_message_get_request_body (msg));

  if (g_bytes_get_size (data) <= READ_ON_LOOP_MAX_BYTES)
    {
      body = em_rest_task_body_read (g_bytes_get_data (data, NULL), g_bytes_get_size (data),
                                     ctx->max_json_depth, &error);
      if (body == NULL)
        em_problem_respond_error (msg, error);
      else
        (void) submit (ctx->manager, ctx->cancellable, msg, body);
      return;
    }
  /* a megabyte of JSON takes tens of milliseconds to parse and check, which
   * every other client would wait for: only the scheduling is left to the loop */
  reading = g_new0 (Reading, 1);
  reading->manager = g_object_ref (ctx->manager);
  reading->cancellable = ctx->cancellable != NULL ? g_object_ref (ctx->cancellable) : NULL;
  async = em_rest_async_begin (msg, reading, reading_free);
  em_rest_task_body_read_async (data, soup_message_headers_get_list (headers, "Accept-Language"),
                                ctx->max_json_depth, ctx->cancellable, body_read_cb, async);
}
