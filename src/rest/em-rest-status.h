#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* the reason phrase of @status (RFC 9110, RFC 6585), also for the statuses
 * libsoup 3.2 calls "Unknown Error" */
const char *em_rest_status_phrase (guint              status);
/* soup_server_message_set_status() with that phrase */
void        em_rest_set_status    (SoupServerMessage *msg,
                                   guint              status);

G_END_DECLS
