#include "config.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <sqlite3.h>
#include <glib/gstdio.h>
#include <zlib.h>

#include "engine/em-error.h"
#include "engine/em-store-journal.h"
#include "engine/em-store.h"
#include "engine/em-store-private.h"
#include "engine/em-task-private.h"
#include "em-test-util.h"

/*
 * The acknowledgement journal on its own (records written and read back) and
 * through EmStore: what a crash leaves in the journal but not in the database
 * is replayed at the next open, once, and a write cut short is ignored.
 */

typedef struct {
  char *dir;
  char *db_path;
  char *journal_path;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->dir = em_test_mkdtemp ();
  fx->db_path = g_build_filename (fx->dir, "tasks.db", NULL);
  fx->journal_path = g_build_filename (fx->dir, "tasks.journal", NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  em_test_rmdir (fx->dir);
  g_free (fx->dir);
  g_free (fx->db_path);
  g_free (fx->journal_path);
}

static EmStoreTaskRow *
task_row (const char *id, guint64 serial, const char *status, guint64 scheduled_seq)
{
  g_autofree char *json = g_strdup_printf ("{\"id\":\"%s\",\"name\":\"n\",\"action\":\"wait\",\"status\":\"%s\"}",
                                           id, status);
  EmStoreTaskRow *row = em_store_task_row_new (id, "wait", "2026-11-26T10:00:00.000000Z",
                                               json, strlen (json));

  row->serial = serial;
  row->status = status;
  row->created_us = 1795600800000000;
  row->finished_us = g_strv_contains ((const char * const[]) { "completed", "failed", "cancelled", NULL },
                                      status) ? 1795600801000000 : 0;
  row->batch_state = serial % 2 == 0 ? 0x71 : 0;
  row->scheduled_seq = scheduled_seq;
  return row;
}

static EmStoreEventRow *
event_row (guint64 seq, const char *type, const char *task_id)
{
  g_autofree char *frame = g_strdup_printf ("{\"type\":\"%s\",\"seq\":%" G_GUINT64_FORMAT "}",
                                            type, seq);
  EmStoreEventRow *row = em_store_event_row_new (task_id, frame, strlen (frame));

  row->seq = seq;
  row->type = type;
  row->timestamp_us = 1795600800000000 + (gint64) seq;
  return row;
}

static GPtrArray *
task_rows (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) em_store_task_row_free);
}

static GPtrArray *
event_rows (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) em_store_event_row_free);
}

static void
append_record (const char *path, guint64 write_no, GPtrArray *tasks, GPtrArray *events, gsize cut)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmStoreJournal) journal = em_store_journal_open (path, &error);
  g_autoptr(GByteArray) record = g_byte_array_new ();

  g_assert_no_error (error);
  em_store_journal_encode (record, write_no, tasks, events);
  g_assert_true (em_store_journal_append (journal, record->data, record->len - cut, &error));
  g_assert_no_error (error);
}

typedef struct {
  GPtrArray *seen;  /* GStrv per record: a line per row */
} Collected;

static gboolean
collect_record (guint64 write_no, GPtrArray *tasks, GPtrArray *events, gpointer user_data,
                GError **error)
{
  Collected *collected = user_data;
  GString *text = g_string_new (NULL);

  g_string_append_printf (text, "write %" G_GUINT64_FORMAT "\n", write_no);
  for (guint i = 0; i < tasks->len; i++)
    {
      EmStoreTaskRow *row = g_ptr_array_index (tasks, i);

      g_string_append_printf (text, "task %s %" G_GUINT64_FORMAT " %s %s %s %" G_GINT64_FORMAT
                              " %" G_GINT64_FORMAT " %u %" G_GUINT64_FORMAT " %s\n",
                              row->id, row->serial, row->status, row->action, row->created_at,
                              row->created_us, row->finished_us, row->batch_state,
                              row->scheduled_seq, row->json);
    }
  for (guint i = 0; i < events->len; i++)
    {
      EmStoreEventRow *row = g_ptr_array_index (events, i);

      g_string_append_printf (text, "event %" G_GUINT64_FORMAT " %s %s %" G_GINT64_FORMAT " %.*s\n",
                              row->seq, row->type, row->task_id != NULL ? row->task_id : "(null)",
                              row->timestamp_us, (int) row->json_length, row->json);
    }
  g_ptr_array_add (collected->seen, g_string_free (text, FALSE));
  return TRUE;
}

static GPtrArray *
replay_all (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmStoreJournal) journal = em_store_journal_open (path, &error);
  Collected collected = { g_ptr_array_new_with_free_func (g_free) };

  g_assert_no_error (error);
  g_assert_true (em_store_journal_replay (journal, collect_record, &collected, &error));
  g_assert_no_error (error);
  return collected.seen;
}

