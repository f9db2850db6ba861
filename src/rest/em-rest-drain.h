#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * Closing every connection at once, as soup_server_disconnect() does, cuts off
 * the answers of the requests in progress: a submission the engine has
 * recorded reaches its client as a connection closed without a response, and
 * a client that retries submits it twice. This follows each request from its
 * head to its answer (or its failure), so that a stop can wait for them while
 * everything that comes meanwhile is refused with 503 and "Connection: close".
 */
typedef struct _EmRestDrain EmRestDrain;

EmRestDrain *em_rest_drain_new          (void);
void         em_rest_drain_free         (EmRestDrain       *self);
/* on a message's got-headers: it is in progress from now */
void         em_rest_drain_begun        (EmRestDrain       *self,
                                         SoupServerMessage *msg);
/* on the server's request-read: its body has come whole */
void         em_rest_drain_read         (EmRestDrain       *self,
                                         SoupServerMessage *msg);
/* on the server's request-finished and request-aborted */
void         em_rest_drain_ended        (EmRestDrain       *self,
                                         SoupServerMessage *msg);
/* answers @msg, whose body has not come whole, with what
 * em_rest_drain_refuse() sets, at once */
typedef void (*EmRestDrainRefuseFunc) (SoupServerMessage *msg,
                                       gpointer           user_data);

/* from now on the connections of the requests in progress close after their
 * answers, and new requests are refused; so are those in progress whose body
 * is still arriving, through @refuse_unread */
void         em_rest_drain_start        (EmRestDrain           *self,
                                         EmRestDrainRefuseFunc  refuse_unread,
                                         gpointer               user_data);
/* when draining, answers @msg with 503 and "Connection: close" and returns TRUE */
gboolean     em_rest_drain_refuse       (EmRestDrain       *self,
                                         SoupServerMessage *msg);
/* whether a request is still being answered, one refused since the start
 * of the drain included: a stop that closed the connections now would cut
 * its 503 off */
gboolean     em_rest_drain_is_answering (EmRestDrain       *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmRestDrain, em_rest_drain_free)

G_END_DECLS
