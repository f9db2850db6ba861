#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-clip.h"
#include "engine/em-json-variant.h"
#include "engine/em-time.h"
#include "dbus/em-dbus-history.h"
#include "dbus/em-dbus-recorded.h"
#include "dbus/em-dbus-sender-limits.h"
#include "dbus/em-dbus-util.h"

static const char * const list_filter_keys[] = {
  "status", "action", "since", "until", "after", "offset", "limit", NULL
};

/* the iface and the invocation an async engine call answers; the handler's
 * reference to the invocation is consumed by the reply */
typedef struct {
  EmDBusEngineManager1 *iface;
  GDBusMethodInvocation *invocation;
} Call;

static Call *
call_new (EmDBusEngineManager1  *iface,
          GDBusMethodInvocation *invocation)
{
  Call *call = g_new0 (Call, 1);

  call->iface = g_object_ref (iface);
  call->invocation = invocation;
  return call;
}

static void
call_free (Call *call)
{
  g_clear_object (&call->iface);
  g_clear_object (&call->invocation);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static void
call_return_error (Call         *call,
                   const GError *error)
{
  /* the calls' cancellable goes off when the service leaves the bus, or
   * for a read when its caller did, who gets no answer */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_dbus_method_invocation_return_error_literal (g_steal_pointer (&call->invocation),
                                                   EM_ERROR, EM_ERROR_UNAVAILABLE,
                                                   _("The service is shutting down"));
  else
    em_dbus_return_error (g_steal_pointer (&call->invocation), error);
}

static GVariant *
node_to_dict (JsonNode *node)
{
  return em_json_object_to_variant (json_node_get_object (node));
}

/* --- GetTask --- */

static void
lookup_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  node = em_engine_manager_lookup_task_finish (EM_ENGINE_MANAGER (source), result, &error);
  if (node == NULL)
    {
      call_return_error (call, error);
      return;
    }
  em_dbus_engine_manager1_complete_get_task (call->iface, g_steal_pointer (&call->invocation),
                                             node_to_dict (node));
}

void
em_dbus_history_get_task (EmEngineManager       *manager,
                          EmDBusEngineManager1  *iface,
                          GDBusMethodInvocation *invocation,
                          const char            *id,
                          GCancellable          *cancellable)
{
  em_engine_manager_lookup_task_async (manager, id, cancellable, lookup_done_cb,
                                       call_new (iface, invocation));
}

/* --- CancelTask --- */

static void
cancel_lookup_done_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  EmEngineManager *manager = EM_ENGINE_MANAGER (source);
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *task;
  const char *id;

  node = em_engine_manager_lookup_task_finish (manager, result, &error);
  if (node == NULL)
    {
      call_return_error (call, error);
      return;
    }

  /* only finished tasks leave memory; should it be back meanwhile, the
   * engine decides */
  task = json_node_get_object (node);
  id = json_object_get_string_member_with_default (task, "id", "");
  if (em_dbus_cancel_task (manager, id, call->invocation, &error))
    {
      call->invocation = NULL;
      return;
    }
  if (!g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND))
    {
      call_return_error (call, error);
      return;
    }
  g_dbus_method_invocation_return_error (g_steal_pointer (&call->invocation),
                                         EM_ERROR, EM_ERROR_CONFLICT,
                                         _("task “%s” has already finished: its status is %s"),
                                         id, json_object_get_string_member_with_default (task, "status", ""));
}

void
em_dbus_history_cancel_task (EmEngineManager       *manager,
                             EmDBusEngineManager1  *iface,
                             GDBusMethodInvocation *invocation,
                             const char            *id,
                             GCancellable          *cancellable)
{
  em_engine_manager_lookup_task_async (manager, id, cancellable, cancel_lookup_done_cb,
                                       call_new (iface, invocation));
}

/* --- ListTasks --- */

