#pragma once

#include <gio/gio.h>

#include "engine/em-task-spec.h"

G_BEGIN_DECLS

/**
 * EmRestTaskBody:
 * @specs: (element-type EmTaskSpec): what a POST /tasks body submits, in order
 * @batch: whether it is a batch (an array, or {"tasks": [...]}), even of one
 * @exclusive: the batch's `exclusive`
 *
 * A POST /tasks body read into task specs: one task object, an array of them
 * (an atomic batch), or {"tasks": [...], "exclusive": bool}. Reading touches
 * nothing of the engine, so a large body is read off the main loop; the
 * engine validates the specs again when it schedules them.
 */
typedef struct {
  GPtrArray *specs;
  gboolean   batch;
  gboolean   exclusive;
} EmRestTaskBody;

/* errors are EM_ERROR_INVALID_ARGUMENT and name the field or the item; any
 * thread, in that thread's message language */
EmRestTaskBody *em_rest_task_body_read        (const char           *data,
                                               gsize                 length,
                                               guint                 max_depth,
                                               GError              **error);
/* the same in a worker thread, with messages in the best language of
 * @accept_language (nullable), as em_rest_i18n_scope_enter() picks it */
void            em_rest_task_body_read_async  (GBytes               *body,
                                               const char           *accept_language,
                                               guint                 max_depth,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
EmRestTaskBody *em_rest_task_body_read_finish (GAsyncResult         *result,
                                               GError              **error);
void            em_rest_task_body_free        (EmRestTaskBody       *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmRestTaskBody, em_rest_task_body_free)

G_END_DECLS
