#define G_LOG_DOMAIN "em-store"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "engine/em-json-size.h"
#include "engine/em-store-private.h"

/*
 * The statements the store reads with at startup and answers queries,
 * deletions and pruning with. They run on whichever thread owns the
 * connection: the opening thread at startup, the writer thread after.
 */

/* the serials of the latest deleted tasks keep paging cursors that name them
 * working (em-deleted-serials.h) */
static void
remember_deleted (EmStoreDb *self, const char *id, guint64 serial)
{
  if (self->deleted == NULL)
    self->deleted = em_deleted_serials_new (EM_DELETED_SERIALS_MAX);
  em_deleted_serials_add (self->deleted, id, serial);
}

void
em_store_sql_clear (EmStoreDb *self)
{
  g_clear_pointer (&self->deleted, em_deleted_serials_free);
}

gboolean
em_store_sql_prepare (EmStoreDb *self, const char *sql, sqlite3_stmt **out, GError **error)
{
  int rc = sqlite3_prepare_v2 (self->db, sql, -1, out, NULL);

  if (rc != SQLITE_OK)
    {
      em_store_set_error (error, self->db, self->path, rc);
      return FALSE;
    }
  return TRUE;
}

gboolean
em_store_sql_load_int (EmStoreDb *self, const char *sql, gint64 *out, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (!em_store_sql_prepare (self, sql, &stmt, error))
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      em_store_set_error (error, self->db, self->path, rc);
      sqlite3_finalize (stmt);
      return FALSE;
    }
  *out = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return TRUE;
}

static JsonNode *
parse_object (EmStoreDb *self, const char *text, GError **error)
{
  g_autoptr(JsonNode) node = text != NULL ? json_from_string (text, NULL) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("The task database “%s” holds a task that cannot be read; restore "
                     "it from a backup or move it away to start with an empty history"),
                   self->path);
      return NULL;
    }
  json_node_seal (node);
  return g_steal_pointer (&node);
}

/* a row of serial, batch_exclusive (the batch state), json */
static EmStoreLoadedTask *
load_row (EmStoreDb *self, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(JsonNode) node = parse_object (self, (const char *) sqlite3_column_text (stmt, 2), error);
  EmStoreLoadedTask *loaded;

  if (node == NULL)
    return NULL;
  loaded = g_new0 (EmStoreLoadedTask, 1);
  loaded->serial = sqlite3_column_int64 (stmt, 0);
  loaded->batch_state = (guint) sqlite3_column_int (stmt, 1);
  loaded->task = json_object_ref (json_node_get_object (node));
  loaded->size = sqlite3_column_bytes (stmt, 2) + em_json_object_size (loaded->task);
  return loaded;
}

gboolean
em_store_sql_load_tasks (EmStoreDb *self, const char *sql, GPtrArray *out, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (!em_store_sql_prepare (self, sql, &stmt, error))
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      EmStoreLoadedTask *loaded = load_row (self, stmt, error);

      if (loaded == NULL)
        {
          sqlite3_finalize (stmt);
          return FALSE;
        }
      g_ptr_array_add (out, loaded);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->db, self->path, rc);
      return FALSE;
    }
  return TRUE;
}

gboolean
em_store_sql_load_recent (EmStoreDb *self, guint max_tasks, guint64 max_bytes, GPtrArray *out,
                          GError **error)
{
  sqlite3_stmt *stmt = NULL;
  guint64 bytes = 0;
  guint first = out->len;
  int rc;

  if (!em_store_sql_prepare (self, "SELECT serial, batch_exclusive, json FROM tasks "
                                   "WHERE status IN " EM_STORE_FINISHED_SQL " "
                                   "ORDER BY serial DESC LIMIT ?1", &stmt, error))
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, max_tasks);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      EmStoreLoadedTask *loaded;

      /* the first one past the bound ends it, the older ones are never
       * read; its text alone may tell before it is parsed */
      sqlite3_column_text (stmt, 2);
      if ((guint64) sqlite3_column_bytes (stmt, 2) > max_bytes - bytes)
        break;
      loaded = load_row (self, stmt, error);
      if (loaded == NULL)
        {
          sqlite3_finalize (stmt);
          return FALSE;
        }
      if (loaded->size > max_bytes - bytes)
        {
          em_store_loaded_task_free (loaded);
          break;
        }
      bytes += loaded->size;
      g_ptr_array_add (out, loaded);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->db, self->path, rc);
      return FALSE;
    }
  /* read newest first, kept oldest first */
  for (guint i = first, j = out->len; i + 1 < j; i++, j--)
    {
      gpointer swap = out->pdata[i];

      out->pdata[i] = out->pdata[j - 1];
      out->pdata[j - 1] = swap;
    }
  return TRUE;
}

