#pragma once

#include <sqlite3.h>

#include "engine/em-deleted-serials.h"
#include "engine/em-store.h"

G_BEGIN_DECLS

/* for tests: another bound than EM_STORE_BACKLOG_BYTES, before em_store_start() */
void     em_store_set_backlog_bound (EmStore    *self,
                                     gsize       bytes);
/* for tests: while held, the writer commits nothing, so the writes handed
 * over stay in the backlog; em_store_free() lets go of it */
void     em_store_hold_writer    (EmStore     *self,
                                  gboolean     hold);
/* for tests, while held: lets the writer commit @n_batches more batches */
void     em_store_step_writer    (EmStore     *self,
                                  guint        n_batches);
/* for tests, while held: waits until the writer has stopped before a commit
 * @n_stops times since it started */
void     em_store_wait_writer_stops (EmStore  *self,
                                     guint     n_stops);

/* the schema this build writes; older files are migrated when opened */
#define EM_STORE_SCHEMA_VERSION 3

/* the page size of a file this build creates */
#define EM_STORE_PAGE_SIZE 16384

#define EM_STORE_FINISHED_SQL "('completed', 'failed', 'cancelled')"

/* a connection and the file its errors name */
typedef struct {
  sqlite3    *db;
  char       *path;
  EmDeletedSerials *deleted;  /* the latest tasks deleted, for cursors; NULL until one is */
  gboolean    overlay;        /* reads go through the overlay (em_store_sql_start_overlay) */
} EmStoreDb;

gboolean em_store_exec           (sqlite3     *db,
                                  const char  *path,
                                  const char  *sql,
                                  GError     **error);
/* an EM_ERROR that names the file and says what the user can do about @rc */
void     em_store_set_error      (GError     **error,
                                  sqlite3     *db,
                                  const char  *path,
                                  int          rc);
/* opens, locks and checks the file and brings its schema up to date */
sqlite3 *em_store_schema_open    (const char  *path,
                                  GError     **error);

/* em-store-sql.c: the statements behind loading, queries, deletions and
 * retention, run by whichever thread owns the connection */
/* frees what they keep between calls */
void       em_store_sql_clear         (EmStoreDb          *self);
gboolean   em_store_sql_prepare       (EmStoreDb          *self,
                                       const char         *sql,
                                       sqlite3_stmt      **out,
                                       GError            **error);
gboolean   em_store_sql_load_int      (EmStoreDb          *self,
                                       const char         *sql,
                                       gint64             *out,
                                       GError            **error);
/* @sql's columns: serial, batch_exclusive (the batch state), json; adds EmStoreLoadedTask to @out */
gboolean   em_store_sql_load_tasks    (EmStoreDb          *self,
                                       const char         *sql,
                                       GPtrArray          *out,
                                       GError            **error);
void       em_store_loaded_task_free  (EmStoreLoadedTask  *loaded);
/* the newest finished tasks, at most @max_tasks of them taking at most
 * @max_bytes all told (EmStoreLoadedTask's size), added to @out oldest first */
gboolean   em_store_sql_load_recent   (EmStoreDb          *self,
                                       guint               max_tasks,
                                       guint64             max_bytes,
                                       GPtrArray          *out,
                                       GError            **error);
/* the final status of the finished tasks @active (EmStoreLoadedTask) still
 * lists in waiting_on, wherever they are in history: pinned in @out */
gboolean   em_store_sql_load_waited_on (EmStoreDb         *self,
                                        GPtrArray         *active,
                                        EmFinishedCache   *out,
                                        GError           **error);
/* the newest finished tasks after the @skip newest, as many as @out holds,
 * oldest first */
gboolean   em_store_sql_load_finished (EmStoreDb          *self,
                                       guint               skip,
                                       EmFinishedCache    *out,
                                       GError            **error);
/* once a commit has failed, the database takes nothing more until the
 * restart, which replays the journal. The rows it could not take, and those
 * that follow, go into tables of the same shape in an attached in-memory
 * database, "overlay", and reads from then on see both, the overlay's row
 * first: the answers are those the database would give had the commits
 * succeeded. Deletions and pruning are refused meanwhile, so they need not */
gboolean   em_store_sql_start_overlay (EmStoreDb          *self,
                                       GError            **error);
/* (element-type JsonNode) sealed task objects, oldest first, and their
 * serials appended to @out_serials; @out_next: the serial of the last one
 * when more follow, else 0 */
GPtrArray *em_store_sql_query_tasks   (EmStoreDb          *self,
                                       const EmTaskQuery  *query,
                                       guint              *out_total,
                                       GArray             *out_serials,
                                       guint64            *out_next,
                                       GError            **error);
JsonNode  *em_store_sql_lookup_task   (EmStoreDb          *self,
                                       const char         *id,
                                       GError            **error);
/* restricts @query to finished tasks, leaves those in @keep (nullable);
 * the deleted ids */
GStrv      em_store_sql_delete_tasks  (EmStoreDb          *self,
                                       EmTaskQuery        *query,
                                       const char * const *keep,
                                       GError            **error);
/* (element-type GBytes) frames with @after_seq < seq <= @max_seq; see
 * em_store_read_events_async() for @max_bytes and @out_cut */
GPtrArray *em_store_sql_read_events   (EmStoreDb          *self,
                                       guint64             after_seq,
                                       guint64             max_seq,
                                       guint               limit,
                                       gsize               max_bytes,
                                       guint64            *out_oldest_seq,
                                       gboolean           *out_cut,
                                       GError            **error);
/* the pruned task ids; those in @keep (nullable) stay */
GStrv      em_store_sql_prune         (EmStoreDb          *self,
                                       guint               max_tasks,
                                       gint64              max_age_us,
                                       const char * const *keep,
                                       guint64            *out_oldest_seq,
                                       GError            **error);

G_END_DECLS