static gboolean
parse_status (GVariant  *value,
              guint     *mask,
              GError   **error)
{
  g_autofree const char **several = NULL;
  const char *one[] = { NULL, NULL };
  const char * const *names = one;
  EmTaskStatus status;

  /* one status, or several: as, or av as a JSON array arrives */
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    one[0] = g_variant_get_string (value, NULL);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY))
    names = several = g_variant_get_strv (value, NULL);
  else
    {
      gsize n = g_variant_n_children (value);

      names = several = g_new0 (const char *, n + 1);
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) boxed = g_variant_get_child_value (value, i);
          g_autoptr(GVariant) item = g_variant_get_variant (boxed);

          if (!g_variant_is_of_type (item, G_VARIANT_TYPE_STRING))
            {
              g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("filter.status[%u] must be of type s, not %s"),
                           (guint) i, g_variant_get_type_string (item));
              return FALSE;
            }
          /* the string lives in @value, which outlives @names */
          several[i] = g_variant_get_string (item, NULL);
        }
    }

  /* no names at all would be no filter: every task, the opposite of what an
   * empty selection means */
  if (names[0] == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("filter.status: empty; give at least one of pending, running, "
                             "completed, failed or cancelled"));
      return FALSE;
    }
  for (guint i = 0; names[i] != NULL; i++)
    {
      if (!em_task_status_from_string (names[i], &status))
        {
          g_autofree char *quoted = em_clip_for_message (names[i]);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("filter.status: unknown status “%s” (expected pending, running, "
                         "completed, failed or cancelled)"), quoted);
          return FALSE;
        }
      *mask |= EM_TASK_QUERY_STATUS (status);
    }
  return TRUE;
}

static gboolean
parse_list_filter (GVariant     *filter,
                   EmTaskQuery  *query,
                   GError      **error)
{
  g_autoptr(GVariant) status = g_variant_lookup_value (filter, "status", NULL);
  g_autoptr(GVariant) action = NULL;
  g_autoptr(GVariant) after = NULL;

  if (!em_dbus_check_keys (filter, "filter", list_filter_keys, error))
    return FALSE;

  if (status != NULL &&
      !g_variant_is_of_type (status, G_VARIANT_TYPE_STRING) &&
      !g_variant_is_of_type (status, G_VARIANT_TYPE_STRING_ARRAY) &&
      !g_variant_is_of_type (status, G_VARIANT_TYPE ("av")))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("filter.status must be of type s or as (or av of strings), not %s"),
                   g_variant_get_type_string (status));
      return FALSE;
    }
  if (status != NULL && !parse_status (status, &query->statuses, error))
    return FALSE;

  if (!em_dbus_lookup (filter, "filter", "action", G_VARIANT_TYPE_STRING, &action, error) ||
      !em_dbus_lookup (filter, "filter", "after", G_VARIANT_TYPE_STRING, &after, error) ||
      !em_dbus_lookup_time (filter, "filter", "since", &query->since, error) ||
      !em_dbus_lookup_time (filter, "filter", "until", &query->until, error) ||
      !em_dbus_lookup_uint (filter, "filter", "offset", &query->offset, error) ||
      !em_dbus_lookup_uint (filter, "filter", "limit", &query->limit, error))
    return FALSE;
  /* swapped bounds would match nothing: refused, as REST refuses them */
  if (query->since != NULL && query->until != NULL &&
      g_date_time_compare (query->until, query->since) < 0)
    {
      g_autoptr(GVariant) since = g_variant_lookup_value (filter, "since", NULL);
      g_autoptr(GVariant) until = g_variant_lookup_value (filter, "until", NULL);
      /* a time may have any number of digits of a second */
      g_autofree char *since_quoted = em_clip_for_message (g_variant_get_string (since, NULL));
      g_autofree char *until_quoted = em_clip_for_message (g_variant_get_string (until, NULL));

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("filter.until: %s is before filter.since (%s); since is the start "
                     "of the window, until its end"),
                   until_quoted, since_quoted);
      return FALSE;
    }

  /* no action has an empty name: refused, as REST refuses action= */
  if (action != NULL && *g_variant_get_string (action, NULL) == '\0')
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("filter.action: must be an action name"));
      return FALSE;
    }
  if (action != NULL)
    query->action = g_variant_dup_string (action, NULL);
  if (after != NULL)
    query->after_id = g_variant_dup_string (after, NULL);
  return TRUE;
}

