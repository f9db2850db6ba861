#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-writer.h"
#include "rest/em-problem.h"
#include "rest/em-rest-async.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-query.h"

/* GET /tasks and DELETE /tasks: all of history, through the engine's queries */

/*
 * A page stops at `limit` tasks or once its tasks pass ctx->page_max_bytes,
 * whichever comes first, with at least one task. It is read in batches that
 * start small and grow with the room left, each written out in a worker, so
 * a page of large tasks (a tile scan's result lists every tile) never has
 * more than a few of them in memory at once, nor is built whole to be sent.
 */

/* tasks in the first batch, and how much faster batches may grow */
#define LISTING_FIRST_BATCH 4
#define LISTING_GROWTH      4

typedef struct {
  EmEngineManager *manager;
  GCancellable    *cancellable;
  GHashTable      *params;
  guint            limit;
  gsize            max_bytes;
  EmTaskQuery      query;       /* the next batch's */
  guint            asked;       /* the last batch's length */
  gboolean         first_read;
  guint            total;
  GString         *body;        /* "[" and the tasks so far */
  guint            count;
  guint64          last;        /* the serial of the last task in @body */
  gboolean         more;        /* tasks follow it */
  gboolean         complete;
  GPtrArray       *batch;       /* (element-type JsonNode) read, not written */
  GArray          *serials;
  guint64          batch_next;
} Listing;

static void
listing_free (gpointer data)
{
  Listing *listing = data;

  g_clear_object (&listing->manager);
  g_clear_object (&listing->cancellable);
  g_clear_pointer (&listing->params, g_hash_table_unref);
  em_task_query_clear (&listing->query);
  if (listing->body != NULL)
    g_string_free (listing->body, TRUE);
  g_clear_pointer (&listing->batch, g_ptr_array_unref);
  g_clear_pointer (&listing->serials, g_array_unref);
  g_free (listing);
}

static Listing *
listing_new (EmRestContext     *ctx,
             GHashTable        *query,
             const EmTaskQuery *filter)
{
  Listing *listing = g_new0 (Listing, 1);

  listing->manager = g_object_ref (ctx->manager);
  listing->cancellable = g_object_ref (ctx->cancellable);
  listing->params = query != NULL ? g_hash_table_ref (query) : NULL;
  listing->limit = filter->limit;
  listing->max_bytes = MAX (ctx->page_max_bytes, 1);
  em_task_query_copy (&listing->query, filter);
  listing->body = g_string_new ("[");
  return listing;
}

/* adds a task unless the page is complete; TRUE if it did */
static gboolean
listing_add (Listing  *listing,
             JsonNode *task,
             guint64   serial)
{
  if (listing->complete)
    return FALSE;
  if (listing->count > 0)
    g_string_append_c (listing->body, ',');
  em_json_write_node (listing->body, task);
  listing->count++;
  listing->last = serial;
  listing->complete = listing->count >= listing->limit ||
                      listing->body->len >= listing->max_bytes;
  return TRUE;
}

/* the next page starts after the serial of this page's last task rather than
 * at an offset, so that tasks leaving the filter meanwhile (a pending task
 * that starts) make it skip none, and a page cut short by its size continues
 * exactly where it stopped */
static void
respond_listing (SoupServerMessage *msg,
                 Listing           *listing)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  char total_text[32];

  g_snprintf (total_text, sizeof total_text, "%u", listing->total);
  soup_message_headers_replace (headers, "X-Total-Count", total_text);
  if (listing->more && listing->count > 0)
    {
      g_autofree char *link = em_rest_query_next_link (listing->params, listing->limit,
                                                       listing->last);

      soup_message_headers_replace (headers, "Link", link);
    }
  g_string_append_c (listing->body, ']');
  em_rest_respond_json_text (msg, 200, g_string_free (g_steal_pointer (&listing->body), FALSE));
}

