#pragma once

#include <libsoup/soup.h>

#include "rest/em-body-budget.h"

G_BEGIN_DECLS

/* owned by the server, which outlives its messages' signal handlers */
typedef struct {
  guint64       max_bytes;
  EmBodyBudget *budget;        /* (nullable) */
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
 * and a Content-Length that is not one decimal number, a framing or identity
 * header given twice, or a Transfer-Encoding in HTTP/1.0 with 400, and closes
 * the connection without reading the rest; on got-headers. Bodies of
 * EM_BODY_BUDGET_MIN_BYTES or more count against the budget until their
 * message goes (a chunked one as it streams): one that would take it past
 * its maximum gets 503 with Retry-After. FALSE once it has answered, the
 * connection taken from @msg */
gboolean em_body_limit_check_head (SoupServerMessage *msg,
                                   const EmBodyLimit *limit);

G_END_DECLS