/* Without a limit a listing is all of history, hundreds of thousands of
 * tasks: read whole, then converted, 200 000 tasks took 2.2 GB and 10 s
 * before the reply was refused as too large. So it is read a page at a
 * time, each page converted in a worker into the serialized dictionaries of
 * the reply and dropped, and the listing is refused as soon as they pass the
 * limit: it holds about what it may send, and the loop only hands on pages */
#define LIST_FIRST_PAGE 64
#define LIST_MAX_PAGE   1000
#define LIST_PAGE_BYTES (1024 * 1024)
/* an item's place in the array beyond its own bytes: an offset of at most 4
 * bytes (an array up to 4 GiB) and padding to the dictionary's alignment of 8 */
#define LIST_ITEM_FRAMING 11

/* a listing and the call it answers. The call is freed on the loop, where
 * the invocation's last reference must go (the sender limits count it) */
typedef struct {
  Call            *call;
  GWeakRef         manager;   /* a listing must not keep the engine past a stop */
  GCancellable    *cancellable;
  EmTaskQuery      query;     /* the next page's */
  guint            wanted;    /* the caller's limit; 0: all */
  gsize            max_bytes;
  GPtrArray       *dicts;     /* (element-type GVariant): the reply's items, serialized */
  gsize            size;      /* of the items with their framing */
  GPtrArray       *page;      /* (element-type JsonNode): read, not yet converted */
  guint64          next;      /* the cursor after the page; 0 after the last */
} Listing;

static void
listing_free (Listing *listing)
{
  g_clear_pointer (&listing->call, call_free);
  g_weak_ref_clear (&listing->manager);
  g_clear_object (&listing->cancellable);
  em_task_query_clear (&listing->query);
  g_clear_pointer (&listing->dicts, g_ptr_array_unref);
  g_clear_pointer (&listing->page, g_ptr_array_unref);
  g_free (listing);
}

/* pages hold about LIST_PAGE_BYTES, and no more than the reply has room for */
static guint
listing_page_length (Listing *listing)
{
  guint length = LIST_FIRST_PAGE;

  if (listing->dicts->len > 0)
    {
      gsize item = MAX (listing->size / listing->dicts->len, 1);
      gsize room = listing->max_bytes > listing->size ? listing->max_bytes - listing->size : 0;

      length = (guint) CLAMP (MIN (LIST_PAGE_BYTES, room) / item + 1, 1, LIST_MAX_PAGE);
    }
  if (listing->wanted > 0)
    length = MIN (length, listing->wanted - listing->dicts->len);
  return length;
}

/* and the store stops reading a page at that many bytes of stored tasks:
 * the sizes ahead are unknown, and a page of tile scans after small tasks
 * was read and parsed whole, hundreds of MB */
static gsize
listing_page_bytes (Listing *listing)
{
  gsize room = listing->max_bytes > listing->size ? listing->max_bytes - listing->size : 0;

  return MAX (MIN (LIST_PAGE_BYTES, room), 1);
}

static void
reply_listing (Listing *listing)
{
  GDBusMethodInvocation *invocation = listing->call->invocation;
  g_autoptr(GVariant) tasks = NULL;

  em_dbus_sender_limits_release (invocation);
  if (listing->size <= listing->max_bytes)
    tasks = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("a{sv}"),
                                                     (GVariant **) listing->dicts->pdata,
                                                     listing->dicts->len));
  if (tasks != NULL && g_variant_get_size (tasks) <= listing->max_bytes)
    em_dbus_engine_manager1_complete_list_tasks (listing->call->iface, g_object_ref (invocation),
                                                 tasks);
  else
    {
      /* the numbers apart: a format macro would cut the msgid short */
      g_autofree char *limit = g_strdup_printf ("%" G_GSIZE_FORMAT, listing->max_bytes);
      g_autofree char *fit = g_strdup_printf ("%u", listing->dicts->len - 1);

      g_dbus_method_invocation_return_error (g_object_ref (invocation), EM_ERROR,
                                             EM_ERROR_INVALID_ARGUMENT,
                                             _("filter.limit: the matching tasks take more "
                                               "than the %s bytes one D-Bus reply may hold, "
                                               "which the first %s of them fill; ask for "
                                               "fewer with limit and page on with after"),
                                             limit, fit);
    }
}

