#pragma once

#include <libsoup/soup.h>

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/* fans every engine event out to the WebSocket clients: each event serialized
 * once, a bounded backlog per client, keepalive, close frames on shutdown */
#define EM_TYPE_WEBSOCKET_HUB (em_websocket_hub_get_type ())
G_DECLARE_FINAL_TYPE (EmWebsocketHub, em_websocket_hub, EM, WEBSOCKET_HUB, GObject)

EmWebsocketHub *em_websocket_hub_new           (EmEngineManager   *manager);
void            em_websocket_hub_set_limits    (EmWebsocketHub    *self,
                                                guint64            max_backlog,
                                                guint              keepalive_seconds,
                                                guint              max_clients);
/* answers a GET /ws: a problem document, or the upgrade to a hub client;
 * `?since=SEQ` first replays every event after SEQ (or sends
 * {"type":"resync_required","oldest_seq":N} when they are no longer kept),
 * then the live ones, with no gap and no duplicate */
void            em_websocket_hub_handle        (EmWebsocketHub    *self,
                                                SoupServerMessage *msg,
                                                GHashTable        *query);
/* the clients still following: open and not being dropped */
guint           em_websocket_hub_get_n_clients (EmWebsocketHub    *self);
/* whether a client still has frames its socket did not take, its close frame
 * among them after em_websocket_hub_close_all() */
gboolean        em_websocket_hub_is_flushing   (EmWebsocketHub    *self);
/* sends a close frame to every client and stops following the engine */
void            em_websocket_hub_close_all     (EmWebsocketHub    *self,
                                                gushort            code,
                                                const char        *reason);

G_END_DECLS