/* every field comes back as written, NULLs included */
static void
test_round_trip (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = task_rows ();
  g_autoptr(GPtrArray) events = event_rows ();
  g_autoptr(GPtrArray) empty_tasks = task_rows ();
  g_autoptr(GPtrArray) queue_events = event_rows ();
  g_autoptr(GPtrArray) seen = NULL;
  g_autofree char *path = em_store_journal_path_for (fx->db_path);

  g_assert_cmpstr (path, ==, fx->journal_path);
  g_ptr_array_add (tasks, task_row ("a", 1, "pending", 1));
  g_ptr_array_add (tasks, task_row ("b", 2, "completed", 2));
  g_ptr_array_add (events, event_row (1, "task_scheduled", "a"));
  g_ptr_array_add (events, event_row (2, "task_completed", "b"));
  g_ptr_array_add (queue_events, event_row (3, "queue_paused", NULL));
  append_record (path, 7, tasks, events, 0);
  append_record (path, 8, empty_tasks, queue_events, 0);

  seen = replay_all (path);
  g_assert_cmpuint (seen->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (seen, 0), ==,
                   "write 7\n"
                   "task a 1 pending wait 2026-11-26T10:00:00.000000Z 1795600800000000 0 0 1 "
                   "{\"id\":\"a\",\"name\":\"n\",\"action\":\"wait\",\"status\":\"pending\"}\n"
                   "task b 2 completed wait 2026-11-26T10:00:00.000000Z 1795600800000000 "
                   "1795600801000000 113 2 "
                   "{\"id\":\"b\",\"name\":\"n\",\"action\":\"wait\",\"status\":\"completed\"}\n"
                   "event 1 task_scheduled a 1795600800000001 {\"type\":\"task_scheduled\",\"seq\":1}\n"
                   "event 2 task_completed b 1795600800000002 {\"type\":\"task_completed\",\"seq\":2}\n");
  g_assert_cmpstr (g_ptr_array_index (seen, 1), ==,
                   "write 8\n"
                   "event 3 queue_paused (null) 1795600800000003 {\"type\":\"queue_paused\",\"seq\":3}\n");
}

/* a record cut short or with a flipped byte ends the reading; what came before counts */
static void
test_damaged_tail (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = task_rows ();
  g_autoptr(GPtrArray) events = event_rows ();
  g_autoptr(GPtrArray) seen = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_ptr_array_add (tasks, task_row ("a", 1, "pending", 1));
  g_ptr_array_add (events, event_row (1, "task_scheduled", "a"));
  append_record (fx->journal_path, 1, tasks, events, 0);
  append_record (fx->journal_path, 2, tasks, events, 7);

  g_test_expect_message ("em-store", G_LOG_LEVEL_WARNING, "*Ignored the last*tasks.journal*");
  seen = replay_all (fx->journal_path);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (seen->len, ==, 1);

  /* a flipped byte inside the only record: its checksum no longer matches */
  g_assert_true (g_file_get_contents (fx->journal_path, &contents, &length, NULL));
  contents[20] ^= 0x40;
  g_assert_true (g_file_set_contents (fx->journal_path, contents, length, NULL));
  g_clear_pointer (&seen, g_ptr_array_unref);
  g_test_expect_message ("em-store", G_LOG_LEVEL_WARNING, "*Ignored the last*tasks.journal*");
  seen = replay_all (fx->journal_path);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (seen->len, ==, 0);
}

/* damage with intact records after it is not a write cut short: those were
 * acknowledged, so the reading fails, naming the file, and the store does not
 * open */