/* in a worker: converting and serializing a page; the trees share nothing
 * with the engine's tasks (em_task_to_json() copies), so they may go here
 * too. Returns whether the listing has been answered */
static void
convert_page_thread (GTask        *task,
                     gpointer      source,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  Listing *listing = task_data;
  g_autoptr(GPtrArray) page = g_steal_pointer (&listing->page);

  for (guint i = 0; i < page->len && listing->size <= listing->max_bytes; i++)
    {
      GVariant *dict = g_variant_ref_sink (node_to_dict (g_ptr_array_index (page, i)));

      /* serialized now, the dictionary drops its tree of values */
      g_variant_get_data (dict);
      listing->size += g_variant_get_size (dict) + LIST_ITEM_FRAMING;
      g_ptr_array_add (listing->dicts, dict);
    }
  if (listing->size <= listing->max_bytes && listing->next != 0 &&
      (listing->wanted == 0 || listing->dicts->len < listing->wanted))
    {
      g_task_return_boolean (task, FALSE);
      return;
    }
  reply_listing (listing);
  g_task_return_boolean (task, TRUE);
}

static void listing_read_page (Listing *listing);

static void
page_converted_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Listing *listing = user_data;
  g_autoptr(GError) error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), NULL))
    {
      listing_free (listing);
      return;
    }
  /* the caller left, or the service is leaving: no page more */
  if (g_cancellable_set_error_if_cancelled (listing->cancellable, &error))
    {
      call_return_error (listing->call, error);
      listing_free (listing);
      return;
    }
  /* the next page starts after this one; offset counted from the first */
  g_clear_pointer (&listing->query.after_id, g_free);
  listing->query.after = listing->next;
  listing->query.offset = 0;
  listing_read_page (listing);
}

static void
page_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Listing *listing = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;

  listing->page = em_engine_manager_query_tasks_finish (EM_ENGINE_MANAGER (source), result, NULL,
                                                        &listing->next, &error);
  if (listing->page == NULL)
    {
      /* the one task a listing looks up is its cursor */
      if (g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND))
        g_prefix_error (&error, "filter.after: ");
      call_return_error (listing->call, error);
      listing_free (listing);
      return;
    }

  task = g_task_new (NULL, NULL, page_converted_cb, listing);
  g_task_set_source_tag (task, page_read_cb);
  g_task_set_task_data (task, listing, NULL);
  g_task_run_in_thread (task, convert_page_thread);
}

static void
listing_read_page (Listing *listing)
{
  g_autoptr(EmEngineManager) manager = g_weak_ref_get (&listing->manager);

  if (manager == NULL)
    {
      g_dbus_method_invocation_return_error_literal (g_steal_pointer (&listing->call->invocation),
                                                     EM_ERROR, EM_ERROR_UNAVAILABLE,
                                                     _("The service is shutting down"));
      listing_free (listing);
      return;
    }
  listing->query.limit = listing_page_length (listing);
  listing->query.max_bytes = listing_page_bytes (listing);
  em_engine_manager_query_tasks_async (manager, &listing->query, listing->cancellable,
                                       page_read_cb, listing);
}

void
em_dbus_history_list_tasks (EmEngineManager       *manager,
                            EmDBusEngineManager1  *iface,
                            GDBusMethodInvocation *invocation,
                            GVariant              *filter,
                            gsize                  max_reply_bytes,
                            GCancellable          *cancellable)
{
  g_autoptr(GError) error = NULL;
  Listing *listing = g_new0 (Listing, 1);

  em_task_query_init (&listing->query);
  if (!parse_list_filter (filter, &listing->query, &error))
    {
      em_task_query_clear (&listing->query);
      g_free (listing);
      em_dbus_return_error (invocation, error);
      return;
    }

  listing->call = call_new (iface, invocation);
  g_weak_ref_init (&listing->manager, manager);
  listing->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  listing->wanted = listing->query.limit;
  listing->max_bytes = max_reply_bytes;
  listing->dicts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  listing_read_page (listing);
}

/* --- GetQueue --- */

/* finished tasks may be only in the database: their counts are three queries */
typedef struct {
  Call *call;
  gboolean paused;
  const char *held;     /* static */
  guint max_concurrent;
  guint counts[EM_TASK_STATUS_N_STATUSES];
  GStrv running;
  guint outstanding;
  GError *error;
} QueueAnswer;

