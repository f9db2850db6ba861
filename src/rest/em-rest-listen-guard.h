#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * libsoup 3.2 stops accepting for good the first time accept() fails: its
 * listener removes its source on any error, EMFILE included, and nothing
 * brings it back. Once every descriptor was taken by clients, the service
 * never answered again, though they all left.
 *
 * The guard watches the listening socket at a lower priority than libsoup's
 * own source, so it only runs when a connection is waiting and libsoup did not
 * take it. It then gives libsoup a new listener on a duplicate of the socket;
 * while descriptors are exhausted it accepts waiting connections on a
 * descriptor kept in reserve and closes them at once, so their clients are
 * refused instead of waiting in the backlog.
 */
typedef struct _EmRestListenGuard EmRestListenGuard;

EmRestListenGuard *em_rest_listen_guard_new  (SoupServer              *server,
                                              GSocket                 *socket,
                                              SoupServerListenOptions  options);
/* before soup_server_disconnect(): the guard must not listen again */
void               em_rest_listen_guard_free (EmRestListenGuard       *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmRestListenGuard, em_rest_listen_guard_free)

G_END_DECLS
