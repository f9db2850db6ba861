#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-engine-manager-private.h"
#include "engine/em-error.h"
#include "engine/em-task-private.h"
#include "engine/em-task-spec.h"

/*
 * The engine's history beyond what memory holds: queries over every task, the
 * deletion of finished ones, retention, and the event log for clients that
 * resume. Memory answers what it can; the store answers the rest, after the
 * writes handed to it before the question.
 */

/* --- history queries --- */

typedef struct {
  GPtrArray *tasks;
  GArray    *serials;    /* the tasks', in the same order */
  guint      total;
  guint64    next;       /* the cursor after the page, 0 on the last one */
} QueryAnswer;

static void
query_answer_free (QueryAnswer *answer)
{
  g_clear_pointer (&answer->tasks, g_ptr_array_unref);
  g_clear_pointer (&answer->serials, g_array_unref);
  g_free (answer);
}

/* about a task's JSON but for its result, for a query's max_bytes */
#define MEMORY_TASK_BYTES 512

static QueryAnswer *
query_memory (EmEngineManager *self, const EmTaskQuery *query)
{
  QueryAnswer *answer = g_new0 (QueryAnswer, 1);
  GSequence *seq = self->all;
  guint skipped = 0;
  guint64 last = 0;
  gsize bytes = 0;

  /* one status: walk just its index */
  for (guint s = 0; s < EM_TASK_STATUS_N_STATUSES; s++)
    if (query->statuses == EM_TASK_QUERY_STATUS (s))
      seq = self->by_status[s];

  answer->tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  answer->serials = g_array_new (FALSE, FALSE, sizeof (guint64));
  for (GSequenceIter *iter = g_sequence_get_begin_iter (seq);
       !g_sequence_iter_is_end (iter); iter = g_sequence_iter_next (iter))
    {
      TaskEntry *entry = g_sequence_get (iter);

      if (!em_task_query_matches (query, entry->task))
        continue;
      answer->total++;
      if (entry->item.serial <= query->after)
        continue;
      if (query->count_only)
        continue;
      if (skipped < query->offset)
        skipped++;
      else if ((query->limit == 0 || answer->tasks->len < query->limit) &&
               (query->max_bytes == 0 || answer->tasks->len == 0 || bytes < query->max_bytes))
        {
          gsize result_length = 0;

          g_ptr_array_add (answer->tasks, em_task_to_json (entry->task));
          last = entry->item.serial;
          g_array_append_val (answer->serials, last);
          /* the budget as the store keeps it, by the part that can be large:
           * each task here is a copy, made on the loop */
          em_task_get_result_json (entry->task, &result_length);
          bytes += result_length + MEMORY_TASK_BYTES;
        }
      else if (answer->next == 0)
        answer->next = last;
    }
  return answer;
}

static void
query_free (EmTaskQuery *query)
{
  em_task_query_clear (query);
  g_free (query);
}

/* a task in memory may have moved on without an event (waiting_on, progress);
 * one that moved out of the filter meanwhile stays as the store found it,
 * so the listing and its total keep to the filter. A finished task's row
 * that says so is its last state: rebuilding the thousand finished tasks
 * memory keeps, for every listing, held up the loop */
static void
refresh_row (const EmTaskQuery *query, GPtrArray *tasks, guint i, TaskEntry *entry)
{
  JsonObject *object = json_node_get_object (g_ptr_array_index (tasks, i));

  if (!em_task_query_matches (query, entry->task))
    return;
  if (em_task_is_finished (entry->task) &&
      g_strcmp0 (json_object_get_string_member (object, "status"),
                 em_task_status_to_string (em_task_get_status (entry->task))) == 0)
    return;
  json_node_unref (g_ptr_array_index (tasks, i));
  g_ptr_array_index (tasks, i) = em_task_to_json (entry->task);
}

/* the position of @serial in @serials (ascending), or -1 */
static gssize
find_serial (GArray *serials, guint64 serial)
{
  gsize low = 0, high = serials->len;

  while (low < high)
    {
      gsize mid = low + (high - low) / 2;
      guint64 at = g_array_index (serials, guint64, mid);

      if (at == serial)
        return (gssize) mid;
      if (at < serial)
        low = mid + 1;
      else
        high = mid;
    }
  return -1;
}

