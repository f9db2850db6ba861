#define G_LOG_DOMAIN "em-store"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "engine/em-error.h"
#include "engine/em-store-journal.h"

/*
 * A record: "EMJ2", the payload's length and its CRC-32, all little-endian
 * 32-bit, then the payload: the write's number (64-bit), the task count, the
 * event count, the task rows, the event rows. A string is its length
 * (G_MAXUINT32 for NULL), its bytes and a NUL, so that replay can point into
 * the buffer. "EMJ1" records, from before writes were numbered, lack the number.
 */
#define RECORD_MAGIC  0x324a4d45u
#define RECORD_MAGIC_UNNUMBERED 0x314a4d45u
#define HEADER_SIZE   12
#define NULL_STRING   G_MAXUINT32

/* two files: appends go to the active one; once it is full the other, empty,
 * takes over, and the full one is emptied when the caller has all it holds */
typedef struct {
  char    *path;
  int      fd;
  gsize    size;
} Segment;

struct _EmStoreJournal
{
  Segment   segments[2];
  guint     active;
  gboolean  sealed;         /* the other segment holds records not yet released */
  guint64   sealed_mark;
};

/* CRC-32 (IEEE 802.3) */
static guint32
crc32_of (const guint8 *data, gsize length)
{
  uLong crc = crc32 (0L, Z_NULL, 0);

  /* zlib takes lengths as uInt */
  while (length > 0)
    {
      uInt chunk = (uInt) MIN (length, G_MAXUINT32);

      crc = crc32 (crc, data, chunk);
      data += chunk;
      length -= chunk;
    }
  return (guint32) crc;
}

char *
em_store_journal_path_for (const char *db_path)
{
  if (g_str_has_suffix (db_path, ".db"))
    {
      g_autofree char *stem = g_strndup (db_path, strlen (db_path) - 3);

      return g_strconcat (stem, ".journal", NULL);
    }
  return g_strconcat (db_path, ".journal", NULL);
}

static void
set_io_error (GError **error, const char *path, int saved_errno)
{
  g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
               _("Cannot write the task journal “%s”: %s"), path, g_strerror (saved_errno));
}

char *
em_store_journal_second_path (const char *path)
{
  return g_strconcat (path, ".1", NULL);
}

static gboolean
segment_open (Segment *segment, char *path, GError **error)
{
  struct stat st;

  segment->path = path;
  /* as the data directory's images: the group may read, no one else */
  segment->fd = g_open (path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (segment->fd < 0 || fstat (segment->fd, &st) != 0)
    {
      set_io_error (error, path, errno);
      return FALSE;
    }
  segment->size = (gsize) st.st_size;
  return TRUE;
}

EmStoreJournal *
em_store_journal_open (const char *path, GError **error)
{
  EmStoreJournal *self = g_new0 (EmStoreJournal, 1);

  self->segments[0].fd = self->segments[1].fd = -1;
  if (!segment_open (&self->segments[0], g_strdup (path), error) ||
      !segment_open (&self->segments[1], em_store_journal_second_path (path), error))
    {
      em_store_journal_free (self);
      return NULL;
    }
  return self;
}

void
em_store_journal_free (EmStoreJournal *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (self->segments); i++)
    {
      if (self->segments[i].fd >= 0)
        close (self->segments[i].fd);
      g_free (self->segments[i].path);
    }
  g_free (self);
}

const char *
em_store_journal_get_path (EmStoreJournal *self)
{
  return self->segments[0].path;
}

gsize
em_store_journal_get_size (EmStoreJournal *self)
{
  return self->segments[0].size + self->segments[1].size;
}

gsize
em_store_journal_get_active_size (EmStoreJournal *self)
{
  return self->segments[self->active].size;
}

/* --- encoding --- */

static gsize
string_size (const char *text)
{
  return 4 + (text != NULL ? strlen (text) + 1 : 0);
}

static guint8 *
put_u32 (guint8 *p, guint32 value)
{
  guint32 le = GUINT32_TO_LE (value);

  memcpy (p, &le, 4);
  return p + 4;
}

static guint8 *
put_u64 (guint8 *p, guint64 value)
{
  guint64 le = GUINT64_TO_LE (value);

  memcpy (p, &le, 8);
  return p + 8;
}

static guint8 *
put_bytes (guint8 *p, const char *text, gsize length)
{
  p = put_u32 (p, (guint32) length);
  memcpy (p, text, length);
  p[length] = '\0';
  return p + length + 1;
}