gboolean
em_store_sql_load_finished (EmStoreDb *self, guint skip, EmFinishedCache *out, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (!em_store_sql_prepare (self, "SELECT id, status FROM (SELECT serial, id, status FROM tasks "
                                   "WHERE status IN " EM_STORE_FINISHED_SQL " ORDER BY serial DESC "
                                   "LIMIT ?1 OFFSET ?2) ORDER BY serial", &stmt, error))
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, em_finished_cache_get_max_size (out));
  sqlite3_bind_int64 (stmt, 2, skip);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      EmTaskStatus status;

      if (em_task_status_from_string ((const char *) sqlite3_column_text (stmt, 1), &status))
        em_finished_cache_add (out, (const char *) sqlite3_column_text (stmt, 0), status);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->db, self->path, rc);
      return FALSE;
    }
  return TRUE;
}

gboolean
em_store_sql_load_waited_on (EmStoreDb *self, GPtrArray *active, EmFinishedCache *out, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  gboolean ok = TRUE;

  if (!em_store_sql_prepare (self, "SELECT status FROM tasks WHERE id = ?1 AND status IN "
                                   EM_STORE_FINISHED_SQL, &stmt, error))
    return FALSE;
  for (guint i = 0; ok && i < active->len; i++)
    {
      EmStoreLoadedTask *loaded = g_ptr_array_index (active, i);
      JsonNode *member = json_object_get_member (loaded->task, "waiting_on");
      JsonArray *ids = member != NULL && JSON_NODE_HOLDS_ARRAY (member) ? json_node_get_array (member) : NULL;

      for (guint d = 0; ok && ids != NULL && d < json_array_get_length (ids); d++)
        {
          const char *id = json_array_get_string_element (ids, d);
          EmTaskStatus status;
          int rc;

          if (id == NULL || em_finished_cache_lookup (out, id, NULL))
            continue;
          sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT);
          rc = sqlite3_step (stmt);
          if (rc == SQLITE_ROW &&
              em_task_status_from_string ((const char *) sqlite3_column_text (stmt, 0), &status))
            em_finished_cache_pin (out, id, status);
          else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            {
              em_store_set_error (error, self->db, self->path, rc);
              ok = FALSE;
            }
          sqlite3_reset (stmt);
        }
    }
  sqlite3_finalize (stmt);
  return ok;
}

/* --- the overlay, after a failed commit --- */

gboolean
em_store_sql_start_overlay (EmStoreDb *self, GError **error)
{
  if (!em_store_exec (self->db, self->path,
                      "ATTACH DATABASE ':memory:' AS overlay;"
                      "CREATE TABLE overlay.tasks ("
                      "  id TEXT PRIMARY KEY NOT NULL, serial INTEGER NOT NULL, status TEXT NOT NULL,"
                      "  action TEXT NOT NULL, created_at TEXT NOT NULL, created_us INTEGER,"
                      "  finished_us INTEGER, batch_exclusive INTEGER NOT NULL DEFAULT 0,"
                      "  scheduled_seq INTEGER, json TEXT NOT NULL);"
                      "CREATE TABLE overlay.events ("
                      "  seq INTEGER PRIMARY KEY NOT NULL, type TEXT NOT NULL, task_id TEXT,"
                      "  timestamp_us INTEGER NOT NULL, json TEXT NOT NULL);",
                      error))
    return FALSE;
  self->overlay = TRUE;
  return TRUE;
}