static void
query_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EmEngineManager *self = g_task_get_source_object (task);
  const EmTaskQuery *query = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GArray *serials;
  QueryAnswer *answer = g_new0 (QueryAnswer, 1);

  self->store_requests--;
  answer->tasks = em_store_query_tasks_finish (self->store, result, &answer->total,
                                               &answer->serials, &answer->next, &error);
  serials = answer->serials;
  if (answer->tasks == NULL)
    {
      query_answer_free (answer);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* whichever side is smaller is walked: a page looks its rows up in memory,
   * but all of history (200 000 rows), row by row, held the loop up for
   * 165 ms where memory's few thousand tasks are found by serial at once */
  if (answer->tasks->len <= g_hash_table_size (self->entries))
    {
      for (guint i = 0; i < answer->tasks->len; i++)
        {
          JsonObject *object = json_node_get_object (g_ptr_array_index (answer->tasks, i));
          TaskEntry *entry = g_hash_table_lookup (self->entries,
                                                  json_object_get_string_member (object, "id"));

          if (entry != NULL)
            refresh_row (query, answer->tasks, i, entry);
        }
    }
  else
    {
      for (GSequenceIter *iter = g_sequence_get_begin_iter (self->all);
           !g_sequence_iter_is_end (iter); iter = g_sequence_iter_next (iter))
        {
          TaskEntry *entry = g_sequence_get (iter);
          gssize i = find_serial (serials, entry->item.serial);

          if (i >= 0)
            refresh_row (query, answer->tasks, (guint) i, entry);
        }
    }
  g_task_return_pointer (task, answer, (GDestroyNotify) query_answer_free);
}

void
em_engine_manager_query_tasks_async (EmEngineManager     *self,
                                     const EmTaskQuery   *query,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  EmTaskQuery *copy;
  TaskEntry *cursor;
  guint64 deleted_serial = 0;

  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));
  g_return_if_fail (query != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_engine_manager_query_tasks_async);
  copy = g_new0 (EmTaskQuery, 1);
  em_task_query_copy (copy, query);
  g_task_set_task_data (task, copy, (GDestroyNotify) query_free);
  /* a cursor task still in memory is resolved here; the store finds the others */
  if (copy->after_id != NULL &&
      (cursor = g_hash_table_lookup (self->entries, copy->after_id)) != NULL)
    {
      copy->after = MAX (copy->after, cursor->item.serial);
      g_clear_pointer (&copy->after_id, g_free);
    }
  else if (copy->after_id != NULL && self->deleted != NULL &&
           em_deleted_serials_lookup (self->deleted, copy->after_id, &deleted_serial))
    {
      copy->after = MAX (copy->after, deleted_serial);
      g_clear_pointer (&copy->after_id, g_free);
    }
  if (self->store == NULL)
    {
      if (copy->after_id != NULL)
        {
          g_autofree char *quoted = em_clip_for_message (copy->after_id);

          g_task_return_new_error (task, EM_ERROR, EM_ERROR_NOT_FOUND, _("no task with id “%s”"),
                                   quoted);
        }
      else
        g_task_return_pointer (task, query_memory (self, copy), (GDestroyNotify) query_answer_free);
      return;
    }
  em_engine_manager_flush_unwritten (self);
  self->store_requests++;
  em_store_query_tasks_async (self->store, copy, cancellable, query_done_cb, g_steal_pointer (&task));
}

GPtrArray *
em_engine_manager_query_tasks_finish (EmEngineManager  *self,
                                      GAsyncResult     *result,
                                      guint            *out_total,
                                      guint64          *out_next,
                                      GError          **error)
{
  return em_engine_manager_query_tasks_finish_full (self, result, out_total, out_next, NULL,
                                                    error);
}