static void
test_damaged_middle (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) tasks = task_rows ();
  g_autoptr(GPtrArray) events = event_rows ();
  g_autoptr(EmStoreJournal) journal = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  Collected collected = { g_ptr_array_new_with_free_func (g_free) };
  gsize length = 0;
  EmStore *store;

  g_ptr_array_add (tasks, task_row ("a", 1, "pending", 1));
  g_ptr_array_add (events, event_row (1, "task_scheduled", "a"));
  for (guint i = 1; i <= 3; i++)
    append_record (fx->journal_path, i, tasks, events, 0);
  g_assert_true (g_file_get_contents (fx->journal_path, &contents, &length, NULL));
  contents[length / 3 + length / 6] ^= 0x40;
  g_assert_true (g_file_set_contents (fx->journal_path, contents, length, NULL));

  journal = em_store_journal_open (fx->journal_path, &error);
  g_assert_no_error (error);
  g_assert_false (em_store_journal_replay (journal, collect_record, &collected, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, fx->journal_path));
  g_assert_nonnull (strstr (error->message, "damaged"));
  /* the first record had been read */
  g_assert_cmpuint (collected.seen->len, ==, 1);
  g_ptr_array_unref (collected.seen);
  g_clear_error (&error);

  store = em_store_open (fx->db_path, &error);
  g_assert_null (store);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, fx->journal_path));
  /* and the journal is left as it was */
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (fx->journal_path, &contents, &length, NULL));
  g_assert_cmpuint (length, >, 0);
}

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (em_store_sync_finish ((EmStore *) source, result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static EmStore *
open_store (Fixture *fx, EmStoreSnapshot *snapshot)
{
  g_autoptr(GError) error = NULL;
  EmStore *store = em_store_open (fx->db_path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (store);
  g_assert_true (em_store_load (store, 100, G_MAXUINT64, 1000, snapshot, &error));
  g_assert_no_error (error);
  return store;
}

static EmStoreLoadedTask *
find_loaded (EmStoreSnapshot *snapshot, const char *id)
{
  GPtrArray *lists[] = { snapshot->active, snapshot->recent };

  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; i < lists[l]->len; i++)
      {
        EmStoreLoadedTask *loaded = g_ptr_array_index (lists[l], i);

        if (g_strcmp0 (json_object_get_string_member (loaded->task, "id"), id) == 0)
          return loaded;
      }
  return NULL;
}

static const char *
loaded_status (EmStoreSnapshot *snapshot, const char *id)
{
  EmStoreLoadedTask *loaded = find_loaded (snapshot, id);

  return loaded != NULL ? json_object_get_string_member (loaded->task, "status") : NULL;
}

/* a new database gets "a", pending, and event 1 through the store's threads,
 * as in service, and is closed cleanly */
static void
store_first_task (Fixture *fx)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  GPtrArray *tasks = task_rows ();
  GPtrArray *events = event_rows ();
  EmStore *store = open_store (fx, &snapshot);
  gboolean done = FALSE;

  g_assert_cmpuint (snapshot.last_seq, ==, 0);
  em_store_start (store, NULL, NULL);
  g_ptr_array_add (tasks, task_row ("a", 1, "pending", 1));
  g_ptr_array_add (events, event_row (1, "task_scheduled", "a"));
  em_store_write (store, tasks, events, NULL);
  em_store_sync_async (store, NULL, synced_cb, &done);
  EM_TEST_WAIT_UNTIL (done, 5000);
  em_store_free (store);
}

/* rows from an arena, the task's rendered from its snapshot off the loop, and
 * the acknowledgement in the same request: once it is answered the record is
 * in the journal, whatever the database has yet */
static void
test_write_and_sync (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autoptr(EmTask) task = em_task_new (5, "n", "wait", NULL);
  g_autoptr(GPtrArray) seen = NULL;
  g_autofree char *pending_json = em_task_to_json_string (task);
  g_autofree char *expected = NULL;
  const char *frame = "{\"type\":\"task_scheduled\",\"seq\":1}";
  GPtrArray *tasks = task_rows ();
  GPtrArray *events = event_rows ();
  EmArena *arena = em_arena_new ();
  EmStore *store = open_store (fx, &snapshot);
  EmStoreTaskRow *row;
  EmStoreEventRow *event;
  gboolean done = FALSE;

  em_store_start (store, NULL, NULL);
  row = em_store_task_row_new_in (arena, em_task_get_id (task), "wait",
                                  em_task_snapshot_new (task, arena));
  row->serial = 5;
  row->status = "pending";
  row->created_us = 1795600800000000;
  g_ptr_array_add (tasks, row);
  event = em_store_event_row_new_in (arena, em_task_get_id (task), frame, strlen (frame));
  event->seq = 1;
  event->type = "task_scheduled";
  event->timestamp_us = 1795600800000001;
  g_ptr_array_add (events, event);
  /* the task moves on: the row keeps what it was */
  em_task_mark_running (task);
  em_store_write_and_sync_async (store, tasks, events, arena, NULL, synced_cb, &done);
  EM_TEST_WAIT_UNTIL (done, 5000);

  seen = replay_all (fx->journal_path);
  g_assert_cmpuint (seen->len, ==, 1);
  expected = g_strdup_printf ("event 1 task_scheduled %s 1795600800000001 %s\n",
                              em_task_get_id (task), frame);
  g_assert_nonnull (strstr (g_ptr_array_index (seen, 0), pending_json));
  g_assert_true (g_str_has_suffix (g_ptr_array_index (seen, 0), expected));
  em_store_free (store);
}

/* a write the database has is not applied twice; one it lacks is applied at
 * the next open; a clean close leaves nothing to replay */
static void
test_replay_on_open (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) second = { 0, };
  g_autoptr(GPtrArray) tasks = task_rows ();
  g_autoptr(GPtrArray) events = event_rows ();
  EmStore *store;
  GStatBuf st;

  store_first_task (fx);
  g_assert_cmpint (g_stat (fx->journal_path, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 0);

  /* what a crash leaves: a record the database already has (with another
   * status, which must not win), one it lacks, and half a record */
  g_ptr_array_add (tasks, task_row ("a", 1, "completed", 1));
  g_ptr_array_add (events, event_row (1, "task_scheduled", "a"));
  append_record (fx->journal_path, 1, tasks, events, 0);
  g_ptr_array_set_size (tasks, 0);
  g_ptr_array_set_size (events, 0);
  g_ptr_array_add (tasks, task_row ("b", 2, "pending", 2));
  g_ptr_array_add (events, event_row (2, "task_scheduled", "b"));
  append_record (fx->journal_path, 2, tasks, events, 0);
  g_ptr_array_set_size (tasks, 0);
  g_ptr_array_set_size (events, 0);
  g_ptr_array_add (tasks, task_row ("c", 3, "pending", 3));
  g_ptr_array_add (events, event_row (3, "task_scheduled", "c"));
  append_record (fx->journal_path, 3, tasks, events, 30);

  g_test_expect_message ("em-store", G_LOG_LEVEL_WARNING, "*Ignored the last*");
  g_test_expect_message ("em-store", G_LOG_LEVEL_MESSAGE, "*Recovered 1 writes*tasks.journal*");
  store = open_store (fx, &second);
  g_test_assert_expected_messages ();
  g_assert_cmpstr (loaded_status (&second, "a"), ==, "pending");
  g_assert_cmpstr (loaded_status (&second, "b"), ==, "pending");
  g_assert_null (loaded_status (&second, "c"));
  g_assert_cmpuint (second.last_seq, ==, 2);
  g_assert_cmpuint (second.last_serial, ==, 2);
  g_assert_cmpint (g_stat (fx->journal_path, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 0);
  em_store_free (store);
}

/* the writer puts in only the last of a task's rows in a commit: whichever
 * commits the writes meet in, and with several rows of one task in one
 * write, the database ends with each task's last state. A finished task's
 * row goes in as it comes and an unfinished one's at the commit: a retry
 * ("failed", then "pending") must still end pending */
static void
test_last_row_wins (Fixture *fx, gconstpointer data)
{
  static const char *statuses[] = { "pending", "running", "completed" };
  static const char *types[] = { "task_scheduled", "task_started", "task_completed" };
  g_auto(EmStoreSnapshot) first = { 0, };
  g_auto(EmStoreSnapshot) second = { 0, };
  EmStore *store = open_store (fx, &first);
  EmStoreLoadedTask *loaded;
  guint64 seq = 0;

  /* queued before the threads start, so that they tend to share a commit */
  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      GPtrArray *tasks = task_rows ();
      GPtrArray *events = event_rows ();

      g_ptr_array_add (tasks, task_row ("a", 2, statuses[i], 1));
      g_ptr_array_add (events, event_row (++seq, types[i], "a"));
      if (i != 1)
        {
          g_ptr_array_add (tasks, task_row ("c", 4, i == 0 ? "failed" : "pending", 0));
          g_ptr_array_add (events, event_row (++seq, i == 0 ? "task_failed" : "task_retrying", "c"));
        }
      if (i == 1)
        {
          g_ptr_array_add (tasks, task_row ("b", 3, "pending", seq + 1));
          g_ptr_array_add (events, event_row (++seq, "task_scheduled", "b"));
          g_ptr_array_add (tasks, task_row ("b", 3, "cancelled", seq));
          g_ptr_array_add (events, event_row (++seq, "task_cancelled", "b"));
        }
      em_store_write (store, tasks, events, NULL);
    }
  em_store_start (store, NULL, NULL);
  /* a clean stop commits everything queued */
  em_store_free (store);

  store = open_store (fx, &second);
  g_assert_cmpuint (second.last_seq, ==, seq);
  g_assert_cmpuint (second.last_serial, ==, 4);
  loaded = find_loaded (&second, "a");
  g_assert_nonnull (loaded);
  g_assert_cmpstr (json_object_get_string_member (loaded->task, "status"), ==, "completed");
  g_assert_cmpuint (loaded->serial, ==, 2);
  g_assert_cmpuint (loaded->batch_state, ==, 0x71);
  g_assert_cmpstr (loaded_status (&second, "b"), ==, "cancelled");
  g_assert_cmpstr (loaded_status (&second, "c"), ==, "pending");
  em_store_free (store);
}

/* large rows (a big result) queued while the journal thread is busy go out
 * in appends of a bounded size, so that the journal stays near its bound:
 * taken in one append, 32 MiB of them made a 32 MiB journal */
#define LARGE_ROW_SIZE (1024 * 1024)
#define LARGE_ROWS 32

static void
test_large_rows_bounded (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autofree char *json = g_malloc (LARGE_ROW_SIZE + 1);
  EmStore *store = open_store (fx, &snapshot);
  gboolean done = FALSE;
  GStatBuf st;

  memset (json, 'x', LARGE_ROW_SIZE);
  json[LARGE_ROW_SIZE] = '\0';
  /* queued before the threads start: all of them wait for the journal thread */
  for (guint i = 0; i < LARGE_ROWS; i++)
    {
      g_autofree char *id = g_strdup_printf ("t%u", i);
      GPtrArray *tasks = task_rows ();
      EmStoreTaskRow *row = em_store_task_row_new (id, "wait", "2026-11-26T10:00:00.000000Z",
                                                   json, LARGE_ROW_SIZE);

      row->serial = i + 1;
      row->status = "pending";
      row->created_us = 1795600800000000;
      g_ptr_array_add (tasks, row);
      em_store_write (store, tasks, event_rows (), NULL);
    }
  em_store_sync_async (store, NULL, synced_cb, &done);
  em_store_start (store, NULL, NULL);
  EM_TEST_WAIT_UNTIL (done, 20000);
  /* answered once the last write is appended; the database, committing
   * megabytes, is still behind */
  g_assert_cmpint (g_stat (fx->journal_path, &st), ==, 0);
  g_assert_cmpint (st.st_size, <, 16 * 1024 * 1024);
  em_store_free (store);
}

static void
committed_cb (guint64 seq, gpointer user_data)
{
  guint64 *committed = user_data;

  *committed = MAX (*committed, seq);
}

/* a write with a task's row but no event (a dependency's change of
 * waiting_on) is committed like any other: after a crash that leaves it in the
 * journal, it must not be replayed over the rows committed after it */
static void
test_rows_without_events (Fixture *fx, gconstpointer data)
{
  static const char *statuses[] = { "pending", "running", "completed" };
  g_auto(EmStoreSnapshot) first = { 0, };
  g_auto(EmStoreSnapshot) second = { 0, };
  g_auto(EmStoreSnapshot) third = { 0, };
  g_autofree char *journal = NULL;
  gsize journal_length = 0;
  g_autoptr(GPtrArray) seen = NULL;
  guint64 committed = 0;
  EmStore *store = open_store (fx, &first);
  guint64 seq = 0;
  GStatBuf st;

  em_store_start (store, committed_cb, &committed);
  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      GPtrArray *tasks = task_rows ();
      GPtrArray *events = event_rows ();

      g_ptr_array_add (tasks, task_row ("a", 1, statuses[i], 1));
      /* the middle write has no event */
      if (i != 1)
        g_ptr_array_add (events, event_row (++seq, "task_scheduled", "a"));
      em_store_write (store, tasks, events, NULL);
    }
  EM_TEST_WAIT_UNTIL (committed == seq, 5000);

  /* what kill -9 leaves now: every write in the database, and in the journal */
  g_assert_true (g_file_get_contents (fx->journal_path, &journal, &journal_length, NULL));
  g_assert_cmpuint (journal_length, >, 0);
  em_store_free (store);
  g_assert_true (g_file_set_contents (fx->journal_path, journal, journal_length, NULL));

  store = open_store (fx, &second);
  g_assert_cmpstr (loaded_status (&second, "a"), ==, "completed");
  g_assert_cmpuint (second.last_seq, ==, seq);
  em_store_free (store);

  /* and the numbers go on from the database's: a write made now is not taken
   * for one the database has */
  store = open_store (fx, &third);
  em_store_start (store, NULL, NULL);
  {
    GPtrArray *tasks = task_rows ();

    g_ptr_array_add (tasks, task_row ("b", 2, "pending", 0));
    em_store_write (store, tasks, NULL, NULL);
  }
  EM_TEST_WAIT_UNTIL (g_stat (fx->journal_path, &st) == 0 && st.st_size > 0, 5000);
  seen = replay_all (fx->journal_path);
  g_assert_cmpuint (seen->len, ==, 1);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (seen, 0), "write 4\ntask b "));
  em_store_free (store);
}

