#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-problem.h"
#include "rest/em-rest-async.h"
#include "rest/em-rest-context.h"

typedef struct {
  JsonObject *object;
  JsonObject *counts;
  guint       outstanding;
  GError     *error;
} QueueDoc;

static void
queue_doc_free (gpointer data)
{
  QueueDoc *doc = data;

  json_object_unref (doc->object);
  json_object_unref (doc->counts);
  g_clear_error (&doc->error);
  g_free (doc);
}

static void
queue_doc_respond (SoupServerMessage *msg,
                   QueueDoc          *doc)
{
  g_autoptr(JsonNode) root = NULL;

  if (doc->error != NULL)
    {
      em_problem_respond_error (msg, doc->error);
      return;
    }
  json_object_set_object_member (doc->object, "counts", json_object_ref (doc->counts));
  root = json_node_init_object (json_node_alloc (), doc->object);
  em_rest_respond_json (msg, 200, root);
}

/* one count of finished tasks from the store */
typedef struct {
  EmRestAsync *async;
  const char  *status;
} CountCall;

static void
counted_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autofree CountCall *call = user_data;
  EmRestAsync *async = call->async;
  QueueDoc *doc = em_rest_async_get_data (async);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  guint total = 0;

  tasks = em_engine_manager_query_tasks_finish (EM_ENGINE_MANAGER (source), result, &total, NULL,
                                                &error);
  if (tasks != NULL)
    json_object_set_int_member (doc->counts, call->status, total);
  else if (doc->error == NULL)
    doc->error = g_steal_pointer (&error);

  if (--doc->outstanding > 0)
    return;
  if (em_rest_async_get_message (async) != NULL)
    queue_doc_respond (em_rest_async_get_message (async), doc);
  em_rest_async_done (async);
}

/* {"paused", "held", "counts": {status: n}, "running": [ids], "max_concurrent"};
 * with a store, memory holds only recent finished tasks, so their counts come
 * from it */
static void
respond_queue (EmRestContext     *ctx,
               SoupServerMessage *msg)
{
  QueueDoc *doc = g_new0 (QueueDoc, 1);
  g_autoptr(JsonArray) running_ids = json_array_new ();
  g_autoptr(GPtrArray) running = NULL;
  EmTaskStatus running_status = EM_TASK_STATUS_RUNNING;
  gboolean from_store = em_engine_manager_has_store (ctx->manager);
  EmRestAsync *async;

  doc->object = json_object_new ();
  doc->counts = json_object_new ();
  for (EmTaskStatus status = 0; status < EM_TASK_STATUS_N_STATUSES; status++)
    json_object_set_int_member (doc->counts, em_task_status_to_string (status),
                                em_engine_manager_count_tasks (ctx->manager, &status));

  /* running tasks are few: max-concurrent and the devices bound them */
  running = em_engine_manager_list_tasks (ctx->manager, &running_status, 0, 0, NULL);
  for (guint i = 0; i < running->len; i++)
    json_array_add_string_element (running_ids, em_task_get_id (g_ptr_array_index (running, i)));

  json_object_set_boolean_member (doc->object, "paused",
                                  em_engine_manager_get_paused (ctx->manager));
  /* null, or what keeps ready tasks from starting: "store" */
  if (em_engine_manager_get_held (ctx->manager) != NULL)
    json_object_set_string_member (doc->object, "held", em_engine_manager_get_held (ctx->manager));
  else
    json_object_set_null_member (doc->object, "held");
  json_object_set_array_member (doc->object, "running", g_steal_pointer (&running_ids));
  json_object_set_int_member (doc->object, "max_concurrent",
                              em_engine_manager_get_max_concurrent (ctx->manager));
  if (!from_store)
    {
      queue_doc_respond (msg, doc);
      queue_doc_free (doc);
      return;
    }

  async = em_rest_async_begin (msg, doc, queue_doc_free);
  for (EmTaskStatus status = EM_TASK_STATUS_COMPLETED; status < EM_TASK_STATUS_N_STATUSES; status++)
    {
      g_auto(EmTaskQuery) query = { 0, };
      CountCall *call = g_new0 (CountCall, 1);

      em_task_query_init (&query);
      query.statuses = EM_TASK_QUERY_STATUS (status);
      query.count_only = TRUE;
      call->async = async;
      call->status = em_task_status_to_string (status);
      doc->outstanding++;
      em_engine_manager_query_tasks_async (ctx->manager, &query, ctx->cancellable,
                                           counted_cb, call);
    }
}

void
em_rest_queue_get (EmRestContext     *ctx,
                   SoupServerMessage *msg)
{
  respond_queue (ctx, msg);
}

/* the answer waits for the journal, as over D-Bus: a pause answered and then
 * lost in a crash would start the pending tasks after the restart */
static void
queue_recorded_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  EmRestAsync *async = user_data;
  EmRestContext *ctx = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  g_autoptr(SoupServerMessage) held = NULL;
  gboolean recorded = em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error);

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (!recorded)
    {
      em_problem_respond_printf (msg, 503,
                                 _("store: the queue's state could not be recorded "
                                   "and a restart may not keep it: %s"),
                                 error->message);
      em_rest_async_done (async);
      return;
    }
  /* the queue document may be read from the store: then it answers */
  held = g_object_ref (msg);
  respond_queue (ctx, held);
  if (soup_server_message_get_status (held) != 0)
    em_rest_async_done (async);
  else
    em_rest_async_release (async);
}

static void
set_paused (EmRestContext     *ctx,
            SoupServerMessage *msg,
            gboolean           paused)
{
  g_autoptr(GError) failure = NULL;

  /* once the store has failed the engine keeps a paused queue paused */
  if (!paused && em_engine_manager_get_paused (ctx->manager) &&
      !em_engine_manager_check_store (ctx->manager, &failure))
    {
      em_problem_respond_printf (msg, 503,
                                 _("store: the queue stays paused until the service restarts: %s"),
                                 failure->message);
      return;
    }
  /* idempotent: pausing a paused queue changes nothing and emits nothing */
  if (paused && !em_engine_manager_get_paused (ctx->manager))
    em_engine_manager_pause (ctx->manager);
  else if (!paused && em_engine_manager_get_paused (ctx->manager))
    em_engine_manager_resume (ctx->manager);
  em_engine_manager_sync_async (ctx->manager, ctx->cancellable, queue_recorded_cb,
                                em_rest_async_begin (msg, ctx, NULL));
}

void
em_rest_queue_pause (EmRestContext     *ctx,
                     SoupServerMessage *msg)
{
  set_paused (ctx, msg, TRUE);
}

void
em_rest_queue_resume (EmRestContext     *ctx,
                      SoupServerMessage *msg)
{
  set_paused (ctx, msg, FALSE);
}