GPtrArray *
em_engine_manager_query_tasks_finish_full (EmEngineManager  *self,
                                           GAsyncResult     *result,
                                           guint            *out_total,
                                           guint64          *out_next,
                                           GArray          **out_serials,
                                           GError          **error)
{
  QueryAnswer *answer;
  GPtrArray *tasks;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  answer = g_task_propagate_pointer (G_TASK (result), error);
  if (answer == NULL)
    return NULL;
  if (out_total != NULL)
    *out_total = answer->total;
  if (out_next != NULL)
    *out_next = answer->next;
  if (out_serials != NULL)
    *out_serials = g_steal_pointer (&answer->serials);
  tasks = g_steal_pointer (&answer->tasks);
  query_answer_free (answer);
  return tasks;
}

static void
lookup_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EmEngineManager *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  JsonNode *node = em_store_lookup_task_finish (self->store, result, &error);
  TaskEntry *entry;

  self->store_requests--;
  if (node == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  entry = g_hash_table_lookup (self->entries,
                               json_object_get_string_member (json_node_get_object (node), "id"));
  if (entry != NULL)
    {
      json_node_unref (node);
      node = em_task_to_json (entry->task);
    }
  g_task_return_pointer (task, node, (GDestroyNotify) json_node_unref);
}

void
em_engine_manager_lookup_task_async (EmEngineManager     *self,
                                     const char          *id,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  TaskEntry *entry;

  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));
  g_return_if_fail (id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_engine_manager_lookup_task_async);
  entry = g_hash_table_lookup (self->entries, id);
  if (entry != NULL)
    g_task_return_pointer (task, em_task_to_json (entry->task), (GDestroyNotify) json_node_unref);
  else if (self->store != NULL)
    {
      em_engine_manager_flush_unwritten (self);
      self->store_requests++;
      em_store_lookup_task_async (self->store, id, cancellable, lookup_done_cb, g_steal_pointer (&task));
    }
  else
    {
      g_autofree char *quoted = em_clip_for_message (id);

      g_task_return_new_error (task, EM_ERROR, EM_ERROR_NOT_FOUND, _("no task with id “%s”"),
                               quoted);
    }
}

JsonNode *
em_engine_manager_lookup_task_finish (EmEngineManager *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- dependencies on tasks only the store holds --- */

static gboolean
dependency_known (EmEngineManager *self, const char *id)
{
  return id[0] == '#' || g_hash_table_contains (self->entries, id) ||
         em_finished_cache_lookup (self->gone, id, NULL);
}

gboolean
em_engine_manager_dependencies_known (EmEngineManager *self, GPtrArray *specs)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), TRUE);

  if (self->store == NULL)
    return TRUE;
  for (guint i = 0; i < specs->len; i++)
    {
      EmTaskSpec *spec = g_ptr_array_index (specs, i);

      for (guint d = 0; spec->depends_on != NULL && spec->depends_on[d] != NULL; d++)
        if (!dependency_known (self, spec->depends_on[d]))
          return FALSE;
    }
  return TRUE;
}

typedef struct {
  guint       outstanding;
  GHashTable *found;        /* id → GINT_TO_POINTER (EmTaskStatus) */
  GError     *error;
} DependencyLookup;

static void
dependency_lookup_free (DependencyLookup *lookup)
{
  g_hash_table_unref (lookup->found);
  g_clear_error (&lookup->error);
  g_free (lookup);
}

static gboolean
unpin_idle_cb (gpointer user_data)
{
  EmEngineManager *self = user_data;

  self->unpin_source = 0;
  em_finished_cache_unpin_all (self->gone);
  return G_SOURCE_REMOVE;
}

/* the statuses found stay until the caller has made its tasks: it does so in
 * its callback, which runs right away, before this idle */
static void
pin_found (EmEngineManager *self, GHashTable *found)
{
  GHashTableIter iter;
  gpointer id, status;

  if (g_hash_table_size (found) == 0)
    return;
  g_hash_table_iter_init (&iter, found);
  while (g_hash_table_iter_next (&iter, &id, &status))
    em_finished_cache_pin (self->gone, id, GPOINTER_TO_INT (status));
  if (self->unpin_source == 0)
    self->unpin_source = g_idle_add_full (G_PRIORITY_LOW, unpin_idle_cb, self, NULL);
}

