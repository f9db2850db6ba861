#pragma once

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/* every method some resource takes: the Allow of "OPTIONS *" */
#define EM_REST_SERVER_METHODS "GET, HEAD, POST, DELETE, OPTIONS"

#define EM_TYPE_REST_SERVER (em_rest_server_get_type ())
G_DECLARE_FINAL_TYPE (EmRestServer, em_rest_server, EM, REST_SERVER, GObject)

EmRestServer *em_rest_server_new          (EmEngineManager *manager);
/* port 0 picks a free port; em_rest_server_get_base_url() tells which */
gboolean      em_rest_server_listen       (EmRestServer    *self,
                                           const char      *address,
                                           guint            port,
                                           GError         **error);
/* e.g. "http://127.0.0.1:8000", or %NULL when not listening */
char         *em_rest_server_get_base_url (EmRestServer    *self);
/* the start of a stop: requests in progress get their answers, with
 * "Connection: close", and new ones 503 */
void          em_rest_server_drain        (EmRestServer    *self);
/* whether a request is still being answered: one begun before
 * em_rest_server_drain(), or one refused with 503 since, until that answer
 * is written (within a turn of the loop, unless its client does not read) */
gboolean      em_rest_server_is_answering (EmRestServer    *self);
/* sends close frames to WebSocket clients and stops listening */
void          em_rest_server_shutdown     (EmRestServer    *self);
/* after em_rest_server_shutdown(): whether a WebSocket client's close frame
 * still waits for room in its socket, or a refused request's client still
 * sends the body its answer came before (for at most 2 s); exiting now would
 * lose the one, and reset the other's connection under it */
gboolean      em_rest_server_is_flushing  (EmRestServer    *self);
/* how many WebSocket clients follow the event stream now (open, not being dropped) */
guint         em_rest_server_get_n_websocket_clients (EmRestServer *self);

/* limits, as properties: "max-body-size" (bytes), "max-bodies-size" (bytes
 * of the large bodies being read or held at once), "ws-max-backlog" (bytes),
 * "ws-keepalive" (seconds, 0 turns pings off), "ws-max-clients",
 * "max-header-size" (bytes, 431 beyond), "idle-timeout" (seconds an HTTP
 * connection may stay silent; 0: never); the defaults are in em-rest-limits.h.
 * The pending-task limit is the engine's "max-pending" (429 here).
 *
 * access control, set before em_rest_server_listen(): "token" (or
 * "token-file", read when listening) makes every request but GET /health need
 * `Authorization: Bearer <token>` (WebSocket: or `?access_token=`); without
 * one, listening on a non-loopback address fails unless "insecure" is set;
 * "tls-certificate-file" and "tls-key-file" (PEM) serve HTTPS/WSS;
 * "cors-origins" (strv, "*" for any) lists the origins browsers may call from
 * and open WebSockets from, besides the service's own */

G_END_DECLS
