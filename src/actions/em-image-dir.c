#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

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

/* what g_mkstemp() puts for its XXXXXX */
static gboolean
has_temporary_suffix (const char *name, gsize length)
{
  if (length < 7 || name[length - 7] != '.')
    return FALSE;
  for (gsize i = length - 6; i < length; i++)
    if (!g_ascii_isalnum (name[i]))
      return FALSE;
  return TRUE;
}

/* the names images get: the task's id at the top, tile-r<row>-c<column> in
 * a tile scan's directory */
static gboolean
is_image_stem (const char *stem, gboolean in_scan)
{
  const char *p = stem;

  if (!in_scan)
    return g_uuid_string_is_valid (stem);
  if (!g_str_has_prefix (p, "tile-r") || !g_ascii_isdigit (p[6]))
    return FALSE;
  for (p += 6; g_ascii_isdigit (*p); p++)
    ;
  if (!g_str_has_prefix (p, "-c") || !g_ascii_isdigit (p[2]))
    return FALSE;
  for (p += 2; g_ascii_isdigit (*p); p++)
    ;
  return *p == '\0';
}

static gboolean
strip_suffix (char *text, const char *suffix)
{
  if (!g_str_has_suffix (text, suffix))
    return FALSE;
  text[strlen (text) - strlen (suffix)] = '\0';
  return TRUE;
}

/* the names em_image_writer_write() gives its temporaries, and nothing else:
 * a file of the user's that merely looks like one stays */
static gboolean
is_write_temporary (const char *name, gboolean in_scan)
{
  gsize length = strlen (name);
  g_autofree char *stem = NULL;

  if (!has_temporary_suffix (name, length))
    return FALSE;
  stem = g_strndup (name, length - 7);
  /* the sidecar's, from g_file_set_contents_full() */
  if (stem[0] != '.')
    return strip_suffix (stem, ".json") && is_image_stem (stem, in_scan);
  /* the image's own, hidden */
  return (strip_suffix (stem, ".png") || strip_suffix (stem, ".tiff")) &&
         is_image_stem (stem + 1, in_scan);
}

static guint
sweep_directory (const char *directory, gint64 before, gboolean in_scan)
{
  g_autoptr(GDir) dir = g_dir_open (directory, 0, NULL);
  const char *name;
  guint removed = 0;

  if (dir == NULL)
    return 0;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (directory, name, NULL);
      struct stat info;

      if (lstat (path, &info) != 0)
        continue;
      /* a tile scan's directory, named after its task, holds its tiles */
      if (S_ISDIR (info.st_mode) && !in_scan && g_uuid_string_is_valid (name))
        removed += sweep_directory (path, before, TRUE);
      else if (S_ISREG (info.st_mode) && info.st_mtime < before && is_write_temporary (name, in_scan))
        {
          if (g_unlink (path) == 0)
            {
              g_debug ("removed %s, left by an interrupted image write", path);
              removed++;
            }
          else if (errno != ENOENT)
            g_debug ("cannot remove %s: %s", path, g_strerror (errno));
        }
    }
  return removed;
}

typedef struct
{
  char   *images;
  gint64  before;
} SweepData;

static void
sweep_data_free (gpointer data)
{
  SweepData *sweep = data;

  g_free (sweep->images);
  g_free (sweep);
}

static void
sweep_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  SweepData *sweep = task_data;

  g_task_return_int (task, sweep_directory (sweep->images, sweep->before, FALSE));
}

void
em_image_dir_sweep_temporaries_async (const char          *images,
                                      gint64               before,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  SweepData *sweep;

  g_return_if_fail (images != NULL);

  task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (task, em_image_dir_sweep_temporaries_async);
  g_task_set_name (task, "[engine-manager] sweep image temporaries");
  sweep = g_new0 (SweepData, 1);
  sweep->images = g_strdup (images);
  sweep->before = before;
  g_task_set_task_data (task, sweep, sweep_data_free);
  g_task_run_in_thread (task, sweep_thread);
}

guint
em_image_dir_sweep_temporaries_finish (GAsyncResult *result)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), 0);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_image_dir_sweep_temporaries_async), 0);

  return (guint) g_task_propagate_int (G_TASK (result), NULL);
}