static void
exec_sql (const char *path, const char *sql)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

typedef struct {
  gboolean done;
  GError  *error;
} SyncAnswer;

static void
sync_answer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SyncAnswer *answer = user_data;

  em_store_sync_finish ((EmStore *) source, result, &answer->error);
  answer->done = TRUE;
}

/* once the database has failed, nothing empties the journal, and the next
 * start reads it whole: it stops at its bound, failing every later
 * acknowledgement as a journal that cannot be written does, rather than
 * grow with every state change until the restart */
static void
test_bounded_after_failure (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_auto(EmStoreSnapshot) reopened = { 0, };
  g_autofree char *padding = g_malloc (LARGE_ROW_SIZE + 1);
  GLogLevelFlags fatal_mask;
  EmStore *store;
  gboolean journal_named = FALSE;
  GStatBuf st;

  store_first_task (fx);
  /* a commit with an event fails, as on a full disk */
  exec_sql (fx->db_path, "CREATE TRIGGER full BEFORE INSERT ON events "
                         "BEGIN SELECT RAISE (ABORT, 'database or disk is full'); END");
  memset (padding, 'x', LARGE_ROW_SIZE);
  padding[LARGE_ROW_SIZE] = '\0';
  fatal_mask = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  store = open_store (fx, &snapshot);
  em_store_start (store, NULL, NULL);
  for (guint i = 0; i < 100 && !journal_named; i++)
    {
      g_autofree char *id = g_strdup_printf ("t%u", i);
      g_autofree char *json = g_strdup_printf ("{\"id\":\"%s\",\"name\":\"%s\",\"action\":\"wait\","
                                               "\"status\":\"pending\"}", id, padding);
      GPtrArray *tasks = task_rows ();
      GPtrArray *events = event_rows ();
      EmStoreTaskRow *row = em_store_task_row_new (id, "wait", "2026-11-26T10:00:00.000000Z",
                                                   json, strlen (json));
      SyncAnswer answer = { FALSE, NULL };

      row->serial = i + 2;
      row->status = "pending";
      row->created_us = 1795600800000000;
      row->scheduled_seq = i + 2;
      g_ptr_array_add (tasks, row);
      g_ptr_array_add (events, event_row (i + 2, "task_scheduled", id));
      em_store_write_and_sync_async (store, tasks, events, NULL, NULL, sync_answer_cb, &answer);
      EM_TEST_WAIT_UNTIL (answer.done, 20000);
      journal_named = answer.error != NULL && strstr (answer.error->message, fx->journal_path) != NULL;
      g_clear_error (&answer.error);
    }
  g_assert_true (journal_named);
  g_assert_cmpint (g_stat (fx->journal_path, &st), ==, 0);
  g_assert_cmpint (st.st_size, <=, 64 * 1024 * 1024);
  em_store_free (store);
  g_log_set_always_fatal (fatal_mask);

  /* room again: the restart replays what the journal kept */
  exec_sql (fx->db_path, "DROP TRIGGER full");
  g_test_expect_message ("em-store", G_LOG_LEVEL_MESSAGE, "*Recovered*");
  store = open_store (fx, &reopened);
  g_test_assert_expected_messages ();
  g_assert_cmpstr (loaded_status (&reopened, "t0"), ==, "pending");
  em_store_free (store);
}

