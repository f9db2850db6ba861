#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* how many characters of a client's text an error message quotes */
#define EM_CLIP_MAX_CHARS 80

/* @text as an error message may quote it: valid UTF-8, at most
 * EM_CLIP_MAX_CHARS characters, then "…" where it went on. A client can send
 * an id of megabytes; echoing it whole makes the error as large */
char *em_clip_for_message (const char *text);
/* a member name as an error's path quotes it: clipped, and “” when empty,
 * which would otherwise read as "parameters.: …" */
char *em_clip_member_name (const char *name);

G_END_DECLS
