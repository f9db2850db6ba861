#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Strict RFC 8259 JSON into a sealed json-glib tree, in one pass. It declines
 * (returns NULL) anything em_json_guard_check() would refuse, anything json-glib
 * might read differently, and anything malformed: the caller then takes the
 * guarded json-glib path, which explains the error. What it accepts gives the
 * same tree as json-glib, member order and number types included. */
JsonNode *em_json_reader_read (const char *data,
                               gsize       length,
                               guint       max_depth);

/* the value of four hexadecimal digits, or -1 */
int       em_json_hex4        (const char *p);

G_END_DECLS
