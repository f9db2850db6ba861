#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* a request body: JSON as em_json_reader_read() takes it, and not empty;
 * errors are EM_ERROR_INVALID_ARGUMENT and name the field, or the byte offset */
JsonNode *em_json_guard_parse (const char  *data,
                               gsize        length,
                               guint        max_depth,
                               GError     **error);

G_END_DECLS
