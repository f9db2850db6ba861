#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* GOption entries as the daemon's and enginectl's own command-line checks
 * read them, before GOption parses anything */

/* whether @entry takes a value (the next argument, or after '=') */
gboolean            em_option_entry_takes_value (const GOptionEntry *entry);
/* the entry of @entries (nullable) whose long name is the @length bytes at
 * @name, or NULL */
const GOptionEntry *em_option_entries_find_long (const GOptionEntry *entries,
                                                 const char         *name,
                                                 size_t              length);

G_END_DECLS