/* what reads take their tasks and events from, as a table name */
static const char *
tasks_source (EmStoreDb *self)
{
  return self->overlay
    ? "(SELECT id, serial, status, action, created_us, json FROM overlay.tasks UNION ALL "
      "SELECT id, serial, status, action, created_us, json FROM main.tasks "
      "WHERE id NOT IN (SELECT id FROM overlay.tasks))"
    : "tasks";
}

static const char *
events_source (EmStoreDb *self)
{
  return self->overlay
    ? "(SELECT seq, json FROM main.events UNION ALL SELECT seq, json FROM overlay.events)"
    : "events";
}

/* --- queries, deletions, retention --- */

static void
append_statuses (GString *sql, guint statuses)
{
  const char *sep = "";

  if (statuses == 0)
    return;
  g_string_append (sql, " AND status IN (");
  for (guint s = 0; s < EM_TASK_STATUS_N_STATUSES; s++)
    {
      if ((statuses & EM_TASK_QUERY_STATUS (s)) == 0)
        continue;
      g_string_append_printf (sql, "%s'%s'", sep, em_task_status_to_string (s));
      sep = ", ";
    }
  g_string_append (sql, ")");
}

static void
append_where (GString *sql, const EmTaskQuery *query)
{
  g_string_append (sql, " WHERE 1");
  append_statuses (sql, query->statuses);
  if (query->action != NULL)
    g_string_append (sql, " AND action = :action");
  if (query->since != NULL)
    g_string_append (sql, " AND created_us >= :since");
  if (query->until != NULL)
    g_string_append (sql, " AND created_us < :until");
}

static gint64
time_to_us (GDateTime *time)
{
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

static void
bind_named_int (sqlite3_stmt *stmt, const char *name, gint64 value)
{
  int index = sqlite3_bind_parameter_index (stmt, name);

  if (index > 0)
    sqlite3_bind_int64 (stmt, index, value);
}

static void
bind_query (sqlite3_stmt *stmt, const EmTaskQuery *query)
{
  int index = sqlite3_bind_parameter_index (stmt, ":action");

  if (index > 0)
    sqlite3_bind_text (stmt, index, query->action, -1, SQLITE_STATIC);
  if (query->since != NULL)
    bind_named_int (stmt, ":since", time_to_us (query->since));
  if (query->until != NULL)
    bind_named_int (stmt, ":until", time_to_us (query->until));
  bind_named_int (stmt, ":after", (gint64) MIN (query->after, G_MAXINT64));
  /* one row beyond the page tells whether another page follows */
  bind_named_int (stmt, ":page", query->limit > 0 ? (gint64) query->limit + 1 : -1);
  bind_named_int (stmt, ":offset", query->offset);
}

/* whether a read that has taken @n rows of @bytes of text in all has enough
 * for a budget of @max_bytes (0: none): the row that passes it is the last */
static gboolean
budget_spent (guint n, guint64 bytes, gsize max_bytes)
{
  return max_bytes > 0 && n > 0 && bytes >= max_bytes;
}

/* runs @sql whose columns are a task's JSON and serial, adding the nodes to
 * @out and their serials to @out_serials up to the query's limit and byte
 * budget; @out_next: see em_store_sql_query_tasks(). A row past either is
 * stepped to, to tell that one follows, but neither copied nor parsed */
static gboolean
collect_tasks (EmStoreDb         *self,
               const char        *sql,
               const EmTaskQuery *query,
               GPtrArray         *out,
               GArray            *out_serials,
               guint64           *out_next,
               GError           **error)
{
  sqlite3_stmt *stmt = NULL;
  guint64 last = 0, bytes = 0;
  int rc;

  *out_next = 0;
  if (!em_store_sql_prepare (self, sql, &stmt, error))
    return FALSE;
  bind_query (stmt, query);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      JsonNode *node;

      if ((query->limit > 0 && out->len == query->limit) ||
          budget_spent (out->len, bytes, query->max_bytes))
        {
          *out_next = last;
          rc = SQLITE_DONE;
          break;
        }
      node = parse_object (self, (const char *) sqlite3_column_text (stmt, 0), error);
      if (node == NULL)
        {
          sqlite3_finalize (stmt);
          return FALSE;
        }
      bytes += (guint64) sqlite3_column_bytes (stmt, 0);
      g_ptr_array_add (out, node);
      last = (guint64) sqlite3_column_int64 (stmt, 1);
      g_array_append_val (out_serials, last);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->db, self->path, rc);
      return FALSE;
    }
  return TRUE;
}

