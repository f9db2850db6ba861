#include "config.h"

#include <string.h>

#include "engine/em-option-entries.h"

gboolean
em_option_entry_takes_value (const GOptionEntry *entry)
{
  if (entry->arg == G_OPTION_ARG_NONE)
    return FALSE;
  return entry->arg != G_OPTION_ARG_CALLBACK ||
         (entry->flags & (G_OPTION_FLAG_NO_ARG | G_OPTION_FLAG_OPTIONAL_ARG)) == 0;
}

const GOptionEntry *
em_option_entries_find_long (const GOptionEntry *entries,
                             const char         *name,
                             size_t              length)
{
  for (guint i = 0; entries != NULL && entries[i].long_name != NULL; i++)
    if (strlen (entries[i].long_name) == length && strncmp (name, entries[i].long_name, length) == 0)
      return &entries[i];
  return NULL;
}
