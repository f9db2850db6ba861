#pragma once

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/*
 * The engine's events, each passed on once it is on disk: a client that resumes
 * from the last seq it saw, even after a crash of the service, finds that seq
 * and everything before it in the record, and nothing after it that it missed.
 * Events wait in order for the store's journal, which they are asked into at
 * once (tens of microseconds), not at the next timed flush. Without a store
 * they go on at once. Once the store cannot record them, they are dropped
 * and overflow is called: nobody sees a seq that a restart could give to
 * another event. Main context only.
 */
typedef struct _EmDurableFeed EmDurableFeed;

typedef struct {
  /* an event, in seq order, once it is durable */
  void     (*deliver)  (EmEvent *event, gpointer user_data);
  /* whether anyone takes events now; while not, nothing is held */
  gboolean (*wanted)   (gpointer user_data);
  /* more than max_held_bytes of frames wait for the store, or the store
   * cannot record them: they are dropped */
  void     (*overflow) (gpointer user_data);
} EmDurableFeedFuncs;

EmDurableFeed *em_durable_feed_new  (EmEngineManager          *manager,
                                     guint64                   max_held_bytes,
                                     const EmDurableFeedFuncs *funcs,
                                     gpointer                  user_data);
void           em_durable_feed_free (EmDurableFeed            *self);
void           em_durable_feed_set_max_held_bytes (EmDurableFeed *self,
                                                   guint64        max_held_bytes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmDurableFeed, em_durable_feed_free)

G_END_DECLS
