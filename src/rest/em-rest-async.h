#pragma once

#include <libsoup/soup.h>

#include "rest/em-rest-i18n.h"

G_BEGIN_DECLS

/**
 * EmRestAsync:
 *
 * A request answered from an async callback: the message is paused and held
 * until em_rest_async_done(). When the client goes away first, the callback
 * must still call em_rest_async_done(), which then only releases; start the
 * callback with em_rest_async_resume(), which does that for it.
 */
typedef struct _EmRestAsync EmRestAsync;

EmRestAsync       *em_rest_async_begin       (SoupServerMessage *msg,
                                              gpointer           data,
                                              GDestroyNotify     data_free);
/* (nullable): %NULL once the client went away */
SoupServerMessage *em_rest_async_get_message (EmRestAsync       *self);
gpointer           em_rest_async_get_data    (EmRestAsync       *self);
/* for the async callback: the message, with @scope entered in its client's
 * language; %NULL, with @self done, when the client went away */
SoupServerMessage *em_rest_async_resume      (EmRestAsync       *self,
                                              EmRestI18nScope   *scope);
/* unpauses the answered message and frees @self */
void               em_rest_async_done        (EmRestAsync       *self);
/* frees @self and leaves the message paused, for a callee that answers later
 * and unpauses it itself */
void               em_rest_async_release     (EmRestAsync       *self);

G_END_DECLS