/* prepares @sql, whose one parameter is a task id, and steps to its row: the
 * statement there, or NULL with NOT_FOUND or the database's error */
static sqlite3_stmt *
select_task (EmStoreDb *self, const char *sql, const char *id, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (!em_store_sql_prepare (self, sql, &stmt, error))
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return stmt;
  if (rc == SQLITE_DONE)
    {
      g_autofree char *quoted = em_clip_for_message (id);

      g_set_error (error, EM_ERROR, EM_ERROR_NOT_FOUND, _("no task with id “%s”"), quoted);
    }
  else
    em_store_set_error (error, self->db, self->path, rc);
  sqlite3_finalize (stmt);
  return NULL;
}

/* the serial of the task @id, for a cursor given as a task, also one deleted
 * lately */
static gboolean
lookup_serial (EmStoreDb *self, const char *id, guint64 *out, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *sql = g_strdup_printf ("SELECT serial FROM %s WHERE id = ?", tasks_source (self));
  sqlite3_stmt *stmt = select_task (self, sql, id, &local_error);

  if (stmt == NULL)
    {
      if (self->deleted != NULL && g_error_matches (local_error, EM_ERROR, EM_ERROR_NOT_FOUND) &&
          em_deleted_serials_lookup (self->deleted, id, out))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  *out = (guint64) sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return TRUE;
}

GPtrArray *
em_store_sql_query_tasks (EmStoreDb          *self,
                          const EmTaskQuery  *query,
                          guint              *out_total,
                          GArray             *out_serials,
                          guint64            *out_next,
                          GError            **error)
{
  g_autoptr(GString) count_sql = g_string_new (NULL);
  g_autoptr(GString) rows_sql = g_string_new ("SELECT json, serial FROM ");
  g_autoptr(GPtrArray) items = NULL;
  EmTaskQuery resolved = *query;
  sqlite3_stmt *stmt = NULL;
  guint64 after_task = 0;
  int rc;

  if (query->after_id != NULL)
    {
      if (!lookup_serial (self, query->after_id, &after_task, error))
        return NULL;
      resolved.after = MAX (resolved.after, after_task);
      query = &resolved;
    }
  /* by status alone, the schema's triggers have counted them (not the
   * overlay's rows, though) */
  if (!self->overlay && query->action == NULL && query->since == NULL && query->until == NULL)
    {
      g_string_append (count_sql, "SELECT coalesce (sum (n), 0) FROM task_counts WHERE 1");
      append_statuses (count_sql, query->statuses);
    }
  else
    {
      g_string_append_printf (count_sql, "SELECT count(*) FROM %s", tasks_source (self));
      append_where (count_sql, query);
    }
  g_string_append (rows_sql, tasks_source (self));
  append_where (rows_sql, query);
  if (query->after > 0)
    g_string_append (rows_sql, " AND serial > :after");
  g_string_append (rows_sql, " ORDER BY serial LIMIT :page OFFSET :offset");

  if (!em_store_sql_prepare (self, count_sql->str, &stmt, error))
    return NULL;
  bind_query (stmt, query);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      em_store_set_error (error, self->db, self->path, rc);
      sqlite3_finalize (stmt);
      return NULL;
    }
  *out_total = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);

  items = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  *out_next = 0;
  if (query->count_only)
    return g_steal_pointer (&items);
  if (!collect_tasks (self, rows_sql->str, query, items, out_serials, out_next, error))
    return NULL;
  return g_steal_pointer (&items);
}

