#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* removes @directory in a worker thread if it is empty: an action that wrote
 * nothing into its own directory leaves none behind. Anything in it, or no
 * directory at all, leaves things as they are. Never cancelled: it cleans up
 * after a cancelled run too. */
void em_image_dir_remove_empty_async  (const char          *directory,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
void em_image_dir_remove_empty_finish (GAsyncResult        *result);

G_END_DECLS
