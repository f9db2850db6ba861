#pragma once

#include <glib.h>

#include "engine/em-task.h"

G_BEGIN_DECLS

/*
 * The final status of tasks that finished and left memory, for depends_on:
 * the most recent ones, up to a maximum. Older ones are in the store only
 * (em_engine_manager_look_up_dependencies_async()); what is read from there
 * for a task about to be made is pinned, beyond the maximum, until then.
 */
typedef struct _EmFinishedCache EmFinishedCache;

EmFinishedCache *em_finished_cache_new    (guint            max_size);
void             em_finished_cache_free   (EmFinishedCache *self);
/* forgets the oldest entry once past the maximum */
void             em_finished_cache_add    (EmFinishedCache *self,
                                           const char      *id,
                                           EmTaskStatus     status);
gboolean         em_finished_cache_lookup (EmFinishedCache *self,
                                           const char      *id,
                                           EmTaskStatus    *out_status);
void             em_finished_cache_remove (EmFinishedCache *self,
                                           const char      *id);
/* kept whatever the maximum until em_finished_cache_unpin_all() */
void             em_finished_cache_pin    (EmFinishedCache *self,
                                           const char      *id,
                                           EmTaskStatus     status);
/* the pinned ones become the newest ordinary entries */
void             em_finished_cache_unpin_all (EmFinishedCache *self);
guint            em_finished_cache_get_size     (EmFinishedCache *self);
guint            em_finished_cache_get_max_size (EmFinishedCache *self);
void             em_finished_cache_set_max_size (EmFinishedCache *self,
                                                 guint            max_size);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmFinishedCache, em_finished_cache_free)

G_END_DECLS
