#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Many small allocations made on one thread and freed all at once, one free()
 * per chunk, on any thread. The rows the main loop hands to the store's threads
 * come from one per write: freed one by one over there, each free() took the
 * main thread's malloc arena lock, and the main loop slept on that lock
 * thousands of times a second.
 */
typedef struct _EmArena EmArena;

EmArena  *em_arena_new     (void);
/* aligned for any type, not zeroed */
gpointer  em_arena_alloc   (EmArena       *self,
                            gsize          size);
gpointer  em_arena_alloc0  (EmArena       *self,
                            gsize          size);
gpointer  em_arena_memdup  (EmArena       *self,
                            gconstpointer  data,
                            gsize          size);
/* NULL for NULL */
char     *em_arena_strdup  (EmArena       *self,
                            const char    *text);
/* NULL for NULL or an empty list, which read alike */
char    **em_arena_strdupv (EmArena       *self,
                            char         **strv);
void      em_arena_free    (EmArena       *self);

#define em_arena_new0(arena, type) ((type *) em_arena_alloc0 ((arena), sizeof (type)))

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmArena, em_arena_free)

G_END_DECLS
