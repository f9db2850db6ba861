#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * EmMessageLimitInputStream:
 *
 * A pollable filter over what a WebSocket client sends (RFC 6455 frames). It
 * follows the frame headers in the bytes it passes on, so that a message is
 * bounded as a whole: libsoup 3.2 checks each frame against its limit, never
 * the message the fragments add up to, and closes on an oversized frame
 * without a close frame.
 *
 * A frame that would take its message (or a control frame) past @max_message
 * payload bytes is not passed on, nor is anything after it but close frames;
 * ::too-big is emitted at once, so that the reader can send its close frame.
 * What the client sends after that is read and dropped, so that the client
 * can still read that close frame rather than meet a reset, up to
 * @max_discarded bytes; the stream then ends.
 *
 * ::ping is emitted for each ping passed on, with its payload length: libsoup
 * answers each with a pong of the same payload.
 */
#define EM_TYPE_MESSAGE_LIMIT_INPUT_STREAM (em_message_limit_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (EmMessageLimitInputStream, em_message_limit_input_stream,
                      EM, MESSAGE_LIMIT_INPUT_STREAM, GFilterInputStream)

GInputStream *em_message_limit_input_stream_new (GInputStream *base,
                                                 gsize         max_message,
                                                 gsize         max_discarded);

G_END_DECLS
