#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* gives a problem document to the requests libsoup refuses itself, before any
 * handler sees them (a malformed request line or header, an unknown
 * Transfer-Encoding, Expect or HTTP version); on request-started */
void em_rest_unparsed_watch     (SoupServerMessage *msg);
/* on got-headers, after libsoup's own handler: the handlers' defaults back,
 * or libsoup's refusal of the head as a problem document */
void em_rest_unparsed_head_read (SoupServerMessage *msg);

G_END_DECLS
