#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* RFC 8259 JSON, and nothing else, into a sealed json-glib tree in one pass.
 * Beyond the grammar it refuses what json-glib would keep in a changed form:
 * nesting deeper than @max_depth, integers outside int64, non-finite numbers,
 * NUL characters, lone UTF-16 surrogates and repeated member names. Errors are
 * EM_ERROR_INVALID_ARGUMENT and start with the member or element where the body
 * goes wrong (e.g. "parameters.x", "[2]", or "body"); syntax errors also give the
 * byte offset. What it accepts gives the same tree as json-glib, member order and
 * number types included. */
JsonNode *em_json_reader_read (const char  *data,
                               gsize        length,
                               guint        max_depth,
                               GError     **error);

G_END_DECLS