static guint8 *
put_string (guint8 *p, const char *text)
{
  return text != NULL ? put_bytes (p, text, strlen (text)) : put_u32 (p, NULL_STRING);
}

void
em_store_journal_encode (GByteArray *out, guint64 write_no, GPtrArray *tasks, GPtrArray *events)
{
  guint n_tasks = tasks != NULL ? tasks->len : 0;
  guint n_events = events != NULL ? events->len : 0;
  gsize size = 8 + 8, start = out->len;
  guint8 *payload, *p;

  /* sized first, so the record is one allocation and straight copies */
  for (guint i = 0; i < n_tasks; i++)
    {
      EmStoreTaskRow *row = g_ptr_array_index (tasks, i);

      size += string_size (row->id) + string_size (row->status) + string_size (row->action) +
              string_size (row->created_at) + string_size (row->json) + 8 * 4 + 4;
    }
  for (guint i = 0; i < n_events; i++)
    {
      EmStoreEventRow *row = g_ptr_array_index (events, i);

      size += 8 + string_size (row->type) + string_size (row->task_id) + 8 +
              4 + row->json_length + 1;
    }
  g_byte_array_set_size (out, start + HEADER_SIZE + size);
  payload = p = out->data + start + HEADER_SIZE;

  p = put_u64 (p, write_no);
  p = put_u32 (p, n_tasks);
  p = put_u32 (p, n_events);
  for (guint i = 0; i < n_tasks; i++)
    {
      EmStoreTaskRow *row = g_ptr_array_index (tasks, i);

      p = put_string (p, row->id);
      p = put_u64 (p, row->serial);
      p = put_string (p, row->status);
      p = put_string (p, row->action);
      p = put_string (p, row->created_at);
      p = put_u64 (p, (guint64) row->created_us);
      p = put_u64 (p, (guint64) row->finished_us);
      p = put_u32 (p, row->batch_state);
      p = put_u64 (p, row->scheduled_seq);
      p = put_string (p, row->json);
    }
  for (guint i = 0; i < n_events; i++)
    {
      EmStoreEventRow *row = g_ptr_array_index (events, i);

      p = put_u64 (p, row->seq);
      p = put_string (p, row->type);
      p = put_string (p, row->task_id);
      p = put_u64 (p, (guint64) row->timestamp_us);
      p = put_bytes (p, row->json != NULL ? row->json : "", row->json_length);
    }
  g_assert ((gsize) (p - payload) == size);

  p = out->data + start;
  p = put_u32 (p, RECORD_MAGIC);
  p = put_u32 (p, (guint32) size);
  put_u32 (p, crc32_of (payload, size));
}

/* --- decoding --- */

typedef struct {
  const guint8 *p;
  const guint8 *end;
  gboolean      ok;
} Reader;

/* the next @size bytes into @out, or zeros and the reader marked bad */
static void
take (Reader *r, void *out, gsize size)
{
  if (!r->ok || (gsize) (r->end - r->p) < size)
    {
      r->ok = FALSE;
      memset (out, 0, size);
      return;
    }
  memcpy (out, r->p, size);
  r->p += size;
}

static guint32
get_u32 (Reader *r)
{
  guint32 le;

  take (r, &le, sizeof le);
  return GUINT32_FROM_LE (le);
}

static guint64
get_u64 (Reader *r)
{
  guint64 le;

  take (r, &le, sizeof le);
  return GUINT64_FROM_LE (le);
}

/* a pointer into the record, NUL-terminated; NULL for a null string */
static const char *
get_string (Reader *r, gsize *out_length)
{
  guint32 length = get_u32 (r);
  const char *text;

  if (!r->ok || length == NULL_STRING)
    return NULL;
  if ((gsize) (r->end - r->p) < (gsize) length + 1 || r->p[length] != '\0')
    {
      r->ok = FALSE;
      return NULL;
    }
  text = (const char *) r->p;
  r->p += (gsize) length + 1;
  if (out_length != NULL)
    *out_length = length;
  return text;
}

