#include "config.h"

#include <string.h>

#include "engine/em-deleted-serials.h"

typedef struct {
  GList   link;      /* in `order`; data is the entry itself */
  guint64 serial;
  char    id[];
} DeletedTask;

struct _EmDeletedSerials
{
  GHashTable *by_id;   /* id → DeletedTask, keys owned by the values */
  GQueue      order;   /* oldest deletion first, owns the entries */
  guint       max_size;
};

EmDeletedSerials *
em_deleted_serials_new (guint max_size)
{
  EmDeletedSerials *self = g_new0 (EmDeletedSerials, 1);

  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->max_size = max_size;
  return self;
}

void
em_deleted_serials_free (EmDeletedSerials *self)
{
  GList *link;

  if (self == NULL)
    return;
  g_hash_table_unref (self->by_id);
  while ((link = g_queue_pop_head_link (&self->order)) != NULL)
    g_free (link->data);
  g_free (self);
}

void
em_deleted_serials_add (EmDeletedSerials *self, const char *id, guint64 serial)
{
  gsize length = strlen (id);
  DeletedTask *task;

  if (g_hash_table_contains (self->by_id, id))
    return;
  task = g_malloc0 (sizeof *task + length + 1);
  memcpy (task->id, id, length + 1);
  task->serial = serial;
  task->link.data = task;
  g_queue_push_tail_link (&self->order, &task->link);
  g_hash_table_insert (self->by_id, task->id, task);
  while (self->order.length > self->max_size)
    {
      DeletedTask *oldest = g_queue_pop_head_link (&self->order)->data;

      g_hash_table_remove (self->by_id, oldest->id);
      g_free (oldest);
    }
}

gboolean
em_deleted_serials_lookup (EmDeletedSerials *self, const char *id, guint64 *out_serial)
{
  DeletedTask *task = g_hash_table_lookup (self->by_id, id);

  if (task == NULL)
    return FALSE;
  if (out_serial != NULL)
    *out_serial = task->serial;
  return TRUE;
}

guint
em_deleted_serials_get_size (EmDeletedSerials *self)
{
  return self->order.length;
}
