#pragma once

#include "engine/em-store.h"

G_BEGIN_DECLS

/*
 * The store's acknowledgement journal: an append-only file next to the
 * database, one checksummed record per write, each holding the same task and
 * event rows the SQLite transaction will. A write is durable for the service's
 * purposes once its record is in the file (the OS has it, as with SQLite's own
 * WAL at synchronous=NORMAL), so an acknowledgement waits for one write()
 * instead of a transaction; the database catches up behind it, and at startup
 * whatever the database does not have yet is replayed from here.
 */
typedef struct _EmStoreJournal EmStoreJournal;

/* called for each intact record, oldest first, with the number it was written
 * under (0 for a record from before records were numbered); rows are
 * (transfer none) and valid only during the call */
typedef gboolean (*EmStoreJournalFunc) (guint64     write_no,
                                        GPtrArray  *tasks,
                                        GPtrArray  *events,
                                        gpointer    user_data,
                                        GError    **error);

/* the journal's file name for the database at @db_path */
char           *em_store_journal_path_for  (const char          *db_path);
/* the journal is two files, @path and this one: records are appended to one
 * while the other, full, waits to be emptied once the database has its
 * records, so that appending never waits for the database to catch up
 * with everything (only with a whole file's worth) */
char           *em_store_journal_second_path (const char        *path);
/* opens (creating) both files for appending; nothing is read yet */
EmStoreJournal *em_store_journal_open      (const char          *path,
                                            GError             **error);
void            em_store_journal_free      (EmStoreJournal      *self);
/* the first file's: messages about the journal as a whole name it */
const char     *em_store_journal_get_path  (EmStoreJournal      *self);
/* bytes in both files */
gsize           em_store_journal_get_size  (EmStoreJournal      *self);
/* bytes in the file appends go to */
gsize           em_store_journal_get_active_size (EmStoreJournal *self);

/* passes every intact record to @func, the older file's first; a torn or
 * damaged tail (a write cut by a crash) ends the reading with a warning,
 * since nothing past it was ever acknowledged. Damage with intact records
 * after it in the same file, or with the newer file not empty, fails,
 * naming the files */
gboolean        em_store_journal_replay    (EmStoreJournal      *self,
                                            EmStoreJournalFunc   func,
                                            gpointer             user_data,
                                            GError             **error);
/* appends one record, numbered @write_no, for @tasks (EmStoreTaskRow) and
 * @events (EmStoreEventRow) */
void            em_store_journal_encode    (GByteArray          *out,
                                            guint64              write_no,
                                            GPtrArray           *tasks,
                                            GPtrArray           *events);
/* writes @data at the end, whole, or fails */
gboolean        em_store_journal_append    (EmStoreJournal      *self,
                                            const guint8        *data,
                                            gsize                length,
                                            GError             **error);
/* appends go to the other file, which must be empty, from now on; the full
 * one is sealed with @mark, which the caller uses to tell when the database
 * has all of its records */
void            em_store_journal_rotate    (EmStoreJournal      *self,
                                            guint64              mark);
/* whether a sealed file waits to be emptied, and its mark */
gboolean        em_store_journal_get_sealed (EmStoreJournal     *self,
                                             guint64            *out_mark);
/* empties the sealed file: everything in it is in the database */
gboolean        em_store_journal_release_sealed (EmStoreJournal *self,
                                                 GError        **error);
/* empties both files: everything in them is in the database */
gboolean        em_store_journal_truncate  (EmStoreJournal      *self,
                                            GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmStoreJournal, em_store_journal_free)

G_END_DECLS
