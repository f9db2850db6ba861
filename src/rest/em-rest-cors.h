#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* cross-origin access for browsers: none unless an origin is listed */

/* whether @origin (an Origin header) is listed in @allowed ("*" lists all) */
gboolean em_rest_cors_origin_allowed (const char * const *allowed,
                                      const char         *origin);
/* whether @msg's Origin is the service's own (scheme, host and port of its
 * Host header), or the request has no Origin (not from a browser page) */
gboolean em_rest_cors_same_origin    (SoupServerMessage  *msg,
                                      gboolean            tls);
/* on a listed origin's request, the Access-Control-Allow-Origin headers; with
 * any origin listed, Vary: Origin on every answer */
void     em_rest_cors_add_headers    (SoupServerMessage  *msg,
                                      const char * const *allowed);
/* answers an OPTIONS preflight: 204 with the allowed methods and headers for a
 * listed origin, 403 otherwise */
void     em_rest_cors_preflight      (SoupServerMessage  *msg,
                                      const char * const *allowed,
                                      const char         *methods);

G_END_DECLS
