#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* GET /openapi.json: the OpenAPI 3.1 description of this API */
void em_rest_openapi_handle (SoupServerMessage *msg);

G_END_DECLS