JsonNode *
em_store_sql_lookup_task (EmStoreDb *self, const char *id, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT json FROM %s WHERE id = ?", tasks_source (self));
  sqlite3_stmt *stmt = select_task (self, sql, id, error);
  JsonNode *node;

  if (stmt == NULL)
    return NULL;
  node = parse_object (self, (const char *) sqlite3_column_text (stmt, 0), error);
  sqlite3_finalize (stmt);
  return node;
}

/* " AND id NOT IN (:keep0, …)", bound by bind_keep(); the ids are few: the
 * cancelled tasks whose action has not returned yet */
static void
append_keep (GString *sql, const char * const *keep)
{
  if (keep == NULL || keep[0] == NULL)
    return;
  g_string_append (sql, " AND id NOT IN (");
  for (guint i = 0; keep[i] != NULL; i++)
    g_string_append_printf (sql, "%s:keep%u", i > 0 ? ", " : "", i);
  g_string_append (sql, ")");
}

static void
bind_keep (sqlite3_stmt *stmt, const char * const *keep)
{
  for (guint i = 0; keep != NULL && keep[i] != NULL; i++)
    {
      char name[32];

      g_snprintf (name, sizeof name, ":keep%u", i);
      sqlite3_bind_text (stmt, sqlite3_bind_parameter_index (stmt, name), keep[i], -1, SQLITE_STATIC);
    }
}

/* runs a `DELETE … RETURNING id, serial`, adding the ids to @out */
static gboolean
delete_returning (EmStoreDb *self, const char *sql, const EmTaskQuery *query,
                  const char * const *keep, const char *param, gint64 value,
                  GPtrArray *out, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (!em_store_sql_prepare (self, sql, &stmt, error))
    return FALSE;
  if (query != NULL)
    bind_query (stmt, query);
  bind_keep (stmt, keep);
  if (param != NULL)
    bind_named_int (stmt, param, value);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *id = (const char *) sqlite3_column_text (stmt, 0);

      g_ptr_array_add (out, g_strdup (id));
      /* before the commit: a task still there after a rollback is found first */
      remember_deleted (self, id, (guint64) sqlite3_column_int64 (stmt, 1));
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->db, self->path, rc);
      return FALSE;
    }
  return TRUE;
}

/* @ids: (transfer full) */
static GStrv
steal_strv (GPtrArray *ids)
{
  g_ptr_array_set_free_func (ids, NULL);
  g_ptr_array_add (ids, NULL);
  return (GStrv) g_ptr_array_free (ids, FALSE);
}

static gboolean
in_transaction (EmStoreDb *self, gboolean ok, GError **error)
{
  if (ok && em_store_exec (self->db, self->path, "COMMIT", error))
    return TRUE;
  sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

GStrv
em_store_sql_delete_tasks (EmStoreDb *self, EmTaskQuery *query, const char * const *keep,
                           GError **error)
{
  g_autoptr(GString) sql = g_string_new ("DELETE FROM tasks");
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  /* history only: never a task that may still run */
  query->statuses = (query->statuses != 0 ? query->statuses : EM_TASK_QUERY_FINISHED)
                    & EM_TASK_QUERY_FINISHED;
  append_where (sql, query);
  append_keep (sql, keep);
  g_string_append (sql, " RETURNING id, serial");

  if (!em_store_exec (self->db, self->path, "BEGIN IMMEDIATE", error) ||
      !in_transaction (self, delete_returning (self, sql->str, query, keep, NULL, 0, ids, error),
                       error))
    return NULL;
  return steal_strv (g_steal_pointer (&ids));
}

static gboolean
read_oldest_seq (EmStoreDb *self, guint64 *out, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT COALESCE (MIN (seq), 0) FROM %s",
                                          events_source (self));
  gint64 value = 0;

  if (!em_store_sql_load_int (self, sql, &value, error))
    return FALSE;
  *out = value;
  return TRUE;
}

