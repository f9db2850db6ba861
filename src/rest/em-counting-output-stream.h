#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* a pollable filter stream that counts the bytes its base stream accepted, so
 * the WebSocket hub can tell how much libsoup still holds for a client */
#define EM_TYPE_COUNTING_OUTPUT_STREAM (em_counting_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (EmCountingOutputStream, em_counting_output_stream,
                      EM, COUNTING_OUTPUT_STREAM, GFilterOutputStream)

GOutputStream *em_counting_output_stream_new         (GOutputStream          *base);
guint64        em_counting_output_stream_get_written (EmCountingOutputStream *self);

G_END_DECLS
