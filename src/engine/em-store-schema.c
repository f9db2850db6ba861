#define G_LOG_DOMAIN "em-store"

#include "config.h"
#include <fcntl.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-store-private.h"
#include "engine/em-time.h"

/*
 * Schema history. Version 1 kept tasks only; version 2 adds the event log, the
 * columns the history filters and retention need, and a small key/value table
 * for counters that must survive pruning; version 3 the number of tasks in each
 * status. A file is migrated one step at a time, each step in its own
 * transaction with its user_version bump.
 *
 * tasks.batch_exclusive is nonzero for a task of an exclusive batch; it holds
 * the engine's batch state (whether the batch holds its devices, and which),
 * which older files, with 1, lack.
 */

static const char schema_v1[] =
  "CREATE TABLE tasks ("
  "  id         TEXT PRIMARY KEY NOT NULL,"
  "  serial     INTEGER NOT NULL UNIQUE,"
  "  status     TEXT NOT NULL,"
  "  action     TEXT NOT NULL,"
  "  created_at TEXT NOT NULL,"
  "  json       TEXT NOT NULL"
  ");"
  "CREATE INDEX tasks_status ON tasks (status, serial);";

static const char schema_v2[] =
  "ALTER TABLE tasks ADD COLUMN created_us INTEGER;"
  "ALTER TABLE tasks ADD COLUMN finished_us INTEGER;"
  "ALTER TABLE tasks ADD COLUMN batch_exclusive INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE tasks ADD COLUMN scheduled_seq INTEGER;"
  "CREATE INDEX tasks_action ON tasks (action, serial);"
  "CREATE INDEX tasks_created ON tasks (created_us);"
  "CREATE INDEX tasks_finished ON tasks (finished_us) WHERE finished_us IS NOT NULL;"
  "CREATE INDEX tasks_scheduled_seq ON tasks (scheduled_seq);"
  "CREATE TABLE events ("
  "  seq       INTEGER PRIMARY KEY NOT NULL,"
  "  type      TEXT NOT NULL,"
  "  task_id   TEXT,"
  "  timestamp_us INTEGER NOT NULL,"
  "  json      TEXT NOT NULL"
  ");"
  "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;"
  "INSERT INTO meta (key, value) VALUES"
  "  ('last_seq', 0),"
  "  ('last_serial', COALESCE ((SELECT MAX (serial) FROM tasks), 0));";

/* the number of tasks in each status, in the transaction of every change, so
 * that a count by status (a listing's total, the queue's counts) reads a few
 * rows instead of an index of all history (154 532 tasks: 7 ms a count). The
 * writer counts what its upserts change, once per commit: triggers on them
 * took the store's threads from 11.5 to 24 µs of CPU per task. Deletions are
 * rare, of many rows at once: a trigger counts those. Every start counts the
 * rows again (recount_statuses), so the table is filled then, and rows written
 * by other means than the service are counted from the next start. */
static const char schema_v3[] =
  "CREATE TABLE task_counts (status TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID;"
  "CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN"
  "  UPDATE task_counts SET n = n - 1 WHERE status = old.status;"
  "END;";

/* a scan of the status index, far less than the quick_check before it. A
 * file made by a development build of version 3 also counted its upserts with
 * triggers, which would count them twice now: they go */
static const char recount_statuses[] =
  "BEGIN IMMEDIATE;"
  "DROP TRIGGER IF EXISTS task_counts_insert;"
  "DROP TRIGGER IF EXISTS task_counts_update;"
  "DELETE FROM task_counts;"
  "INSERT INTO task_counts (status, n) SELECT status, count(*) FROM tasks WHERE 1 GROUP BY status;"
  "COMMIT";

static const char * const schemas[] = { NULL, schema_v1, schema_v2, schema_v3 };
G_STATIC_ASSERT (G_N_ELEMENTS (schemas) == EM_STORE_SCHEMA_VERSION + 1);

/* the event log's identity: seqs mean something only within one log, so a
 * client resuming by seq checks it is still reading the log it read. Made
 * with the first open of a file (an older file gets one then) and kept
 * for the file's life; SQLite's random() is seeded from the system */
static const char ensure_log_id[] =
  "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', random())";

