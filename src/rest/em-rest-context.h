#pragma once

#include <libsoup/soup.h>

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/* what every handler needs, owned by the EmRestServer */
typedef struct {
  EmEngineManager *manager;
  GCancellable    *cancellable;
  guint            max_json_depth;
  guint            page_default;
  guint            page_max;
  gsize            page_max_bytes;
} EmRestContext;

/* handlers, split by resource; each answers @msg, pausing it for async work */
void em_rest_tasks_create  (EmRestContext *ctx, SoupServerMessage *msg);
/* the engine's `max-pending`: over REST a full queue is "too many requests",
 * answered with 429 and Retry-After; FALSE once it has answered */
gboolean em_rest_tasks_check_capacity (EmEngineManager   *manager,
                                       SoupServerMessage *msg,
                                       guint              adding);
/* a task body comes uncompressed: 415 otherwise, FALSE once it has answered */
gboolean em_rest_tasks_check_content_encoding (SoupServerMessage *msg);
void em_rest_tasks_list    (EmRestContext *ctx, SoupServerMessage *msg, GHashTable *query);
void em_rest_tasks_delete  (EmRestContext *ctx, SoupServerMessage *msg, GHashTable *query);
void em_rest_tasks_get     (EmRestContext *ctx, SoupServerMessage *msg, const char *id);
void em_rest_tasks_cancel  (EmRestContext *ctx, SoupServerMessage *msg, const char *id);
void em_rest_tasks_image   (EmRestContext *ctx, SoupServerMessage *msg, const char *id);
void em_rest_health        (EmRestContext *ctx, SoupServerMessage *msg);
void em_rest_actions       (EmRestContext *ctx, SoupServerMessage *msg);
/* GET /queue, POST /queue/pause, POST /queue/resume */
void em_rest_queue_get     (EmRestContext *ctx, SoupServerMessage *msg);
void em_rest_queue_pause   (EmRestContext *ctx, SoupServerMessage *msg);
void em_rest_queue_resume  (EmRestContext *ctx, SoupServerMessage *msg);

/* streams a file as the response body, chunk by chunk, off the loop's back,
 * with an ETag (from @tag, the file's size and modification time) and
 * Last-Modified; 304 when the request's conditions match them */
void em_rest_send_file     (SoupServerMessage *msg,
                            const char        *path,
                            const char        *content_type,
                            const char        *tag,
                            GCancellable      *cancellable);

G_END_DECLS