/* a record from before writes were numbered ("EMJ1", no number in front of
 * the rows) is still read, and told committed or not by its events */
static void
test_unnumbered_record (Fixture *fx, gconstpointer data)
{
  g_autoptr(GByteArray) file = g_byte_array_new ();
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autoptr(GError) error = NULL;
  EmStore *store;

  store_first_task (fx);

  /* the old format, records without their number, in "EMJ1": event 1 again,
   * then event 2 */
  for (guint64 seq = 1; seq <= 2; seq++)
    {
      g_autoptr(GPtrArray) tasks = task_rows ();
      g_autoptr(GPtrArray) events = event_rows ();
      g_autoptr(GByteArray) record = g_byte_array_new ();
      const char *status = seq == 1 ? "completed" : "running";
      guint32 header[3];
      guint8 *payload;
      gsize size;

      g_ptr_array_add (tasks, task_row ("a", 1, status, 1));
      g_ptr_array_add (events, event_row (seq, "task_started", "a"));
      em_store_journal_encode (record, 0, tasks, events);
      payload = record->data + 12 + 8;
      size = record->len - 12 - 8;
      header[0] = GUINT32_TO_LE (0x314a4d45u);
      header[1] = GUINT32_TO_LE ((guint32) size);
      header[2] = GUINT32_TO_LE ((guint32) crc32 (0, payload, (uInt) size));
      g_byte_array_append (file, (const guint8 *) header, sizeof header);
      g_byte_array_append (file, payload, (guint) size);
    }
  g_assert_true (g_file_set_contents (fx->journal_path, (const char *) file->data, file->len, &error));
  g_assert_no_error (error);

  /* event 1 is in the database, so the first record is skipped; event 2 is not */
  g_test_expect_message ("em-store", G_LOG_LEVEL_MESSAGE, "*Recovered 1 writes*");
  store = open_store (fx, &snapshot);
  g_test_assert_expected_messages ();
  g_assert_cmpstr (loaded_status (&snapshot, "a"), ==, "running");
  g_assert_cmpuint (snapshot.last_seq, ==, 2);
  em_store_free (store);
}

