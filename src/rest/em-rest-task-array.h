#pragma once

#include <gio/gio.h>

#include "engine/em-task.h"

G_BEGIN_DECLS

/* the JSON array of @tasks (EmTask), as they are now: their fields are copied
 * on the calling thread, the main loop's, and the text is written in a
 * worker, so a batch of thousands does not hold up the loop while its
 * megabytes are written; (transfer full) text from _finish() */
void  em_rest_task_array_write_async  (GPtrArray            *tasks,
                                       GCancellable         *cancellable,
                                       GAsyncReadyCallback   callback,
                                       gpointer              user_data);
char *em_rest_task_array_write_finish (GAsyncResult         *result,
                                       GError              **error);

G_END_DECLS
