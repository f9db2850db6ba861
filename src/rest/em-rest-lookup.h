#pragma once

#include "rest/em-rest-context.h"

G_BEGIN_DECLS

/* answers @msg from @task (the task's JSON object); may pause @msg and answer
 * later, unpausing it itself */
typedef void (*EmRestLookupFunc) (EmRestContext     *ctx,
                                  SoupServerMessage *msg,
                                  const char        *id,
                                  JsonObject        *task);

/* finds task @id in memory, or else in the history, and hands it to @func;
 * answers 404 when it is nowhere */
void em_rest_lookup_task (EmRestContext     *ctx,
                          SoupServerMessage *msg,
                          const char        *id,
                          EmRestLookupFunc   func);

G_END_DECLS
