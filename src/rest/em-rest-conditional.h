#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* whether If-None-Match names @etag (or is "*"), by the weak comparison
 * RFC 9110 §13.1.2 asks for: a W/ prefix on either side is ignored */
gboolean em_rest_etag_matches (SoupMessageHeaders *request_headers,
                               const char         *etag);

/* whether the request's conditions say the client holds the representation
 * with @etag, last modified at @modified (may be NULL): If-None-Match when
 * given, else If-Modified-Since (RFC 9110 §13.2.2), for GET and HEAD only */
gboolean em_rest_not_modified (SoupServerMessage  *msg,
                               const char         *etag,
                               GDateTime          *modified);

G_END_DECLS