static gsize
file_size (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return (gsize) st.st_size;
}

/* one record per task, each with its status and event, in a file of their own */
static void
write_records (const char *path, guint64 first_write_no, const char * const *statuses,
               guint64 first_seq)
{
  g_autoptr(GByteArray) file = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  for (guint i = 0; statuses[i] != NULL; i++)
    {
      g_autoptr(GPtrArray) tasks = task_rows ();
      g_autoptr(GPtrArray) events = event_rows ();

      g_ptr_array_add (tasks, task_row ("a", 1, statuses[i], 1));
      g_ptr_array_add (events, event_row (first_seq + i, "task_progress", "a"));
      em_store_journal_encode (file, first_write_no + i, tasks, events);
    }
  g_assert_true (g_file_set_contents (path, (const char *) file->data, file->len, &error));
  g_assert_no_error (error);
}

/* the journal is two files, and either may be the older: replay takes the
 * older one's records first, so the task ends as the newer one has it */
static void
test_two_files_in_order (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autofree char *second = em_store_journal_second_path (fx->journal_path);
  g_autoptr(GPtrArray) seen = NULL;
  EmStore *store;

  store_first_task (fx);
  /* the second file was written first, then the appends went back to the first */
  write_records (second, 2, (const char *[]) { "running", "failed", NULL }, 2);
  write_records (fx->journal_path, 4, (const char *[]) { "pending", "completed", NULL }, 4);

  seen = replay_all (fx->journal_path);
  g_assert_cmpuint (seen->len, ==, 4);
  for (guint i = 0; i < seen->len; i++)
    {
      g_autofree char *prefix = g_strdup_printf ("write %u\n", i + 2);

      g_assert_true (g_str_has_prefix (g_ptr_array_index (seen, i), prefix));
    }

  g_test_expect_message ("em-store", G_LOG_LEVEL_MESSAGE, "*Recovered 4 writes*");
  store = open_store (fx, &snapshot);
  g_test_assert_expected_messages ();
  g_assert_cmpstr (loaded_status (&snapshot, "a"), ==, "completed");
  g_assert_cmpuint (snapshot.last_seq, ==, 5);
  g_assert_cmpuint (file_size (fx->journal_path), ==, 0);
  g_assert_cmpuint (file_size (second), ==, 0);
  em_store_free (store);
}

/* a write cut short is the last one written: in the older file, with records
 * in the newer one, it is damage, and the store refuses to start on it */
