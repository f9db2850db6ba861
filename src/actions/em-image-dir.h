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

/* removes, in a worker thread, the temporaries an image write leaves when the
 * service dies in the middle of it (the image's `.<name>.png.XXXXXX`, the
 * sidecar's `<name>.json.XXXXXX`) from @images and the directories in it, if
 * they were last modified before @before (seconds since the epoch), so a write
 * in progress keeps its own. Returns how many it removed. */
void  em_image_dir_sweep_temporaries_async  (const char          *images,
                                             gint64               before,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
guint em_image_dir_sweep_temporaries_finish (GAsyncResult        *result);

G_END_DECLS