/* what memory answers exactly through the engine's per-status indexes, in
 * O(log n + limit): one status or none, no other filter, and either no store
 * or a status whose tasks all stay in memory (pending, running) */
static gboolean
list_from_indexes (EmRestContext     *ctx,
                   SoupServerMessage *msg,
                   const EmTaskQuery *filter,
                   Listing           *listing)
{
  g_autoptr(GPtrArray) tasks = NULL;
  gboolean has_store = em_engine_manager_has_store (ctx->manager);
  EmTaskStatus status = EM_TASK_STATUS_N_STATUSES;
  guint i;

  if (filter->action != NULL || filter->since != NULL || filter->until != NULL ||
      filter->after != 0)
    return FALSE;
  for (EmTaskStatus s = 0; s < EM_TASK_STATUS_N_STATUSES; s++)
    if (filter->statuses == EM_TASK_QUERY_STATUS (s))
      status = s;
  if (filter->statuses != 0 && status == EM_TASK_STATUS_N_STATUSES)
    return FALSE;
  if (has_store && status != EM_TASK_STATUS_PENDING && status != EM_TASK_STATUS_RUNNING)
    return FALSE;

  tasks = em_engine_manager_list_tasks (ctx->manager,
                                        status != EM_TASK_STATUS_N_STATUSES ? &status : NULL,
                                        filter->offset, filter->limit, &listing->total);
  for (i = 0; i < tasks->len; i++)
    {
      EmTask *task = g_ptr_array_index (tasks, i);
      g_autoptr(JsonNode) node = NULL;

      if (listing->complete)
        break;
      node = em_task_to_json (task);
      listing_add (listing, node, em_task_get_serial (task));
    }
  listing->more = (guint64) filter->offset + i < listing->total;
  respond_listing (msg, listing);
  return TRUE;
}

static void read_batch (EmRestAsync *async);

/* in a worker: the batch's tasks, written out until the page is complete */
static void
write_batch_thread (GTask        *task,
                    gpointer      source,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  Listing *listing = task_data;
  guint i;

  for (i = 0; i < listing->batch->len; i++)
    if (!listing_add (listing, g_ptr_array_index (listing->batch, i),
                      g_array_index (listing->serials, guint64, i)))
      break;
  listing->more = i < listing->batch->len || listing->batch_next != 0;
  g_task_return_boolean (task, TRUE);
}

static void
batch_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  EmRestAsync *async = user_data;
  Listing *listing = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

  g_clear_pointer (&listing->batch, g_ptr_array_unref);
  g_clear_pointer (&listing->serials, g_array_unref);
  if (!listing->complete && listing->more)
    {
      if (em_rest_async_get_message (async) == NULL)
        {
          em_rest_async_done (async);
          return;
        }
      /* on from the last task taken; the total was counted by the first */
      listing->query.after = listing->last;
      listing->query.offset = 0;
      read_batch (async);
      return;
    }
  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  respond_listing (msg, listing);
  em_rest_async_done (async);
}

static void
batch_read_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  EmRestAsync *async = user_data;
  Listing *listing = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  guint total = 0;

  listing->batch = em_engine_manager_query_tasks_finish_full (EM_ENGINE_MANAGER (source), result,
                                                              &total, &listing->batch_next,
                                                              &listing->serials, &error);
  if (listing->batch == NULL)
    {
      g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

      if ((msg = em_rest_async_resume (async, &scope)) == NULL)
        return;
      em_problem_respond_error (msg, error);
      em_rest_async_done (async);
      return;
    }
  if (em_rest_async_get_message (async) == NULL)
    {
      em_rest_async_done (async);
      return;
    }
  if (!listing->first_read)
    {
      listing->first_read = TRUE;
      listing->total = total;
    }
  task = g_task_new (NULL, NULL, batch_written_cb, async);
  g_task_set_source_tag (task, batch_read_cb);
  g_task_set_task_data (task, listing, NULL);
  g_task_run_in_thread (task, write_batch_thread);
}

