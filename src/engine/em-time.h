#pragma once

#include <glib.h>

G_BEGIN_DECLS

char      *em_time_format (GDateTime *time);
GDateTime *em_time_parse  (const char *text);
GDateTime *em_time_now    (void);

G_END_DECLS
