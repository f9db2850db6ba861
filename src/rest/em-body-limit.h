#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* owned by the server, which outlives its messages' signal handlers */
typedef struct {
  guint64       max_bytes;
  GCancellable *cancellable;
  /* (nullable) adds the headers every answer of the server carries to a
   * refusal: the head's checks may not have run, or their headers may be
   * gone, cleared by libsoup once it sent "100 Continue" */
  void        (*add_headers) (SoupServerMessage *msg,
                              gpointer           user_data);
  gpointer      add_headers_data;
} EmBodyLimit;

/* libsoup 3.2 buffers any request body whole; this refuses one larger than
 * @limit with 413 as soon as Content-Length or the streamed chunks show it,
 * and a Content-Length that is not one decimal number with 400, and closes
 * the connection without reading the rest; on got-headers. FALSE once it
 * has answered, the connection taken from @msg */
gboolean em_body_limit_check_head (SoupServerMessage *msg,
                                   const EmBodyLimit *limit);

G_END_DECLS
