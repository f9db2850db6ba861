#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* a random (version 4) UUID in canonical lowercase form, as
 * g_uuid_string_random() gives it, without its printf */
char *em_uuid_string_random (void);

G_END_DECLS
