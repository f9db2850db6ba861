#define G_LOG_DOMAIN "em-rest"

#include "config.h"

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

/* {"paused", "counts": {status: n}, "running": [ids], "max_concurrent"}; with a
 * store, memory holds only recent finished tasks, so their counts come from it */
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
      query.limit = 1;
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

void
em_rest_queue_pause (EmRestContext     *ctx,
                     SoupServerMessage *msg)
{
  /* idempotent: pausing a paused queue changes nothing and emits nothing */
  if (!em_engine_manager_get_paused (ctx->manager))
    em_engine_manager_pause (ctx->manager);
  respond_queue (ctx, msg);
}

void
em_rest_queue_resume (EmRestContext     *ctx,
                      SoupServerMessage *msg)
{
  if (em_engine_manager_get_paused (ctx->manager))
    em_engine_manager_resume (ctx->manager);
  respond_queue (ctx, msg);
}
