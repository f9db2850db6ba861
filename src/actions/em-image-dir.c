#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <errno.h>

#include <glib/gstdio.h>

#include "actions/em-image-dir.h"

static void
remove_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  const char *directory = task_data;

  /* rmdir refuses a directory with anything in it: no need to look first */
  if (g_rmdir (directory) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
    g_debug ("cannot remove %s: %s", directory, g_strerror (errno));
  g_task_return_boolean (task, TRUE);
}

void
em_image_dir_remove_empty_async (const char          *directory,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (directory != NULL);

  task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (task, em_image_dir_remove_empty_async);
  g_task_set_name (task, "[engine-manager] remove empty image directory");
  g_task_set_task_data (task, g_strdup (directory), g_free);
  g_task_run_in_thread (task, remove_thread);
}

void
em_image_dir_remove_empty_finish (GAsyncResult *result)
{
  g_return_if_fail (g_task_is_valid (result, NULL));
  g_return_if_fail (g_async_result_is_tagged (result, em_image_dir_remove_empty_async));

  g_task_propagate_boolean (G_TASK (result), NULL);
}