static void
test_two_files_torn_older (Fixture *fx, gconstpointer data)
{
  g_autofree char *second = em_store_journal_second_path (fx->journal_path);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length;
  EmStore *store;

  store_first_task (fx);
  write_records (fx->journal_path, 2, (const char *[]) { "running", "failed", NULL }, 2);
  write_records (second, 4, (const char *[]) { "completed", NULL }, 4);
  g_assert_true (g_file_get_contents (fx->journal_path, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (fx->journal_path, contents, length - 5, NULL));

  g_test_expect_message ("em-store", G_LOG_LEVEL_WARNING, "*Ignored the last*");
  store = em_store_open (fx->db_path, &error);
  g_test_assert_expected_messages ();
  g_assert_null (store);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, fx->journal_path));
  g_assert_nonnull (strstr (error->message, second));
}

/* a crash in the first append after the files changed roles leaves the
 * newer file with a write cut short and nothing else: the older file's
 * records are replayed, and the cut one ignored */
static void
test_two_files_torn_newer (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autofree char *second = em_store_journal_second_path (fx->journal_path);
  g_autofree char *contents = NULL;
  gsize length;
  EmStore *store;

  store_first_task (fx);
  write_records (second, 2, (const char *[]) { "running", "completed", NULL }, 2);
  write_records (fx->journal_path, 4, (const char *[]) { "failed", NULL }, 4);
  g_assert_true (g_file_get_contents (fx->journal_path, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (fx->journal_path, contents, length - 5, NULL));

  g_test_expect_message ("em-store", G_LOG_LEVEL_WARNING, "*Ignored the last*");
  g_test_expect_message ("em-store", G_LOG_LEVEL_MESSAGE, "*Recovered 2 writes*");
  store = open_store (fx, &snapshot);
  g_test_assert_expected_messages ();
  g_assert_cmpstr (loaded_status (&snapshot, "a"), ==, "completed");
  em_store_free (store);
}

#define ROTATION_ROW_SIZE (512 * 1024)

/* a task's row of about ROTATION_ROW_SIZE bytes, @padding its name */
static void
write_large (EmStore *store, guint i, const char *padding)
{
  g_autofree char *id = g_strdup_printf ("t%u", i);
  g_autofree char *json = g_strdup_printf ("{\"id\":\"%s\",\"name\":\"%s\",\"action\":\"wait\","
                                           "\"status\":\"pending\"}", id, padding);
  GPtrArray *tasks = task_rows ();
  EmStoreTaskRow *row = em_store_task_row_new (id, "wait", "2026-11-26T10:00:00.000000Z",
                                               json, strlen (json));

  row->serial = i + 2;
  row->status = "pending";
  row->created_us = 1795600800000000;
  g_ptr_array_add (tasks, row);
  em_store_write (store, tasks, event_rows (), NULL);
}

static void
sync_now (EmStore *store)
{
  gboolean done = FALSE;

  em_store_sync_async (store, NULL, synced_cb, &done);
  EM_TEST_WAIT_UNTIL (done, 20000);
}

static void
looked_up_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  JsonNode **found = user_data;
  g_autoptr(GError) error = NULL;

  *found = em_store_lookup_task_finish ((EmStore *) source, result, &error);
  g_assert_no_error (error);
}

/* until the database has task @i */
static void
wait_written (EmStore *store, guint i)
{
  g_autofree char *id = g_strdup_printf ("t%u", i);
  g_autoptr(JsonNode) found = NULL;

  em_store_lookup_task_async (store, id, NULL, looked_up_cb, &found);
  EM_TEST_WAIT_UNTIL (found != NULL, 20000);
}

static gboolean
journal_has_task (Fixture *fx, guint i)
{
  g_autofree char *line = g_strdup_printf ("\ntask t%u ", i);
  g_autoptr(GPtrArray) seen = replay_all (fx->journal_path);

  for (guint r = 0; r < seen->len; r++)
    if (strstr (g_ptr_array_index (seen, r), line) != NULL)
      return TRUE;
  return FALSE;
}

/* With the database held back, acknowledgements go on past a full file into
 * the second, beyond what one file may hold; and once the database has a
 * file's writes, that file is emptied while the other keeps the write the
 * database still lacks */
static void
test_rotation (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autofree char *second = em_store_journal_second_path (fx->journal_path);
  g_autofree char *padding = g_malloc (ROTATION_ROW_SIZE + 1);
  EmStore *store;
  guint i = 0;

  store_first_task (fx);
  memset (padding, 'x', ROTATION_ROW_SIZE);
  padding[ROTATION_ROW_SIZE] = '\0';
  store = open_store (fx, &snapshot);
  em_store_start (store, NULL, NULL);
  em_store_hold_writer (store, TRUE);

  /* one write and acknowledgement at a time: the first file fills to 4 MiB */
  while (file_size (second) == 0)
    {
      write_large (store, i++, padding);
      sync_now (store);
      g_assert_cmpuint (i, <, 32);
    }
  g_assert_cmpuint (file_size (fx->journal_path), >=, 4 * 1024 * 1024);
  /* 10 MiB in all acknowledged, none of it in the database */
  while (file_size (fx->journal_path) + file_size (second) < 10 * 1024 * 1024)
    {
      write_large (store, i++, padding);
      sync_now (store);
    }

  /* the database takes everything there is (a lookup is answered after the
   * writes before it), and then one more write comes: the file the database
   * has all of is emptied, whichever of the two it is by then, and the other
   * keeps that write, which the database lacks (the journal thread answers the
   * sync before it looks at its files) */
  em_store_hold_writer (store, FALSE);
  wait_written (store, i - 1);
  em_store_hold_writer (store, TRUE);
  write_large (store, i, padding);
  sync_now (store);
  EM_TEST_WAIT_UNTIL (MIN (file_size (fx->journal_path), file_size (second)) == 0, 5000);
  g_assert_cmpuint (file_size (fx->journal_path) + file_size (second), <, 10 * 1024 * 1024);
  g_assert_true (journal_has_task (fx, i));
  em_store_free (store);

  /* a clean stop empties both */
  g_assert_cmpuint (file_size (fx->journal_path), ==, 0);
  g_assert_cmpuint (file_size (second), ==, 0);
}

