#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-rest-dashboard.h"
#include "rest/em-rest-openapi.h"

void
em_rest_openapi_handle (SoupServerMessage *msg)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Access-Control-Allow-Origin", "*");
  em_rest_serve_resource (msg, EM_RESOURCE_PREFIX "/openapi.json", "application/json");
}
