#include "config.h"

#include <string.h>

#include "engine/em-finished-cache.h"

typedef struct {
  GList         link;      /* in @order; data is the entry itself */
  EmTaskStatus  status;
  char          id[];
} Entry;

struct _EmFinishedCache
{
  GHashTable *by_id;        /* id (the entry's) → Entry */
  GQueue      order;        /* oldest first */
  guint       max_size;
  GHashTable *pinned;       /* id → GINT_TO_POINTER (EmTaskStatus) */
};

EmFinishedCache *
em_finished_cache_new (guint max_size)
{
  EmFinishedCache *self = g_new0 (EmFinishedCache, 1);

  /* the entries are freed through @order, the table only points at them */
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->pinned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&self->order);
  self->max_size = max_size;
  return self;
}

static void
drop (EmFinishedCache *self, Entry *entry)
{
  g_hash_table_remove (self->by_id, entry->id);
  g_queue_unlink (&self->order, &entry->link);
  g_free (entry);
}

static void
trim (EmFinishedCache *self)
{
  while (self->order.length > self->max_size)
    drop (self, self->order.head->data);
}

void
em_finished_cache_free (EmFinishedCache *self)
{
  if (self == NULL)
    return;
  self->max_size = 0;
  trim (self);
  g_hash_table_unref (self->by_id);
  g_hash_table_unref (self->pinned);
  g_free (self);
}

void
em_finished_cache_add (EmFinishedCache *self, const char *id, EmTaskStatus status)
{
  Entry *entry = g_hash_table_lookup (self->by_id, id);
  gsize length;

  if (entry != NULL)
    drop (self, entry);
  if (self->max_size == 0)
    return;

  /* one allocation per entry, the id in it */
  length = strlen (id);
  entry = g_malloc0 (sizeof *entry + length + 1);
  memcpy (entry->id, id, length + 1);
  entry->status = status;
  entry->link.data = entry;
  g_queue_push_tail_link (&self->order, &entry->link);
  g_hash_table_insert (self->by_id, entry->id, entry);
  trim (self);
}

gboolean
em_finished_cache_lookup (EmFinishedCache *self, const char *id, EmTaskStatus *out_status)
{
  Entry *entry = g_hash_table_lookup (self->by_id, id);
  gpointer pinned = NULL;

  if (entry != NULL)
    {
      if (out_status != NULL)
        *out_status = entry->status;
      return TRUE;
    }
  if (!g_hash_table_lookup_extended (self->pinned, id, NULL, &pinned))
    return FALSE;
  if (out_status != NULL)
    *out_status = GPOINTER_TO_INT (pinned);
  return TRUE;
}

void
em_finished_cache_remove (EmFinishedCache *self, const char *id)
{
  Entry *entry = g_hash_table_lookup (self->by_id, id);

  g_hash_table_remove (self->pinned, id);
  if (entry != NULL)
    drop (self, entry);
}

void
em_finished_cache_pin (EmFinishedCache *self, const char *id, EmTaskStatus status)
{
  g_hash_table_insert (self->pinned, g_strdup (id), GINT_TO_POINTER (status));
}

void
em_finished_cache_unpin_all (EmFinishedCache *self)
{
  GHashTableIter iter;
  gpointer id, status;

  g_hash_table_iter_init (&iter, self->pinned);
  while (g_hash_table_iter_next (&iter, &id, &status))
    em_finished_cache_add (self, id, GPOINTER_TO_INT (status));
  g_hash_table_remove_all (self->pinned);
}

guint
em_finished_cache_get_size (EmFinishedCache *self)
{
  return self->order.length;
}

guint
em_finished_cache_get_max_size (EmFinishedCache *self)
{
  return self->max_size;
}

void
em_finished_cache_set_max_size (EmFinishedCache *self, guint max_size)
{
  self->max_size = max_size;
  trim (self);
}