/* as many as the room left takes at the size of the tasks so far, at most
 * LISTING_GROWTH times the batch before: the sizes ahead are unknown */
static guint
batch_length (Listing *listing)
{
  guint wanted = listing->limit - listing->count;
  gsize length = LISTING_FIRST_BATCH;

  if (listing->count > 0)
    {
      gsize item = MAX (listing->body->len / listing->count, 1);
      gsize room = listing->max_bytes > listing->body->len ?
                   listing->max_bytes - listing->body->len : 0;

      length = MIN (room / item + 1, (gsize) listing->asked * LISTING_GROWTH);
    }
  return (guint) CLAMP (length, 1, wanted);
}

static void
read_batch (EmRestAsync *async)
{
  Listing *listing = em_rest_async_get_data (async);

  listing->asked = listing->query.limit = batch_length (listing);
  /* the store stops at the room left too: the sizes ahead are unknown, and a
   * batch of tile scans after a few small tasks was hundreds of MB read */
  listing->query.max_bytes = listing->max_bytes > listing->body->len
                             ? listing->max_bytes - listing->body->len : 1;
  em_engine_manager_query_tasks_async (listing->manager, &listing->query, listing->cancellable,
                                       batch_read_cb, async);
}

void
em_rest_tasks_list (EmRestContext     *ctx,
                    SoupServerMessage *msg,
                    GHashTable        *query)
{
  g_auto(EmTaskQuery) filter = { 0, };
  g_autoptr(GError) error = NULL;
  Listing *listing;

  if (!em_rest_query_parse (query, EM_REST_QUERY_FILTERS | EM_REST_QUERY_PAGING,
                            ctx->page_default, ctx->page_max, &filter, &error))
    {
      em_problem_respond_error (msg, error);
      return;
    }

  listing = listing_new (ctx, query, &filter);
  if (list_from_indexes (ctx, msg, &filter, listing))
    {
      listing_free (listing);
      return;
    }
  read_batch (em_rest_async_begin (msg, listing, listing_free));
}

static void
deleted_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  EmRestAsync *async = user_data;
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  guint count = 0;
  gboolean deleted = em_engine_manager_delete_tasks_finish (EM_ENGINE_MANAGER (source), result,
                                                            &count, &error);

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (deleted)
    {
      g_autoptr(JsonObject) object = json_object_new ();
      g_autoptr(JsonNode) root = NULL;

      json_object_set_int_member (object, "deleted", count);
      root = json_node_init_object (json_node_alloc (), object);
      em_rest_respond_json (msg, 200, root);
    }
  else
    em_problem_respond_error (msg, error);
  em_rest_async_done (async);
}

void
em_rest_tasks_delete (EmRestContext     *ctx,
                      SoupServerMessage *msg,
                      GHashTable        *query)
{
  g_auto(EmTaskQuery) filter = { 0, };
  g_autoptr(GError) error = NULL;

  /* an unknown parameter is named first: it may be a misspelt filter */
  if (!em_rest_query_parse (query, EM_REST_QUERY_FILTERS, 0, 0, &filter, &error))
    {
      em_problem_respond_error (msg, error);
      return;
    }
  /* a bare DELETE /tasks would wipe the whole record: ask for a filter */
  if (!em_rest_query_has_filter (query))
    {
      em_problem_respond (msg, 400, NULL,
                          _("status: give at least one of status, action, since or until; "
                            "e.g. DELETE /tasks?status=completed&until=2026-01-01T00:00:00Z"));
      return;
    }
  if ((filter.statuses & ~EM_TASK_QUERY_FINISHED) != 0)
    {
      em_problem_respond (msg, 400, NULL,
                          _("status: only finished tasks (completed, failed, cancelled) "
                            "can be deleted; cancel pending or running ones first"));
      return;
    }
  em_engine_manager_delete_tasks_async (ctx->manager, &filter, ctx->cancellable, deleted_cb,
                                        em_rest_async_begin (msg, NULL, NULL));
}
