#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* refuses, with a message naming the field, what json-glib 1.6 would crash on or
 * silently change: nesting deeper than @max_depth, integers outside int64,
 * non-finite numbers, invalid UTF-8 and NUL characters */
gboolean  em_json_guard_check (const char  *data,
                               gsize        length,
                               guint        max_depth,
                               GError     **error);
/* em_json_guard_check() and then json-glib; errors are EM_ERROR_INVALID_ARGUMENT */
JsonNode *em_json_guard_parse (const char  *data,
                               gsize        length,
                               guint        max_depth,
                               GError     **error);

G_END_DECLS
