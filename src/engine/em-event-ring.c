#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include "engine/em-event-ring.h"

struct _EmEventRing
{
  GBytes  **slots;
  guint     capacity;
  guint     length;
  guint64   oldest;
  gsize     bytes;
  gsize     max_bytes;
};

EmEventRing *
em_event_ring_new (guint capacity,
                   gsize max_bytes)
{
  EmEventRing *self = g_new0 (EmEventRing, 1);

  self->capacity = MAX (capacity, 1);
  self->max_bytes = max_bytes;
  self->slots = g_new0 (GBytes *, self->capacity);
  return self;
}

static void
clear (EmEventRing *self)
{
  for (guint i = 0; i < self->capacity; i++)
    g_clear_pointer (&self->slots[i], g_bytes_unref);
  self->length = 0;
  self->oldest = 0;
  self->bytes = 0;
}

static void
drop_oldest (EmEventRing *self)
{
  GBytes **slot = &self->slots[self->oldest % self->capacity];

  self->bytes -= g_bytes_get_size (*slot);
  g_clear_pointer (slot, g_bytes_unref);
  self->oldest++;
  self->length--;
}

void
em_event_ring_free (EmEventRing *self)
{
  if (self == NULL)
    return;
  clear (self);
  g_free (self->slots);
  g_free (self);
}

void
em_event_ring_push (EmEventRing *self, guint64 seq, GBytes *json)
{
  GBytes **slot;

  if (self->length > 0 && seq != self->oldest + self->length)
    clear (self);
  if (self->length == self->capacity)
    drop_oldest (self);
  /* large events (a task_completed carries the task's result) go sooner:
   * the newest always stays */
  while (self->length > 0 && self->bytes + g_bytes_get_size (json) > self->max_bytes)
    drop_oldest (self);
  if (self->length == 0)
    self->oldest = seq;
  slot = &self->slots[seq % self->capacity];
  self->length++;
  self->bytes += g_bytes_get_size (json);
  *slot = g_bytes_ref (json);
}

guint64
em_event_ring_get_oldest (EmEventRing *self)
{
  return self->length > 0 ? self->oldest : 0;
}

gboolean
em_event_ring_read (EmEventRing *self,
                    guint64      after_seq,
                    guint64      up_to_seq,
                    guint        limit,
                    GPtrArray   *out)
{
  guint64 newest = MIN (self->oldest + self->length - 1, up_to_seq);
  guint n = 0;

  if (self->length == 0 || after_seq + 1 < self->oldest)
    return FALSE;
  for (guint64 seq = after_seq + 1; seq <= newest && (limit == 0 || n < limit); seq++, n++)
    g_ptr_array_add (out, g_bytes_ref (self->slots[seq % self->capacity]));
  return TRUE;
}
