#include "config.h"

#include "engine/em-clip.h"

char *
em_clip_for_message (const char *text)
{
  const char *end = text;
  g_autofree char *valid = NULL;

  g_return_val_if_fail (text != NULL, NULL);

  /* find_next_char only looks at lead bytes, so invalid UTF-8 cannot take
   * it past the terminating nul; make_valid then replaces what is invalid */
  for (guint n = 0; n < EM_CLIP_MAX_CHARS && *end != '\0'; n++)
    end = g_utf8_find_next_char (end, NULL);
  valid = g_utf8_make_valid (text, end - text);
  if (*end == '\0')
    return g_steal_pointer (&valid);
  return g_strconcat (valid, "…", NULL);
}

char *
em_clip_member_name (const char *name)
{
  g_return_val_if_fail (name != NULL, NULL);

  if (*name == '\0')
    return g_strdup ("“”");
  return em_clip_for_message (name);
}
