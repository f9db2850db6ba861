#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * EmCoalescingOutputStream:
 *
 * A pollable filter stream that gathers what is written during one iteration
 * of the main context it was created in, and hands it to its base stream in
 * one write: fanning an event out to many WebSocket clients then costs one
 * send per client per iteration rather than one per frame. It counts the bytes
 * its base stream took and those still waiting, so the hub can tell how much a
 * client has not received.
 *
 * A base stream that takes only part of the buffer is waited on; writes are
 * refused (%G_IO_ERROR_WOULD_BLOCK) only once @max_buffered bytes wait. Closing
 * never blocks on a peer that does not read: it waits a little for the peer to
 * take what is left, then drops it.
 */
#define EM_TYPE_COALESCING_OUTPUT_STREAM (em_coalescing_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (EmCoalescingOutputStream, em_coalescing_output_stream,
                      EM, COALESCING_OUTPUT_STREAM, GFilterOutputStream)

GOutputStream *em_coalescing_output_stream_new               (GOutputStream            *base,
                                                              gsize                     max_buffered);
/* bytes the base stream took */
guint64        em_coalescing_output_stream_get_written       (EmCoalescingOutputStream *self);
/* bytes written to the stream that the base stream did not take yet */
gsize          em_coalescing_output_stream_get_buffered      (EmCoalescingOutputStream *self);
/* hands the base stream now, without blocking, what it takes */
void           em_coalescing_output_stream_flush_nonblocking (EmCoalescingOutputStream *self);
/* drops what the base stream did not take, in whole write calls: one it took
 * part of is kept to its end, so the peer never sees a cut frame; returns the
 * number of bytes dropped */
gsize          em_coalescing_output_stream_discard_unsent    (EmCoalescingOutputStream *self);
/* accepts and drops everything written from now on (what is buffered still
 * goes out): the peer has had the last frame it is to get */
void           em_coalescing_output_stream_seal              (EmCoalescingOutputStream *self);

G_END_DECLS
