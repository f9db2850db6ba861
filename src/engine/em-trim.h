#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Large results freed go back to malloc's free lists, not to the system:
 * hundreds of MiB stayed resident after a burst of them had been written and
 * evicted. Past EM_TRIM_MIN_BYTES freed, a short-lived thread returns the
 * free pages (malloc_trim()), which takes every malloc arena's lock in turn:
 * never on the main loop. Any thread.
 */
#define EM_TRIM_MIN_BYTES ((gsize) 32 * 1024 * 1024)
/* only blocks this large count: malloc reuses small ones as they come, and a
 * trim after every 32 MiB of small tasks would cost the busiest loads most */
#define EM_TRIM_LARGE_BYTES ((gsize) 64 * 1024)

/* @bytes: of blocks of EM_TRIM_LARGE_BYTES or more, just freed */
void em_trim_note_freed (gsize bytes);

G_END_DECLS