/* rows that point into the record: only the structs are freed */
static gboolean
decode_record (const guint8 *payload,
               gsize         length,
               gboolean      numbered,
               guint64      *out_write_no,
               GPtrArray    *tasks,
               GPtrArray    *events)
{
  Reader r = { payload, payload + length, TRUE };
  guint64 write_no = numbered ? get_u64 (&r) : 0;
  guint32 n_tasks = get_u32 (&r);
  guint32 n_events = get_u32 (&r);

  *out_write_no = write_no;
  for (guint32 i = 0; r.ok && i < n_tasks; i++)
    {
      EmStoreTaskRow *row = g_new0 (EmStoreTaskRow, 1);

      g_ptr_array_add (tasks, row);
      row->id = (char *) get_string (&r, NULL);
      row->serial = get_u64 (&r);
      row->status = get_string (&r, NULL);
      row->action = (char *) get_string (&r, NULL);
      row->created_at = (char *) get_string (&r, NULL);
      row->created_us = (gint64) get_u64 (&r);
      row->finished_us = (gint64) get_u64 (&r);
      row->batch_state = get_u32 (&r);
      row->scheduled_seq = get_u64 (&r);
      row->json = (char *) get_string (&r, NULL);
      r.ok = r.ok && row->id != NULL && row->status != NULL && row->action != NULL &&
             row->created_at != NULL && row->json != NULL;
    }
  for (guint32 i = 0; r.ok && i < n_events; i++)
    {
      EmStoreEventRow *row = g_new0 (EmStoreEventRow, 1);
      const char *json;
      gsize size = 0;

      g_ptr_array_add (events, row);
      row->seq = get_u64 (&r);
      row->type = get_string (&r, NULL);
      row->task_id = (char *) get_string (&r, NULL);
      row->timestamp_us = (gint64) get_u64 (&r);
      json = get_string (&r, &size);
      row->json = json != NULL ? json : "";
      row->json_length = size;
      r.ok = r.ok && row->type != NULL && json != NULL;
    }
  return r.ok && r.p == r.end;
}

/* whether an intact record starts anywhere after @offset: a write cut short
 * is always the last thing in the file, so damage with records after it is not
 * that */
static gboolean
intact_record_after (const guint8 *contents, gsize length, gsize offset)
{
  for (gsize at = offset + 1; at + HEADER_SIZE <= length; at++)
    {
      guint32 header[3];
      guint32 magic, size;

      memcpy (header, contents + at, HEADER_SIZE);
      magic = GUINT32_FROM_LE (header[0]);
      size = GUINT32_FROM_LE (header[1]);
      if ((magic == RECORD_MAGIC || magic == RECORD_MAGIC_UNNUMBERED) &&
          size <= length - at - HEADER_SIZE &&
          crc32_of (contents + at + HEADER_SIZE, size) == GUINT32_FROM_LE (header[2]))
        return TRUE;
    }
  return FALSE;
}

static gboolean
read_segment (Segment *segment, guint8 **out_contents, gsize *out_length, GError **error)
{
  g_autoptr(GError) read_error = NULL;

  if (!g_file_get_contents (segment->path, (char **) out_contents, out_length, &read_error))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("Cannot read the task journal “%s”: %s"), segment->path, read_error->message);
      return FALSE;
    }
  return TRUE;
}

/* what orders the two files: the number of the first record; 0 for an
 * unnumbered one, older than any numbered; G_MAXUINT64 when it is not intact,
 * since a write cut short is the last one written */
static guint64
order_key (const guint8 *contents, gsize length)
{
  guint32 header[3];
  guint32 magic, size;
  guint64 write_no;

  if (length < HEADER_SIZE)
    return G_MAXUINT64;
  memcpy (header, contents, HEADER_SIZE);
  magic = GUINT32_FROM_LE (header[0]);
  size = GUINT32_FROM_LE (header[1]);
  if ((magic != RECORD_MAGIC && magic != RECORD_MAGIC_UNNUMBERED) ||
      size > length - HEADER_SIZE ||
      crc32_of (contents + HEADER_SIZE, size) != GUINT32_FROM_LE (header[2]))
    return G_MAXUINT64;
  if (magic == RECORD_MAGIC_UNNUMBERED)
    return 0;
  if (size < 8)
    return G_MAXUINT64;
  memcpy (&write_no, contents + HEADER_SIZE, 8);
  return GUINT64_FROM_LE (write_no);
}

