#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * libsoup 3.2 keeps a keep-alive connection open for good once its client has
 * closed it between two requests (it reads the end of the stream and neither
 * creates a message nor closes), and never times out a connection that waits
 * for its next request. This closes both: each connection is followed from its
 * requests' start and finish (server signals, nothing connected per request),
 * and a sweep every second takes back from libsoup, and closes, those between
 * two requests whose client has gone or that sent nothing for the timeout.
 * libsoup 3.2 also keeps a reference to every socket it accepts: the sweep
 * drops it once the connection has ended.
 */
typedef struct _EmRestIdle EmRestIdle;

EmRestIdle *em_rest_idle_new         (void);
void        em_rest_idle_free        (EmRestIdle        *self);
/* seconds without a request before a connection is closed; 0: never */
void        em_rest_idle_set_timeout (EmRestIdle        *self,
                                      guint              seconds);
/* on the server's request-started */
void        em_rest_idle_started     (EmRestIdle        *self,
                                      SoupServerMessage *msg);
/* on the server's request-read: from request-started until then, the
 * request has the timeout as a whole, however often a byte of it comes */
void        em_rest_idle_read        (EmRestIdle        *self,
                                      SoupServerMessage *msg);
/* on the server's request-finished */
void        em_rest_idle_finished    (EmRestIdle        *self,
                                      SoupServerMessage *msg);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmRestIdle, em_rest_idle_free)

G_END_DECLS