gboolean
em_store_exec (sqlite3 *db, const char *path, const char *sql, GError **error)
{
  int rc = sqlite3_exec (db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    {
      em_store_set_error (error, db, path, rc);
      return FALSE;
    }
  return TRUE;
}

void
em_store_set_error (GError **error, sqlite3 *db, const char *path, int rc)
{
  const char *detail = db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc);

  switch (rc & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                   _("The task database “%s” is locked by another process; is another "
                     "engine-manager using the same data directory?"), path);
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("The task database “%s” is damaged (%s); restore it from a backup "
                     "or move it away to start with an empty history"), path, detail);
      break;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("Cannot write the task database “%s”: %s"), path, detail);
      break;
    default:
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("Task database “%s”: %s"), path, detail);
    }
}

static gboolean
query_int (sqlite3 *db, const char *path, const char *sql, gint64 *out, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      em_store_set_error (error, db, path, rc);
      sqlite3_finalize (stmt);
      return FALSE;
    }
  *out = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return TRUE;
}

static gint64
time_to_us (GDateTime *time)
{
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

/* fills the new time columns from the stored task JSON */
static gboolean
fill_v2_times (sqlite3 *db, const char *path, GError **error)
{
  sqlite3_stmt *select = NULL;
  sqlite3_stmt *update = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT id, json FROM tasks", -1, &select, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2 (db, "UPDATE tasks SET created_us = ?, finished_us = ? WHERE id = ?",
                             -1, &update, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step (select)) == SQLITE_ROW)
    {
      g_autoptr(JsonNode) node = json_from_string ((const char *) sqlite3_column_text (select, 1), NULL);
      JsonObject *object = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      g_autoptr(GDateTime) created = NULL;
      g_autoptr(GDateTime) completed = NULL;

      if (object != NULL)
        {
          created = em_time_parse (json_object_get_string_member_with_default (object, "created_at", NULL));
          completed = em_time_parse (json_object_get_string_member_with_default (object, "completed_at", NULL));
        }
      sqlite3_reset (update);
      sqlite3_bind_int64 (update, 1, created != NULL ? time_to_us (created) : 0);
      if (completed != NULL)
        sqlite3_bind_int64 (update, 2, time_to_us (completed));
      else
        sqlite3_bind_null (update, 2);
      sqlite3_bind_text (update, 3, (const char *) sqlite3_column_text (select, 0), -1, SQLITE_TRANSIENT);
      rc = sqlite3_step (update);
      rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
  sqlite3_finalize (select);
  sqlite3_finalize (update);
  if (rc != SQLITE_DONE)
    {
      em_store_set_error (error, db, path, rc);
      return FALSE;
    }
  return TRUE;
}

static gboolean
migrate_step (sqlite3 *db, const char *path, gint64 from, gint64 to, GError **error)
{
  g_autofree char *bump = g_strdup_printf ("PRAGMA user_version = %" G_GINT64_FORMAT, to);

  if (!em_store_exec (db, path, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!em_store_exec (db, path, schemas[to], error) ||
      (to == 2 && !fill_v2_times (db, path, error)) ||
      !em_store_exec (db, path, bump, error) ||
      !em_store_exec (db, path, "COMMIT", error))
    {
      sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  /* a new file passes through every version silently */
  if (from > 0 && to == EM_STORE_SCHEMA_VERSION)
    g_message (_("Migrated the task database “%s” to schema version %lld"), path, (long long) to);
  return TRUE;
}

static gboolean
check_integrity (sqlite3 *db, const char *path, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, "PRAGMA quick_check", -1, &stmt, NULL);
  g_autofree char *problem = NULL;

  if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW &&
      g_strcmp0 ((const char *) sqlite3_column_text (stmt, 0), "ok") != 0)
    problem = g_strdelimit (g_strdup ((const char *) sqlite3_column_text (stmt, 0)), "\n", ' ');
  if (rc != SQLITE_ROW)
    {
      em_store_set_error (error, db, path, rc);
      sqlite3_finalize (stmt);
      return FALSE;
    }
  sqlite3_finalize (stmt);
  if (problem != NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("The task database “%s” is damaged (%s); restore it from a backup "
                     "or move it away to start with an empty history"), path, problem);
      return FALSE;
    }
  return TRUE;
}