static void
dependency_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EmEngineManager *self = g_task_get_source_object (task);
  DependencyLookup *lookup = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = em_store_lookup_task_finish (self->store, result, &error);

  self->store_requests--;
  if (node != NULL)
    {
      JsonObject *object = json_node_get_object (node);
      const char *id = json_object_get_string_member_with_default (object, "id", NULL);
      const char *text = json_object_get_string_member_with_default (object, "status", NULL);
      EmTaskStatus status;

      if (id != NULL && text != NULL && em_task_status_from_string (text, &status) &&
          status >= EM_TASK_STATUS_COMPLETED)
        g_hash_table_insert (lookup->found, g_strdup (id), GINT_TO_POINTER (status));
    }
  /* an unknown id is for scheduling to refuse, with its usual message */
  else if (!g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND) && lookup->error == NULL)
    lookup->error = g_steal_pointer (&error);

  if (--lookup->outstanding > 0)
    return;
  if (lookup->error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&lookup->error));
      return;
    }
  pin_found (self, lookup->found);
  g_task_return_boolean (task, TRUE);
}

void
em_engine_manager_look_up_dependencies_async (EmEngineManager     *self,
                                              GPtrArray           *specs,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GHashTable) asked = NULL;
  DependencyLookup *lookup;

  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));
  g_return_if_fail (specs != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_engine_manager_look_up_dependencies_async);
  lookup = g_new0 (DependencyLookup, 1);
  lookup->found = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_task_set_task_data (task, lookup, (GDestroyNotify) dependency_lookup_free);

  /* the rows of tasks that just left memory may not be handed over yet */
  if (self->store != NULL)
    em_engine_manager_flush_unwritten (self);
  /* one lookup per id, each a point query by primary key */
  asked = g_hash_table_new (g_str_hash, g_str_equal);
  lookup->outstanding = 1;
  for (guint i = 0; self->store != NULL && i < specs->len; i++)
    {
      EmTaskSpec *spec = g_ptr_array_index (specs, i);

      for (guint d = 0; spec->depends_on != NULL && spec->depends_on[d] != NULL; d++)
        {
          const char *id = spec->depends_on[d];
          EmTaskStatus status;

          if (id[0] == '#' || g_hash_table_contains (self->entries, id))
            continue;
          /* known now, but the cache may drop it while the others are read */
          if (em_finished_cache_lookup (self->gone, id, &status))
            {
              g_hash_table_insert (lookup->found, g_strdup (id), GINT_TO_POINTER (status));
              continue;
            }
          if (!g_hash_table_add (asked, (gpointer) id))
            continue;
          lookup->outstanding++;
          self->store_requests++;
          em_store_lookup_task_async (self->store, id, cancellable, dependency_found_cb,
                                      g_object_ref (task));
        }
    }
  if (--lookup->outstanding == 0)
    {
      pin_found (self, lookup->found);
      g_task_return_boolean (task, TRUE);
    }
}

gboolean
em_engine_manager_look_up_dependencies_finish (EmEngineManager *self,
                                               GAsyncResult    *result,
                                               GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- deleting history --- */

/* finished tasks whose action has not returned yet (cancelled, but the action
 * ignored it): not history yet, since their entry is still in use and their
 * devices still busy. Deletion and retention leave them until it returns. */
static GStrv
unreturned_ids (EmEngineManager *self)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new ();

  for (GList *l = self->n_in_flight > 0 ? self->finished.head : NULL; l != NULL; l = l->next)
    {
      TaskEntry *entry = l->data;

      if (entry->in_flight)
        g_ptr_array_add (ids, g_strdup (em_task_get_id (entry->task)));
    }
  g_ptr_array_add (ids, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&ids), FALSE);
}

/* memory forgets what the database deleted a slice at a time, one slice per
 * turn of the loop: a deletion of 60 000 tasks held every client up for
 * 60 ms when it was forgotten at once */
#define FORGET_PER_TURN 1024

typedef struct {
  GTask *task;     /* answered with the count once every id is forgotten */
  GStrv  ids;
  guint  next;
  guint  source;   /* the idle doing the rest */
} Forgetting;