/* sets or clears the append-only attribute of @path, under which writes
 * go on and ftruncate() fails, as a disk may refuse it; FALSE when the file
 * system or the test's privileges do not allow it */
static gboolean
set_append_only (const char *path, gboolean append_only)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  int flags = 0;
  gboolean done;

  g_assert_cmpint (fd, >=, 0);
  done = ioctl (fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (append_only)
    flags |= FS_APPEND_FL;
  else
    flags &= ~FS_APPEND_FL;
  done = done && ioctl (fd, FS_IOC_SETFLAGS, &flags) == 0;
  close (fd);
  return done;
}

/* A full journal file that cannot be emptied leaves the other to grow: it
 * is bounded as after a failed database, acknowledgements failing at the
 * bound and naming the journal, and the warning comes once, not with every
 * batch. Old: no bound at all, and a warning per batch */
static void
test_unreleasable (Fixture *fx, gconstpointer data)
{
  g_auto(EmStoreSnapshot) snapshot = { 0, };
  g_autofree char *second = em_store_journal_second_path (fx->journal_path);
  g_autofree char *padding = g_malloc (LARGE_ROW_SIZE + 1);
  EmStore *store;
  gboolean journal_named = FALSE;
  guint i = 0;

  store_first_task (fx);
  memset (padding, 'x', LARGE_ROW_SIZE);
  padding[LARGE_ROW_SIZE] = '\0';
  store = open_store (fx, &snapshot);
  em_store_start (store, NULL, NULL);
  if (!set_append_only (fx->journal_path, TRUE))
    {
      em_store_free (store);
      g_test_skip ("the append-only attribute cannot be set here");
      return;
    }

  /* the file that could not be emptied, once; then the bound, once */
  g_test_expect_message ("em-store", G_LOG_LEVEL_WARNING, "*Cannot write*tasks.journal*");
  g_test_expect_message ("em-store", G_LOG_LEVEL_WARNING, "*limit of 64 MiB*could not be emptied*");
  for (; i < 100 && !journal_named; i++)
    {
      SyncAnswer answer = { FALSE, NULL };

      write_large (store, i, padding);
      em_store_sync_async (store, NULL, sync_answer_cb, &answer);
      EM_TEST_WAIT_UNTIL (answer.done, 20000);
      journal_named = answer.error != NULL &&
                      strstr (answer.error->message, fx->journal_path) != NULL &&
                      strstr (answer.error->message, "could not be emptied") != NULL;
      g_clear_error (&answer.error);
    }
  g_test_assert_expected_messages ();
  g_assert_true (journal_named);
  g_assert_cmpuint (file_size (fx->journal_path) + file_size (second), <=, 64 * 1024 * 1024);
  /* past 64 MiB, written at 1 MiB a task */
  g_assert_cmpuint (i, >, 60);

  g_assert_true (set_append_only (fx->journal_path, FALSE));
  em_store_free (store);
}

/* a journal that cannot be opened stops the store, naming the file */
static void
test_unwritable (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EmStore *store;

  g_assert_cmpint (g_mkdir (fx->journal_path, 0700), ==, 0);
  store = em_store_open (fx->db_path, &error);
  g_assert_null (store);
  g_assert_error (error, EM_ERROR, EM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, fx->journal_path));
  g_rmdir (fx->journal_path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/store-journal/round-trip", test_round_trip);
  ADD ("/store-journal/damaged-tail", test_damaged_tail);
  ADD ("/store-journal/damaged-middle", test_damaged_middle);
  ADD ("/store-journal/replay-on-open", test_replay_on_open);
  ADD ("/store-journal/write-and-sync", test_write_and_sync);
  ADD ("/store-journal/last-row-wins", test_last_row_wins);
  ADD ("/store-journal/large-rows-bounded", test_large_rows_bounded);
  ADD ("/store-journal/rows-without-events", test_rows_without_events);
  ADD ("/store-journal/unnumbered-record", test_unnumbered_record);
  ADD ("/store-journal/bounded-after-failure", test_bounded_after_failure);
  ADD ("/store-journal/unwritable", test_unwritable);
  ADD ("/store-journal/two-files-in-order", test_two_files_in_order);
  ADD ("/store-journal/two-files-torn-older", test_two_files_torn_older);
  ADD ("/store-journal/two-files-torn-newer", test_two_files_torn_newer);
  ADD ("/store-journal/rotation", test_rotation);
  ADD ("/store-journal/unreleasable", test_unreleasable);

  return g_test_run ();
}