static gboolean
configure (sqlite3 *db, const char *path, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  gboolean wal;
  int rc;

  /* exclusive before WAL: the lock is held for the connection's life, so a
   * second daemon on the same directory fails here, and no -shm file is used */
  if (!em_store_exec (db, path, "PRAGMA locking_mode = EXCLUSIVE", error))
    return FALSE;
  /* for a new file only (an existing one keeps its size): every commit writes
   * each page it touched whole, and a task's row touches pages all over its
   * indexes; with 16 KiB pages the writer thread spent 7.8-8.0 µs of CPU per
   * task in store-bench, against 10.0-10.3 µs with SQLite's 4 KiB */
  if (!em_store_exec (db, path, "PRAGMA page_size = " G_STRINGIFY (EM_STORE_PAGE_SIZE), error))
    return FALSE;
  rc = sqlite3_prepare_v2 (db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      em_store_set_error (error, db, path, rc);
      sqlite3_finalize (stmt);
      return FALSE;
    }
  wal = g_ascii_strcasecmp ((const char *) sqlite3_column_text (stmt, 0), "wal") == 0;
  sqlite3_finalize (stmt);
  if (!wal)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("Cannot switch the task database “%s” to write-ahead logging"), path);
      return FALSE;
    }
  /* NORMAL in WAL mode: a commit is in the OS once COMMIT returns, so it survives
   * a crash of the service; only a power loss can undo the last commits, since
   * the WAL is synced at checkpoints rather than at every commit */
  if (!em_store_exec (db, path, "PRAGMA synchronous = NORMAL", error))
    return FALSE;
  /* history grows by tens of MB a day under load: index pages stay cached
   * instead of being read back for every commit */
  return em_store_exec (db, path, "PRAGMA cache_size = -32768", error);
}

sqlite3 *
em_store_schema_open (const char *path, GError **error)
{
  static gsize configured = 0;
  sqlite3 *db = NULL;
  gint64 version = 0;
  int rc;
  int fd;

  /* SQLite's global memory statistics take a mutex on every allocation;
   * nothing here reads them.  Only possible before SQLite initializes. */
  if (g_once_init_enter (&configured))
    {
      sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
      g_once_init_leave (&configured, 1);
    }
  /* SQLite would create the file 0644, and its -wal and -shm like it: as the
   * data directory's images, the group may read, no one else. An existing
   * file keeps its mode; any error here is SQLite's to report */
  fd = g_open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd >= 0)
    close (fd);
  /* NOMUTEX: the connection is opened here and then used by the writer
   * thread alone, never by two threads at once */
  rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL);
  if (rc != SQLITE_OK)
    {
      em_store_set_error (error, db, path, rc);
      sqlite3_close (db);
      return NULL;
    }
  sqlite3_extended_result_codes (db, 1);
  /* never wait for another process's lock: say so at once */
  sqlite3_busy_timeout (db, 0);

  if (sqlite3_db_readonly (db, "main") == 1)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("Cannot write the task database “%s”: it is read-only"), path);
      sqlite3_close (db);
      return NULL;
    }

  /* the write transaction takes the exclusive lock before anything is read */
  if (!configure (db, path, error) ||
      !em_store_exec (db, path, "BEGIN IMMEDIATE; COMMIT", error) ||
      !check_integrity (db, path, error) ||
      !query_int (db, path, "PRAGMA user_version", &version, error))
    {
      sqlite3_close (db);
      return NULL;
    }

  if (version > EM_STORE_SCHEMA_VERSION)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("The task database “%s” has schema version %lld, newer than this "
                     "engine-manager understands (%d)"),
                   path, (long long) version, EM_STORE_SCHEMA_VERSION);
      sqlite3_close (db);
      return NULL;
    }
  for (gint64 to = version + 1; to <= EM_STORE_SCHEMA_VERSION; to++)
    {
      if (!migrate_step (db, path, version, to, error))
        {
          sqlite3_close (db);
          return NULL;
        }
    }
  if (!em_store_exec (db, path, ensure_log_id, error) ||
      !em_store_exec (db, path, recount_statuses, error))
    {
      sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      sqlite3_close (db);
      return NULL;
    }
  return db;
}
