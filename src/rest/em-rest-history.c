#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-problem.h"
#include "rest/em-rest-async.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-query.h"

/* GET /tasks and DELETE /tasks: all of history, through the engine's queries */

typedef struct {
  GHashTable *params;
  guint       limit;
} Listing;

static void
listing_free (gpointer data)
{
  Listing *listing = data;

  g_clear_pointer (&listing->params, g_hash_table_unref);
  g_free (listing);
}

/* @next: the serial of the page's last task when more follow, else 0. The
 * next page starts after it rather than at an offset, so that tasks leaving
 * the filter meanwhile (a pending task that starts) make it skip none. */
static void
respond_listing (SoupServerMessage *msg,
                 Listing           *listing,
                 GPtrArray         *tasks,
                 guint              total,
                 guint64            next)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autoptr(JsonArray) array = json_array_sized_new (tasks->len);
  g_autoptr(JsonNode) root = NULL;
  char total_text[32];

  g_snprintf (total_text, sizeof total_text, "%u", total);
  soup_message_headers_replace (headers, "X-Total-Count", total_text);
  if (next != 0)
    {
      g_autofree char *link = em_rest_query_next_link (listing->params, listing->limit, next);

      soup_message_headers_replace (headers, "Link", link);
    }

  for (guint i = 0; i < tasks->len; i++)
    json_array_add_element (array, json_node_ref (g_ptr_array_index (tasks, i)));
  root = json_node_init_array (json_node_alloc (), array);
  em_rest_respond_json (msg, 200, root);
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
  g_autoptr(GPtrArray) nodes = NULL;
  gboolean has_store = em_engine_manager_has_store (ctx->manager);
  EmTaskStatus status = EM_TASK_STATUS_N_STATUSES;
  guint total = 0;

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
                                        filter->offset, filter->limit, &total);
  nodes = g_ptr_array_new_full (tasks->len, (GDestroyNotify) json_node_unref);
  for (guint i = 0; i < tasks->len; i++)
    g_ptr_array_add (nodes, em_task_to_json (g_ptr_array_index (tasks, i)));
  respond_listing (msg, listing, nodes, total,
                   tasks->len > 0 && (guint64) filter->offset + tasks->len < total
                     ? em_task_get_serial (g_ptr_array_index (tasks, tasks->len - 1)) : 0);
  return TRUE;
}

static void
listed_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  EmRestAsync *async = user_data;
  Listing *listing = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  guint total = 0;
  guint64 next = 0;
  g_autoptr(GPtrArray) tasks = em_engine_manager_query_tasks_finish (EM_ENGINE_MANAGER (source),
                                                                     result, &total, &next,
                                                                     &error);
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (tasks == NULL)
    {
      em_problem_respond_error (msg, error);
      em_rest_async_done (async);
      return;
    }

  respond_listing (msg, listing, tasks, total, next);
  em_rest_async_done (async);
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

  listing = g_new0 (Listing, 1);
  listing->params = query != NULL ? g_hash_table_ref (query) : NULL;
  listing->limit = filter.limit;
  if (list_from_indexes (ctx, msg, &filter, listing))
    {
      listing_free (listing);
      return;
    }
  em_engine_manager_query_tasks_async (ctx->manager, &filter, ctx->cancellable, listed_cb,
                                       em_rest_async_begin (msg, listing, listing_free));
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
