#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * Writes JSON text straight into a GString, in json-glib's own compact form
 * (json_to_string (node, FALSE)), for the objects the engine serializes on every
 * state change: a JsonBuilder costs several times more. Doubles differ: they
 * take the fewest digits that read back the same (0.3, where json-glib writes
 * 0.29999999999999999).
 */

/* a separating comma unless @out holds only the opening brace, then "key":
 * (@key is one of the engine's ASCII names and is not escaped) */
void em_json_write_key    (GString    *out,
                           const char *key);
/* @text: (nullable): null when NULL */
void em_json_write_string (GString    *out,
                           const char *text);
void em_json_write_double (GString    *out,
                           gdouble     value);
/* @value in the fewest digits that read back as it, in @buffer ("0.3", "2",
 * "1e+21"): for messages; JSON needs em_json_write_double()'s "2.0" */
const char *em_json_format_double (char    buffer[G_ASCII_DTOSTR_BUF_SIZE],
                                   gdouble value);
void em_json_write_int64  (GString    *out,
                           gint64      value);
void em_json_write_uint64 (GString    *out,
                           guint64     value);
/* @time: (nullable): em_time_format()'s form, or null */
void em_json_write_time   (GString    *out,
                           GDateTime  *time);
/* em_time_format(), faster: (nullable) when @time is NULL */
char *em_json_format_time (GDateTime  *time);
/* the same text and its NUL into @buffer */
#define EM_JSON_TIME_SIZE 28
void  em_json_format_time_into (GDateTime *time,
                                char       buffer[EM_JSON_TIME_SIZE]);
/* the same from µs since the epoch (UTC), for a time copied off its GDateTime */
void  em_json_write_time_us    (GString   *out,
                                gint64     time_us);
void  em_json_format_time_us_into (gint64  time_us,
                                   char    buffer[EM_JSON_TIME_SIZE]);
/* @object: (nullable) */
void em_json_write_object (GString    *out,
                           JsonObject *object);
/* @node: (nullable): any value, null when NULL */
void em_json_write_node   (GString    *out,
                           JsonNode   *node);
void em_json_write_node_pretty (GString  *out,
                                JsonNode *node);
void em_json_write_strv   (GString    *out,
                           char      **strv);

/* the text of @out, which is freed, with its length in @length. GString
 * doubles its buffer as it grows, and text a little over a power of two sat in
 * twice its size for as long as it was kept (a result or its task_completed
 * frame, in a finished task and the event ring): past a page to spare, the
 * buffer is cut to the text */
char   *em_json_text_free (GString *out,
                           gsize   *length);
GBytes *em_json_text_free_to_bytes (GString *out);

G_END_DECLS