GPtrArray *
em_store_sql_read_events (EmStoreDb  *self,
                          guint64     after_seq,
                          guint64     max_seq,
                          guint       limit,
                          gsize       max_bytes,
                          guint64    *out_oldest_seq,
                          gboolean   *out_cut,
                          GError    **error)
{
  g_autoptr(GPtrArray) items = NULL;
  guint64 bytes = 0;
  g_autofree char *sql = g_strdup_printf ("SELECT json FROM %s WHERE seq > ?1 AND seq <= ?3 "
                                          "ORDER BY seq LIMIT ?2",
                                          events_source (self));
  sqlite3_stmt *stmt = NULL;
  int rc;

  *out_cut = FALSE;
  if (!read_oldest_seq (self, out_oldest_seq, error) ||
      !em_store_sql_prepare (self, sql, &stmt, error))
    return NULL;
  sqlite3_bind_int64 (stmt, 1, (sqlite3_int64) after_seq);
  sqlite3_bind_int64 (stmt, 2, limit > 0 ? (sqlite3_int64) limit : -1);
  sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) MIN (max_seq, (guint64) G_MAXINT64));
  items = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      /* the row past the budget only tells that one follows */
      if (budget_spent (items->len, bytes, max_bytes))
        {
          *out_cut = TRUE;
          rc = SQLITE_DONE;
          break;
        }
      g_ptr_array_add (items, g_bytes_new (sqlite3_column_text (stmt, 0),
                                           sqlite3_column_bytes (stmt, 0)));
      bytes += (guint64) sqlite3_column_bytes (stmt, 0);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      em_store_set_error (error, self->db, self->path, rc);
      return NULL;
    }
  return g_steal_pointer (&items);
}

static gboolean
prune (EmStoreDb *self, guint max_tasks, gint64 max_age_us, const char * const *keep,
       GPtrArray *ids, GError **error)
{
  g_autoptr(GString) by_age = g_string_new ("DELETE FROM tasks WHERE status IN "
                                            EM_STORE_FINISHED_SQL " AND finished_us < :cutoff");
  g_autoptr(GString) by_count = g_string_new ("DELETE FROM tasks WHERE id IN (SELECT id FROM tasks "
                                              "WHERE status IN " EM_STORE_FINISHED_SQL);

  append_keep (by_age, keep);
  g_string_append (by_age, " RETURNING id, serial");
  append_keep (by_count, keep);
  g_string_append (by_count, " ORDER BY serial LIMIT MAX (0, (SELECT count(*) FROM tasks) - :max)) "
                             "RETURNING id, serial");
  if (max_age_us > 0 &&
      !delete_returning (self, by_age->str, NULL, keep, ":cutoff",
                         g_get_real_time () - max_age_us, ids, error))
    return FALSE;
  if (max_tasks > 0 &&
      !delete_returning (self, by_count->str, NULL, keep, ":max", max_tasks, ids, error))
    return FALSE;
  /* the log stays gapless: only the prefix older than every remaining task
   * goes; with no task left, all but the newest event, which a client resumes
   * from */
  return em_store_exec (self->db, self->path,
                        "DELETE FROM events WHERE seq < COALESCE ((SELECT MIN (scheduled_seq) FROM tasks), "
                        "(SELECT MAX (seq) FROM events))",
                        error);
}

GStrv
em_store_sql_prune (EmStoreDb          *self,
                    guint               max_tasks,
                    gint64              max_age_us,
                    const char * const *keep,
                    guint64            *out_oldest_seq,
                    GError            **error)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  if (!em_store_exec (self->db, self->path, "BEGIN IMMEDIATE", error) ||
      !in_transaction (self, prune (self, max_tasks, max_age_us, keep, ids, error), error) ||
      !read_oldest_seq (self, out_oldest_seq, error))
    return NULL;
  if (ids->len > 0)
    g_debug ("pruned %u tasks from %s", ids->len, self->path);
  return steal_strv (g_steal_pointer (&ids));
}
