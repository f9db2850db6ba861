#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-rest-vary.h"

void
em_rest_vary (SoupServerMessage *msg,
              const char        *field)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *vary = soup_message_headers_get_list (headers, "Vary");
  g_autofree char *joined = NULL;

  if (vary == NULL)
    {
      soup_message_headers_replace (headers, "Vary", field);
      return;
    }
  if (soup_header_contains (vary, field))
    return;
  joined = g_strconcat (vary, ", ", field, NULL);
  soup_message_headers_replace (headers, "Vary", joined);
}
