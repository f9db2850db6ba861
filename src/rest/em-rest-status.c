#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-rest-status.h"

const char *
em_rest_status_phrase (guint status)
{
  switch (status)
    {
    /* libsoup still has RFC 2616's "Request Entity Too Large" */
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return soup_status_get_phrase (status);
    }
}

void
em_rest_set_status (SoupServerMessage *msg,
                    guint              status)
{
  soup_server_message_set_status (msg, status, em_rest_status_phrase (status));
}