static void
forgetting_free (Forgetting *forgetting)
{
  g_clear_object (&forgetting->task);
  g_strfreev (forgetting->ids);
  g_free (forgetting);
}

static void
forget_one (EmEngineManager *self, const char *id)
{
  TaskEntry *entry = g_hash_table_lookup (self->entries, id);

  em_finished_cache_remove (self->gone, id);
  if (entry == NULL || !em_task_is_finished (entry->task) || entry->in_flight)
    return;
  if (self->store == NULL)
    {
      if (self->deleted == NULL)
        self->deleted = em_deleted_serials_new (EM_DELETED_SERIALS_MAX);
      em_deleted_serials_add (self->deleted, id, entry->item.serial);
    }
  em_engine_manager_forget_entry (self, entry, FALSE);
}

static gboolean
forget_slice_cb (gpointer user_data)
{
  Forgetting *forgetting = user_data;
  EmEngineManager *self = g_task_get_source_object (forgetting->task);
  GStrv ids = forgetting->ids;
  guint start = forgetting->next;
  guint end = start;
  char *after;

  while (ids[end] != NULL && end - start < FORGET_PER_TURN)
    forget_one (self, ids[end++]);
  forgetting->next = end;

  /* the slice's ids as a list of their own, for the signal */
  after = ids[end];
  ids[end] = NULL;
  em_engine_manager_emit_tasks_deleted (self, (const char * const *) ids + start);
  ids[end] = after;

  if (after != NULL)
    return G_SOURCE_CONTINUE;
  g_queue_remove (&self->forgetting, forgetting);
  if (g_task_get_source_tag (forgetting->task) == em_engine_manager_prune_async)
    self->pruning = FALSE;
  g_task_return_int (forgetting->task, end);
  return G_SOURCE_REMOVE;
}

/* at shutdown: the answer's task holds the engine, which the idle would
 * otherwise keep alive past the loop, its store never closed */
void
em_engine_manager_finish_forgetting (EmEngineManager *self)
{
  Forgetting *forgetting;

  while ((forgetting = g_queue_peek_head (&self->forgetting)) != NULL)
    {
      while (forget_slice_cb (forgetting) == G_SOURCE_CONTINUE)
        ;
      g_source_remove (forgetting->source);
    }
}

/* answers @task with the number of @ids once memory has forgotten them all */
static void
forget_deleted (EmEngineManager *self, GStrv ids, GTask *task)
{
  Forgetting *forgetting = g_new0 (Forgetting, 1);
  gboolean more;

  forgetting->task = g_object_ref (task);
  forgetting->ids = ids;
  /* the first slice now: a small deletion is answered in this turn; past
   * the shutdown, all of it */
  while ((more = forget_slice_cb (forgetting) == G_SOURCE_CONTINUE) && self->shutting_down)
    ;
  if (!more)
    {
      forgetting_free (forgetting);
      return;
    }
  g_queue_push_tail (&self->forgetting, forgetting);
  forgetting->source = g_idle_add_full (G_PRIORITY_DEFAULT, forget_slice_cb, forgetting,
                                        (GDestroyNotify) forgetting_free);
}

static void
delete_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EmEngineManager *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  GStrv ids = em_store_delete_tasks_finish (self->store, result, &error);

  self->store_requests--;
  /* memory forgets what the database lost even if the caller has gone: the
   * caller's cancellable only decides the answer, in g_task_return_int() */
  if (ids == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    forget_deleted (self, ids, task);
}

static gboolean
delete_in_memory_cb (gpointer user_data)
{
  GTask *task = user_data;
  EmEngineManager *self = g_task_get_source_object (task);
  const EmTaskQuery *finished = g_task_get_task_data (task);
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);

  for (GList *l = self->finished.head; l != NULL; l = l->next)
    {
      TaskEntry *entry = l->data;

      if (em_task_query_matches (finished, entry->task) && !entry->in_flight)
        g_ptr_array_add (ids, g_strdup (em_task_get_id (entry->task)));
    }
  g_ptr_array_add (ids, NULL);
  forget_deleted (self, (GStrv) g_ptr_array_free (ids, FALSE), task);
  return G_SOURCE_REMOVE;
}