/* @out_torn: the file ended in a record cut short */
static gboolean
replay_segment (Segment             *segment,
                const guint8        *contents,
                gsize                length,
                EmStoreJournalFunc   func,
                gpointer             user_data,
                gboolean            *out_torn,
                GError             **error)
{
  gsize offset = 0;

  while (length - offset >= HEADER_SIZE)
    {
      guint32 header[3];
      g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func (g_free);
      guint32 size, magic;
      guint64 write_no = 0;

      memcpy (header, contents + offset, HEADER_SIZE);
      magic = GUINT32_FROM_LE (header[0]);
      size = GUINT32_FROM_LE (header[1]);
      if ((magic != RECORD_MAGIC && magic != RECORD_MAGIC_UNNUMBERED) ||
          size > length - offset - HEADER_SIZE ||
          crc32_of (contents + offset + HEADER_SIZE, size) != GUINT32_FROM_LE (header[2]) ||
          !decode_record (contents + offset + HEADER_SIZE, size, magic == RECORD_MAGIC,
                          &write_no, tasks, events))
        break;
      if (!func (write_no, tasks, events, user_data, error))
        return FALSE;
      offset += HEADER_SIZE + size;
    }

  if (offset < length && intact_record_after (contents, length, offset))
    {
      /* what follows was acknowledged: dropping it would lose it silently */
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("The task journal “%s” is damaged at byte %lu, with intact writes after it; "
                     "move it aside to start without them"),
                   segment->path, (gulong) offset);
      return FALSE;
    }
  *out_torn = offset < length;
  if (offset < length)
    g_warning (_("Ignored the last %lu bytes of the task journal “%s”: "
                 "a write cut short, never acknowledged"), (gulong) (length - offset), segment->path);
  return TRUE;
}

gboolean
em_store_journal_replay (EmStoreJournal      *self,
                         EmStoreJournalFunc   func,
                         gpointer             user_data,
                         GError             **error)
{
  g_autofree guint8 *first = NULL;
  g_autofree guint8 *second = NULL;
  const guint8 *contents[2];
  gsize length[2] = { 0, 0 };
  guint order[2] = { 0, 1 };
  gboolean torn = FALSE;

  if (!read_segment (&self->segments[0], &first, &length[0], error) ||
      !read_segment (&self->segments[1], &second, &length[1], error))
    return FALSE;
  contents[0] = first;
  contents[1] = second;
  /* the older file first */
  if (length[1] > 0 &&
      (length[0] == 0 || order_key (contents[1], length[1]) < order_key (contents[0], length[0])))
    {
      order[0] = 1;
      order[1] = 0;
    }
  for (guint i = 0; i < 2; i++)
    {
      guint at = order[i];

      if (length[at] == 0)
        continue;
      /* a write cut short is the last thing written: not with records after it */
      if (torn)
        {
          g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                       _("The task journal “%s” ends in a damaged write, and “%s” has later "
                         "ones; move them aside to start without them"),
                       self->segments[order[0]].path, self->segments[at].path);
          return FALSE;
        }
      if (!replay_segment (&self->segments[at], contents[at], length[at], func, user_data,
                           &torn, error))
        return FALSE;
    }
  return TRUE;
}

/* --- writing --- */

gboolean
em_store_journal_append (EmStoreJournal *self, const guint8 *data, gsize length, GError **error)
{
  Segment *segment = &self->segments[self->active];
  gsize written = 0;

  while (written < length)
    {
      gssize n = write (segment->fd, data + written, length - written);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved_errno = n < 0 ? errno : ENOSPC;

          /* best effort: no torn record stays behind for the next append */
          if (ftruncate (segment->fd, (off_t) segment->size) != 0)
            g_debug ("could not cut %s back: %s", segment->path, g_strerror (errno));
          set_io_error (error, segment->path, saved_errno);
          return FALSE;
        }
      written += (gsize) n;
    }
  segment->size += length;
  return TRUE;
}

gboolean
em_store_journal_get_sealed (EmStoreJournal *self, guint64 *out_mark)
{
  if (self->sealed)
    *out_mark = self->sealed_mark;
  return self->sealed;
}

void
em_store_journal_rotate (EmStoreJournal *self, guint64 mark)
{
  g_return_if_fail (!self->sealed);
  g_return_if_fail (self->segments[1 - self->active].size == 0);

  self->sealed = TRUE;
  self->sealed_mark = mark;
  self->active = 1 - self->active;
}

static gboolean
segment_truncate (Segment *segment, GError **error)
{
  if (ftruncate (segment->fd, 0) != 0)
    {
      set_io_error (error, segment->path, errno);
      return FALSE;
    }
  segment->size = 0;
  return TRUE;
}

gboolean
em_store_journal_release_sealed (EmStoreJournal *self, GError **error)
{
  g_return_val_if_fail (self->sealed, FALSE);

  if (!segment_truncate (&self->segments[1 - self->active], error))
    return FALSE;
  self->sealed = FALSE;
  return TRUE;
}

gboolean
em_store_journal_truncate (EmStoreJournal *self, GError **error)
{
  if (!segment_truncate (&self->segments[0], error) ||
      !segment_truncate (&self->segments[1], error))
    return FALSE;
  self->sealed = FALSE;
  self->active = 0;
  return TRUE;
}
