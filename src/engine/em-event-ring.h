#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The most recent events as their exact JSON frames, indexed by seq, so a
 * client that reconnects quickly catches up without touching the database.
 * Main context only.
 */
typedef struct _EmEventRing EmEventRing;

/* at most @capacity events and, but for the newest, @max_bytes of them */
EmEventRing *em_event_ring_new        (guint        capacity,
                                       gsize        max_bytes);
void         em_event_ring_free       (EmEventRing *self);
/* seqs are contiguous; a jump (never expected) starts the ring afresh */
void         em_event_ring_push       (EmEventRing *self,
                                       guint64      seq,
                                       GBytes      *json);
/* 0 when empty */
guint64      em_event_ring_get_oldest (EmEventRing *self);
/* adds (element-type GBytes) the events after @after_seq, up to @up_to_seq, to
 * @out, at most @limit (0: all); FALSE, adding nothing, when the ring does not
 * hold seq after_seq + 1 and later */
gboolean     em_event_ring_read       (EmEventRing *self,
                                       guint64      after_seq,
                                       guint64      up_to_seq,
                                       guint        limit,
                                       GPtrArray   *out);

G_END_DECLS