void
em_engine_manager_delete_tasks_async (EmEngineManager     *self,
                                      const EmTaskQuery   *query,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_auto(EmTaskQuery) finished = { 0, };

  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));
  g_return_if_fail (query != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_engine_manager_delete_tasks_async);
  if ((query->statuses & ~EM_TASK_QUERY_FINISHED) != 0)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("status: only finished tasks (completed, failed, cancelled) "
                                 "can be deleted"));
      return;
    }

  em_task_query_copy (&finished, query);
  if (finished.statuses == 0)
    finished.statuses = EM_TASK_QUERY_FINISHED;
  finished.offset = finished.limit = 0;

  if (self->store != NULL)
    {
      g_auto(GStrv) keep = unreturned_ids (self);

      em_engine_manager_flush_unwritten (self);
      g_debug ("deleting finished tasks from %s", em_store_get_path (self->store));
      /* no cancellable: once queued the rows go, and their ids must come back */
      self->store_requests++;
      em_store_delete_tasks_async (self->store, &finished, (const char * const *) keep, NULL,
                                   delete_done_cb, g_steal_pointer (&task));
      return;
    }

  /* from an idle, as eviction: asked by a listener while the engine still
   * finishes the task it hears of, freeing its entry at once pulled it from
   * under the engine */
  {
    EmTaskQuery *copy = g_new0 (EmTaskQuery, 1);

    em_task_query_copy (copy, &finished);
    g_task_set_task_data (task, copy, (GDestroyNotify) query_free);
    g_idle_add_full (G_PRIORITY_DEFAULT, delete_in_memory_cb, g_steal_pointer (&task),
                     g_object_unref);
  }
}

gboolean
em_engine_manager_delete_tasks_finish (EmEngineManager  *self,
                                       GAsyncResult     *result,
                                       guint            *out_count,
                                       GError          **error)
{
  gssize count;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  count = g_task_propagate_int (G_TASK (result), error);
  if (count < 0)
    return FALSE;
  if (out_count != NULL)
    *out_count = count;
  return TRUE;
}

/* --- retention --- */

static void
prune_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EmEngineManager *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  guint64 oldest = 0;
  GStrv ids = em_store_prune_finish (self->store, result, &oldest, &error);

  self->store_requests--;
  if (ids == NULL)
    {
      self->pruning = FALSE;
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  self->oldest_stored_seq = oldest;
  /* still pruning until memory has forgotten them */
  forget_deleted (self, ids, task);
}

void
em_engine_manager_prune_async (EmEngineManager     *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_auto(GStrv) keep = NULL;
  gint64 max_age_us;

  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_engine_manager_prune_async);
  if (self->store == NULL || (self->retention_max_tasks == 0 && self->retention_max_age <= 0))
    {
      g_task_return_int (task, 0);
      return;
    }
  self->pruning = TRUE;
  keep = unreturned_ids (self);
  em_engine_manager_flush_unwritten (self);
  /* an age past what 64-bit microseconds hold (292 000 years) prunes
   * nothing either; converting it as it is would be undefined */
  max_age_us = self->retention_max_age < (gdouble) G_MAXINT64 / G_USEC_PER_SEC
                 ? (gint64) (self->retention_max_age * G_USEC_PER_SEC) : G_MAXINT64;
  self->store_requests++;
  em_store_prune_async (self->store, self->retention_max_tasks, max_age_us,
                        (const char * const *) keep, NULL, prune_done_cb, g_steal_pointer (&task));
}

gboolean
em_engine_manager_prune_finish (EmEngineManager  *self,
                                GAsyncResult     *result,
                                guint            *out_count,
                                GError          **error)
{
  return em_engine_manager_delete_tasks_finish (self, result, out_count, error);
}

static void
prune_finished_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  guint count = 0;

  if (!em_engine_manager_prune_finish (EM_ENGINE_MANAGER (source), result, &count, &error))
    g_warning (_("Pruning old tasks failed: %s"), error->message);
  else if (count > 0)
    g_debug ("retention removed %u tasks", count);
}