static void
queue_answer_free (QueueAnswer *answer)
{
  g_clear_pointer (&answer->call, call_free);
  g_clear_pointer (&answer->running, g_strfreev);
  g_clear_error (&answer->error);
  g_free (answer);
}

static void
queue_answer_reply (QueueAnswer *answer)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  GVariantBuilder counts;

  if (answer->error != NULL)
    {
      call_return_error (answer->call, answer->error);
      return;
    }

  g_variant_builder_init (&counts, G_VARIANT_TYPE ("a{su}"));
  for (guint s = 0; s < EM_TASK_STATUS_N_STATUSES; s++)
    g_variant_builder_add (&counts, "{su}", em_task_status_to_string (s), answer->counts[s]);

  g_variant_dict_insert (&dict, "paused", "b", answer->paused);
  g_variant_dict_insert (&dict, "held", "s", answer->held != NULL ? answer->held : "");
  g_variant_dict_insert_value (&dict, "counts", g_variant_builder_end (&counts));
  g_variant_dict_insert_value (&dict, "running",
                               g_variant_new_strv ((const char * const *) answer->running, -1));
  g_variant_dict_insert (&dict, "max_concurrent", "u", answer->max_concurrent);
  em_dbus_engine_manager1_complete_get_queue (answer->call->iface,
                                              g_steal_pointer (&answer->call->invocation),
                                              g_variant_dict_end (&dict));
}

typedef struct {
  QueueAnswer *answer;
  EmTaskStatus status;
} CountQuery;

static void
count_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autofree CountQuery *count = user_data;
  QueueAnswer *answer = count->answer;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  guint total = 0;

  tasks = em_engine_manager_query_tasks_finish (EM_ENGINE_MANAGER (source), result, &total, NULL,
                                                &error);
  if (tasks == NULL && answer->error == NULL)
    answer->error = g_steal_pointer (&error);
  answer->counts[count->status] = total;

  if (--answer->outstanding > 0)
    return;
  queue_answer_reply (answer);
  queue_answer_free (answer);
}

void
em_dbus_history_get_queue (EmEngineManager       *manager,
                           EmDBusEngineManager1  *iface,
                           GDBusMethodInvocation *invocation,
                           GCancellable          *cancellable)
{
  const EmTaskStatus active[] = { EM_TASK_STATUS_PENDING, EM_TASK_STATUS_RUNNING };
  const EmTaskStatus finished[] = {
    EM_TASK_STATUS_COMPLETED, EM_TASK_STATUS_FAILED, EM_TASK_STATUS_CANCELLED
  };
  QueueAnswer *answer = g_new0 (QueueAnswer, 1);
  g_autoptr(GPtrArray) running = NULL;
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();

  answer->call = call_new (iface, invocation);
  answer->paused = em_engine_manager_get_paused (manager);
  answer->held = em_engine_manager_get_held (manager);
  answer->max_concurrent = em_engine_manager_get_max_concurrent (manager);

  /* active tasks are all in memory */
  for (guint i = 0; i < G_N_ELEMENTS (active); i++)
    answer->counts[active[i]] = em_engine_manager_count_tasks (manager, &active[i]);
  running = em_engine_manager_list_tasks (manager, &(EmTaskStatus) { EM_TASK_STATUS_RUNNING },
                                         0, 0, NULL);
  for (guint i = 0; i < running->len; i++)
    g_strv_builder_add (ids, em_task_get_id (g_ptr_array_index (running, i)));
  answer->running = g_strv_builder_end (ids);

  answer->outstanding = G_N_ELEMENTS (finished);
  for (guint i = 0; i < G_N_ELEMENTS (finished); i++)
    {
      g_auto(EmTaskQuery) query;
      CountQuery *count = g_new0 (CountQuery, 1);

      em_task_query_init (&query);
      query.statuses = EM_TASK_QUERY_STATUS (finished[i]);
      query.count_only = TRUE;
      count->answer = answer;
      count->status = finished[i];
      em_engine_manager_query_tasks_async (manager, &query, cancellable, count_done_cb, count);
    }
}
