#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* the request's URI, its path and query apart: libsoup 3.2 takes the whole
 * target of an HTTP/1.0 request without a Host header for the path, so
 * "/tasks?limit=1" named no resource. (transfer none): valid as long as @msg */
GUri *em_rest_target_uri (SoupServerMessage *msg);

G_END_DECLS