void
em_engine_manager_prune_now (EmEngineManager *self)
{
  /* a failed store refuses it until the restart: no warning every minute */
  if (self->pruning || self->shutting_down || self->store == NULL ||
      !em_store_check (self->store, NULL) ||
      (self->retention_max_tasks == 0 && self->retention_max_age <= 0))
    return;
  em_engine_manager_prune_async (self, NULL, prune_finished_cb, NULL);
}

/* --- resumable events --- */

guint64
em_engine_manager_get_oldest_event_seq (EmEngineManager *self)
{
  guint64 ring_oldest;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);

  if (self->store != NULL && self->oldest_stored_seq != 0)
    return self->oldest_stored_seq;
  ring_oldest = em_event_ring_get_oldest (self->ring);
  return ring_oldest != 0 ? ring_oldest : self->last_seq + 1;
}

typedef struct {
  GPtrArray *events;
  guint64    oldest;
  gboolean   cut;      /* the store stopped at the byte budget */
} EventsAnswer;

static void
events_answer_free (EventsAnswer *answer)
{
  g_clear_pointer (&answer->events, g_ptr_array_unref);
  g_free (answer);
}

static void
read_events_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EmEngineManager *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  EventsAnswer *answer = g_new0 (EventsAnswer, 1);

  self->store_requests--;
  answer->events = em_store_read_events_finish (self->store, result, &answer->oldest, &answer->cut,
                                                &error);
  if (answer->events == NULL)
    {
      events_answer_free (answer);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (answer->oldest == 0)
    answer->oldest = em_engine_manager_get_oldest_event_seq (self);
  g_task_return_pointer (task, answer, (GDestroyNotify) events_answer_free);
}

void
em_engine_manager_read_events_async (EmEngineManager     *self,
                                     guint64              after_seq,
                                     guint                limit,
                                     gsize                max_bytes,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  EventsAnswer *answer;
  guint64 durable;

  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_engine_manager_read_events_async);

  answer = g_new0 (EventsAnswer, 1);
  answer->events = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  answer->oldest = em_engine_manager_get_oldest_event_seq (self);

  /* recent enough for memory, or nothing to send; the ring also holds events
   * not yet on disk, which a crash would take back and number again */
  durable = em_engine_manager_get_committed_event_seq (self);
  /* the ring may still hold events retention pruned from the store: the
   * answer starts at the oldest it reports, as the store's would */
  if (self->store != NULL && answer->oldest > 0)
    after_seq = MAX (after_seq, answer->oldest - 1);
  if (after_seq >= durable ||
      em_event_ring_read (self->ring, after_seq, durable, limit, answer->events))
    {
      g_task_return_pointer (task, answer, (GDestroyNotify) events_answer_free);
      return;
    }
  if (self->store != NULL)
    {
      events_answer_free (answer);
      em_engine_manager_flush_unwritten (self);
      self->store_requests++;
      /* held to the same seq as the ring: past it, the store may hold events
       * only its in-memory overlay has, once the database has failed */
      em_store_read_events_async (self->store, after_seq, durable, limit, max_bytes, cancellable,
                                  read_events_done_cb, g_steal_pointer (&task));
      return;
    }
  /* without a store the ring is all there is: what it still holds */
  em_event_ring_read (self->ring, answer->oldest - 1, durable, limit, answer->events);
  g_task_return_pointer (task, answer, (GDestroyNotify) events_answer_free);
}

GPtrArray *
em_engine_manager_read_events_finish (EmEngineManager  *self,
                                      GAsyncResult     *result,
                                      guint64          *out_oldest_available,
                                      gboolean         *out_cut,
                                      GError          **error)
{
  EventsAnswer *answer;
  GPtrArray *events;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  answer = g_task_propagate_pointer (G_TASK (result), error);
  if (answer == NULL)
    return NULL;
  if (out_oldest_available != NULL)
    *out_oldest_available = answer->oldest;
  if (out_cut != NULL)
    *out_cut = answer->cut;
  events = g_steal_pointer (&answer->events);
  events_answer_free (answer);
  return events;
}
