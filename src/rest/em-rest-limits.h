#pragma once

/* the defaults of every limit the HTTP adapter enforces; README lists them */

/* connections the kernel queues before the loop accepts them */
#define EM_REST_LISTEN_BACKLOG            4096
/* request bodies larger than this are refused with 413 before they are buffered */
#define EM_REST_DEFAULT_MAX_BODY_SIZE     (1024 * 1024)
/* what the bodies of EM_BODY_BUDGET_MIN_BYTES or more being read or held
 * at once may add up to; past it, 503 with Retry-After */
#define EM_REST_DEFAULT_MAX_BODIES_SIZE   (64 * 1024 * 1024)
/* json-glib 1.6 recurses per level and overflows the stack on deep nesting */
#define EM_REST_MAX_JSON_DEPTH            64
/* GET /tasks paging */
#define EM_REST_DEFAULT_PAGE_LIMIT        100
#define EM_REST_MAX_PAGE_LIMIT            1000
/* a page stops early, with at least one task, once its tasks pass this many
 * bytes: a task's parameters may take up to the body limit, and a tile
 * scan's result 1.5 MB, so 1 000 of them would be gigabytes */
#define EM_REST_DEFAULT_PAGE_MAX_BYTES    (4 * 1024 * 1024)
/* bytes queued for one WebSocket client beyond what its socket took */
#define EM_REST_DEFAULT_WS_BACKLOG        (1024 * 1024)
#define EM_REST_DEFAULT_WS_KEEPALIVE      30
#define EM_REST_DEFAULT_WS_MAX_CLIENTS    4096
/* what one main-loop turn may put out at once: a batch of 5 000 tasks in a
 * body at the default limit makes about 2 MB of task_scheduled frames.
 * Events that wait for the journal are held up to this (once, for all
 * clients), and a client's backlog may pass its limit by the burst of one
 * turn, up to this, while it drains */
#define EM_REST_WS_MAX_BURST              (16 * 1024 * 1024)
/* a client over its backlog limit whose socket takes nothing for this long
 * has stopped reading */
#define EM_REST_WS_STALL_MS               2000
/* clients send nothing meaningful: a message (all its frames) larger than
 * this is an abuse, closed with 1009 */
#define EM_REST_WS_MAX_INCOMING_MESSAGE   4096
/* what such a client sends next is read and dropped, so that it can read the
 * close frame rather than meet a reset; past this much it is cut off */
#define EM_REST_WS_MAX_DISCARDED          (1024 * 1024)
/* the kernel's send buffer of a WebSocket: fixed, so a client that stops reading
 * is noticed after this plus the backlog, not after megabytes of autotuning */
#define EM_REST_WS_SEND_BUFFER            (256 * 1024)
/* unacknowledged data (our pings included) for this long drops the peer */
#define EM_REST_WS_TCP_USER_TIMEOUT_MS    60000
/* how long a refused upload may keep its connection while the answer drains */
#define EM_REST_LINGER_TIMEOUT_MS         2000
#define EM_REST_LINGER_MAX_BYTES          (4 * 1024 * 1024)
/* request header bytes beyond which a request gets 431, each line counted
 * with its ": " and CRLF */
#define EM_REST_DEFAULT_MAX_HEADER_SIZE   (16 * 1024)
/* seconds a connection may send nothing before it is closed (0: never);
 * WebSocket clients are exempt, keepalive pings watch them */
#define EM_REST_DEFAULT_IDLE_TIMEOUT      60
