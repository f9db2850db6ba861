#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* writes @response (taken), a whole HTTP answer that closes the connection, by
 * hand on @msg's connection, taken from libsoup, then reads and discards what
 * the client still sends for a while before closing: closing on unread input
 * would reset the connection, and the client could lose the answer. Cancelling
 * @server_cancellable ends the wait. FALSE if the connection could not be taken */
gboolean em_rest_linger_respond         (SoupServerMessage *msg,
                                         GBytes            *response,
                                         GCancellable      *server_cancellable);

/* the same with the answer set on @msg: its status, headers and body */
gboolean em_rest_linger_respond_message (SoupServerMessage *msg,
                                         GCancellable      *server_cancellable);

/* answers given with @server_cancellable whose connection is still open */
guint    em_rest_linger_count           (GCancellable      *server_cancellable);

G_END_DECLS
