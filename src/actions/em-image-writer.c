#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <png.h>
#include <tiffio.h>

#include "actions/em-image-writer.h"
#include "engine/em-error.h"

/* the modes the daemon gives images/: the user's group may read, others not */
#define IMAGE_DIR_MODE  0750
#define IMAGE_FILE_MODE 0640

const char *
em_image_format_to_string (EmImageFormat format)
{
  switch (format)
    {
    case EM_IMAGE_FORMAT_TIFF:
      return "tiff";
    case EM_IMAGE_FORMAT_PNG:
    default:
      return "png";
    }
}

gboolean
em_image_format_from_string (const char *text, EmImageFormat *out_format)
{
  if (g_strcmp0 (text, "png") == 0)
    *out_format = EM_IMAGE_FORMAT_PNG;
  else if (g_strcmp0 (text, "tiff") == 0)
    *out_format = EM_IMAGE_FORMAT_TIFF;
  else
    return FALSE;
  return TRUE;
}

static EmImageWriterTestHook test_hook;
static gpointer test_hook_data;

void
em_image_writer_set_test_hook (EmImageWriterTestHook hook, gpointer user_data)
{
  test_hook = hook;
  test_hook_data = user_data;
}

static void
run_test_hook (const char *step)
{
  if (test_hook != NULL)
    test_hook (step, test_hook_data);
}

static int test_exchange_errno;

void
em_image_writer_set_test_exchange_errno (int errnum)
{
  test_exchange_errno = errnum;
}

static void
set_errno_error (GError **error, const char *path, int saved_errno)
{
  g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot write image %s: %s"),
               path, g_strerror (saved_errno));
}

/* the simplified libpng API reports errors in the image, no setjmp needed */
static gboolean
write_png (EmFrame *frame, int fd, const char *path, GError **error)
{
  png_image image = { 0 };
  gsize component_size = em_frame_get_bit_depth (frame) / 8;
  FILE *file;
  gboolean ok;

  image.version = PNG_IMAGE_VERSION;
  image.width = em_frame_get_width (frame);
  image.height = em_frame_get_height (frame);
  image.format = em_frame_get_channels (frame) == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  if (component_size == 2)
    image.format |= PNG_FORMAT_FLAG_LINEAR;

  file = fdopen (fd, "wb");
  if (file == NULL)
    {
      int saved_errno = errno;

      close (fd);
      set_errno_error (error, path, saved_errno);
      return FALSE;
    }

  /* libpng only says "Write Error": the system says why (a full disk) */
  errno = 0;
  ok = png_image_write_to_stdio (&image, file, 0,
                                 g_bytes_get_data (em_frame_get_data (frame), NULL),
                                 (png_int_32) (em_frame_get_stride (frame) / component_size),
                                 NULL);
  if (!ok)
    {
      int saved_errno = errno;

      if (saved_errno != 0)
        set_errno_error (error, path, saved_errno);
      else
        g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot encode PNG %s: %s"),
                     path, image.message);
      png_image_free (&image);
      fclose (file);
      return FALSE;
    }
  png_image_free (&image);

  if (fflush (file) != 0 || fsync (fileno (file)) != 0)
    {
      int saved_errno = errno;

      fclose (file);
      set_errno_error (error, path, saved_errno);
      return FALSE;
    }
  if (fclose (file) != 0)
    {
      set_errno_error (error, path, errno);
      return FALSE;
    }
  return TRUE;
}

static int
tiff_error_cb (TIFF       *tif,
               void       *user_data,
               const char *module,
               const char *format,
               va_list     args)
{
  char **message = user_data;

  if (*message == NULL)
    *message = g_strdup_vprintf (format, args);
  /* handled: keep libtiff from printing on stderr */
  return 1;
}

static int
tiff_warning_cb (TIFF       *tif,
                 void       *user_data,
                 const char *module,
                 const char *format,
                 va_list     args)
{
  g_autofree char *message = g_strdup_vprintf (format, args);

  g_debug ("libtiff: %s: %s", module != NULL ? module : "", message);
  return 1;
}

static gboolean
write_tiff (EmFrame *frame, int fd, const char *path, const char *metadata_json, GError **error)
{
  g_autofree char *message = NULL;
  g_autofree guint8 *row = NULL;
  gint64 taken_us = em_frame_get_timestamp (frame);
  g_autoptr(GDateTime) taken = taken_us > 0 ? g_date_time_new_from_unix_utc (taken_us / G_USEC_PER_SEC)
                                            : g_date_time_new_now_utc ();
  g_autofree char *date = g_date_time_format (taken, "%Y:%m:%d %H:%M:%S");
  gdouble pixel_size = em_frame_get_pixel_size (frame);
  TIFFOpenOptions *options = TIFFOpenOptionsAlloc ();
  const guint8 *pixels = g_bytes_get_data (em_frame_get_data (frame), NULL);
  guint width = em_frame_get_width (frame);
  guint height = em_frame_get_height (frame);
  guint channels = em_frame_get_channels (frame);
  gsize row_bytes = (gsize) width * channels * (em_frame_get_bit_depth (frame) / 8);
  gboolean ok = TRUE;
  int write_errno;
  TIFF *tif;

  TIFFOpenOptionsSetErrorHandlerExtR (options, tiff_error_cb, &message);
  TIFFOpenOptionsSetWarningHandlerExtR (options, tiff_warning_cb, NULL);
  tif = TIFFFdOpenExt (fd, path, "w", options);
  TIFFOpenOptionsFree (options);
  if (tif == NULL)
    {
      close (fd);
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot encode TIFF %s: %s"),
                   path, message != NULL ? message : _("unknown error"));
      return FALSE;
    }

  TIFFSetField (tif, TIFFTAG_IMAGEWIDTH, (uint32_t) width);
  TIFFSetField (tif, TIFFTAG_IMAGELENGTH, (uint32_t) height);
  TIFFSetField (tif, TIFFTAG_BITSPERSAMPLE, (uint16_t) em_frame_get_bit_depth (frame));
  TIFFSetField (tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t) channels);
  TIFFSetField (tif, TIFFTAG_PHOTOMETRIC, channels == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
  TIFFSetField (tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField (tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
  TIFFSetField (tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize (tif, 0));
  TIFFSetField (tif, TIFFTAG_SOFTWARE, "Engine Manager " PACKAGE_VERSION);
  TIFFSetField (tif, TIFFTAG_DATETIME, date);
  if (metadata_json != NULL)
    TIFFSetField (tif, TIFFTAG_IMAGEDESCRIPTION, metadata_json);
  if (pixel_size > 0.0)
    {
      /* pixels per centimetre at the sample */
      TIFFSetField (tif, TIFFTAG_RESOLUTIONUNIT, (uint16_t) RESUNIT_CENTIMETER);
      TIFFSetField (tif, TIFFTAG_XRESOLUTION, (float) (10000.0 / pixel_size));
      TIFFSetField (tif, TIFFTAG_YRESOLUTION, (float) (10000.0 / pixel_size));
    }

  /* libtiff may scribble on the row it is given */
  row = g_malloc (row_bytes);
  /* libtiff only says "Write error at scanline …": the system says why */
  errno = 0;
  for (guint y = 0; ok && y < height; y++)
    {
      memcpy (row, pixels + (gsize) y * em_frame_get_stride (frame), row_bytes);
      ok = TIFFWriteScanline (tif, row, y, 0) == 1;
    }
  ok = ok && TIFFFlush (tif) == 1;
  write_errno = ok ? 0 : errno;
  if (ok && fsync (fd) != 0)
    {
      int saved_errno = errno;

      TIFFClose (tif);
      set_errno_error (error, path, saved_errno);
      return FALSE;
    }
  /* closes fd */
  TIFFClose (tif);

  if (!ok && write_errno != 0)
    {
      set_errno_error (error, path, write_errno);
      return FALSE;
    }
  if (!ok)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot encode TIFF %s: %s"),
                   path, message != NULL ? message : _("unknown error"));
      return FALSE;
    }
  return TRUE;
}

static void
fsync_directory (const char *dir)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  /* best effort: the file itself is already safe */
  if (fd < 0)
    return;
  if (fsync (fd) != 0)
    g_debug ("fsync %s: %s", dir, g_strerror (errno));
  close (fd);
}

char *
em_image_writer_sidecar_path (const char *path)
{
  const char *dot = strrchr (path, '.');
  const char *slash = strrchr (path, '/');

  g_autofree char *stem = NULL;

  if (dot == NULL || (slash != NULL && dot < slash))
    return g_strconcat (path, ".json", NULL);
  stem = g_strndup (path, dot - path);
  return g_strconcat (stem, ".json", NULL);
}

static void
set_sidecar_error (GError **error, const char *sidecar, int saved_errno)
{
  g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot write image metadata %s: %s"),
               sidecar, g_strerror (saved_errno));
}

/* the sidecar, written the same careful way as the image, under the temporary
 * name g_file_set_contents() would give it (the start-up sweep knows it);
 * returns that name */
static char *
write_sidecar_temporary (const char *sidecar, const char *metadata_json, GError **error)
{
  g_autofree char *tmp = g_strconcat (sidecar, ".XXXXXX", NULL);
  g_autofree char *text = g_strconcat (metadata_json, "\n", NULL);
  gsize length = strlen (text);
  gsize done = 0;
  int fd;

  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, IMAGE_FILE_MODE);
  if (fd < 0)
    {
      set_sidecar_error (error, sidecar, errno);
      return NULL;
    }
  while (done < length)
    {
      gssize n = write (fd, text + done, length - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      done += n;
    }
  if (done < length || fsync (fd) != 0)
    {
      int saved_errno = errno;

      close (fd);
      g_unlink (tmp);
      set_sidecar_error (error, sidecar, saved_errno);
      return NULL;
    }
  if (close (fd) != 0)
    {
      set_sidecar_error (error, sidecar, errno);
      g_unlink (tmp);
      return NULL;
    }
  return g_steal_pointer (&tmp);
}

static void
discard_temporary (const char *path)
{
  if (path != NULL && g_unlink (path) != 0)
    g_debug ("cannot remove %s: %s", path, g_strerror (errno));
}

static gboolean
exchange (const char *from, const char *to)
{
  if (test_exchange_errno != 0)
    {
      errno = test_exchange_errno;
      return FALSE;
    }
  return renameat2 (AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0;
}

/* a second link to the earlier sidecar, under a temporary name the start-up
 * sweep knows, so that it can be put back; NULL when there is none or the
 * file system has no hard links */
static char *
link_aside (const char *sidecar)
{
  for (guint attempt = 0; attempt < 4; attempt++)
    {
      g_autofree char *aside = g_strconcat (sidecar, ".XXXXXX", NULL);
      int fd = g_mkstemp_full (aside, O_WRONLY | O_CLOEXEC, IMAGE_FILE_MODE);

      /* only a free name is wanted: link() cannot replace */
      if (fd < 0)
        return NULL;
      close (fd);
      g_unlink (aside);
      if (link (sidecar, aside) == 0)
        return g_steal_pointer (&aside);
      if (errno != EEXIST)
        return NULL;
    }
  return NULL;
}

static void
put_back (const char *from, const char *sidecar)
{
  if (g_rename (from, sidecar) != 0)
    g_debug ("cannot put back %s: %s", sidecar, g_strerror (errno));
}

/* gives both files their names: the sidecar first, so an image under its
 * final name always has its metadata. The earlier sidecar, if any, is swapped
 * into the temporary rather than replaced (or, on a file system that cannot
 * swap, such as some network and FUSE ones, linked aside first), so that when
 * the image cannot take its name it goes back and the earlier pair stays as
 * it was */
static gboolean
rename_pair (const char  *tmp_path,
             const char  *path,
             const char  *sidecar_tmp,
             const char  *sidecar,
             gboolean    *out_replaced,
             GError     **error)
{
  g_autofree char *aside = NULL;
  gboolean exchanged = FALSE;
  struct stat swapped;

  *out_replaced = g_file_test (path, G_FILE_TEST_EXISTS);
  if (sidecar_tmp != NULL)
    {
      exchanged = exchange (sidecar_tmp, sidecar);
      /* the exchange swaps a directory as readily as a file, and would leave
       * it under a temporary name nothing removes: refuse it, as rename() does */
      if (exchanged && lstat (sidecar_tmp, &swapped) == 0 && S_ISDIR (swapped.st_mode))
        {
          if (!exchange (sidecar_tmp, sidecar))
            g_debug ("cannot put back %s: %s", sidecar, g_strerror (errno));
          set_sidecar_error (error, sidecar, EISDIR);
          discard_temporary (sidecar_tmp);
          discard_temporary (tmp_path);
          return FALSE;
        }
      /* ENOENT: no earlier sidecar to keep */
      if (!exchanged && errno != ENOENT)
        aside = link_aside (sidecar);
      if (!exchanged && g_rename (sidecar_tmp, sidecar) != 0)
        {
          set_sidecar_error (error, sidecar, errno);
          discard_temporary (aside);
          discard_temporary (sidecar_tmp);
          discard_temporary (tmp_path);
          return FALSE;
        }
    }
  if (g_rename (tmp_path, path) != 0)
    {
      set_errno_error (error, path, errno);
      discard_temporary (tmp_path);
      if (exchanged)
        put_back (sidecar_tmp, sidecar);
      else if (aside != NULL)
        put_back (aside, sidecar);
      else
        discard_temporary (sidecar);
      return FALSE;
    }
  if (exchanged)
    discard_temporary (sidecar_tmp);
  discard_temporary (aside);
  return TRUE;
}

/* creates @dir, or finds it, as a directory. A symbolic link there is
 * followed only when the service's user or root made it (images/ on another
 * disk): one planted by another user (images/<task-id> of a tile scan is
 * known before the scan writes) would send the images wherever it points */
static gboolean
ensure_directory (const char  *dir,
                  GError     **error)
{
  g_autofree char *parent = g_path_get_dirname (dir);
  gboolean created = FALSE;
  GStatBuf info;

  if (g_mkdir_with_parents (parent, IMAGE_DIR_MODE) != 0 ||
      (!(created = g_mkdir (dir, IMAGE_DIR_MODE) == 0) && errno != EEXIST))
    {
      int saved_errno = errno;

      g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot create directory %s: %s"),
                   dir, g_strerror (saved_errno));
      return FALSE;
    }
  /* its name is an entry of the parent: unsynced, a power cut could lose
   * the directory, and every image synced into it, of a task that completed */
  if (created)
    {
      fsync_directory (parent);
      run_test_hook ("directory-synced");
    }
  if (g_lstat (dir, &info) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot create directory %s: %s"),
                   dir, g_strerror (saved_errno));
      return FALSE;
    }
  if (S_ISLNK (info.st_mode))
    {
      if (info.st_uid != geteuid () && info.st_uid != 0)
        {
          g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                       _("Cannot write images into %s: it is a symbolic link another user "
                         "made; remove it"), dir);
          return FALSE;
        }
      if (g_stat (dir, &info) != 0)
        {
          int saved_errno = errno;

          g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot create directory %s: %s"),
                       dir, g_strerror (saved_errno));
          return FALSE;
        }
    }
  if (!S_ISDIR (info.st_mode))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("Cannot write images into %s: it is not a directory; remove it"), dir);
      return FALSE;
    }
  return TRUE;
}

/* every directory from @root (images/) down to @dir, each as
 * ensure_directory() wants it: a tile scan's images/<task-id> is not the only
 * link to check, images/ above it may be one too */
static gboolean
ensure_directories (const char  *root,
                    const char  *dir,
                    GError     **error)
{
  gsize root_length = root != NULL ? strlen (root) : 0;
  g_autofree char *parent = NULL;

  if (root == NULL || !g_str_has_prefix (dir, root) || dir[root_length] != G_DIR_SEPARATOR)
    return ensure_directory (dir, error);
  parent = g_path_get_dirname (dir);
  return ensure_directories (root, parent, error) && ensure_directory (dir, error);
}

static gboolean
write_pair (EmFrame        *frame,
            EmImageFormat   format,
            const char     *root,
            const char     *path,
            const char     *metadata_json,
            GCancellable   *cancellable,
            gboolean       *out_replaced,
            GError        **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree char *sidecar = NULL;
  g_autofree char *sidecar_tmp = NULL;
  gboolean written;
  int fd;

  *out_replaced = FALSE;
  dir = g_path_get_dirname (path);
  base = g_path_get_basename (path);
  if (!ensure_directories (root, dir, error))
    return FALSE;
  /* a reader never sees a half-written image under the final name */
  tmp_path = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, IMAGE_FILE_MODE);
  if (fd < 0)
    {
      set_errno_error (error, path, errno);
      return FALSE;
    }

  if (format == EM_IMAGE_FORMAT_TIFF)
    written = write_tiff (frame, fd, path, metadata_json, error);
  else
    written = write_png (frame, fd, path, error);

  if (!written || g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      g_unlink (tmp_path);
      return FALSE;
    }
  if (metadata_json != NULL)
    {
      sidecar = em_image_writer_sidecar_path (path);
      sidecar_tmp = write_sidecar_temporary (sidecar, metadata_json, error);
      if (sidecar_tmp == NULL)
        {
          g_unlink (tmp_path);
          return FALSE;
        }
    }
  run_test_hook ("sidecar-synced");
  /* the last point where a cancel leaves the files already there untouched */
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      discard_temporary (tmp_path);
      discard_temporary (sidecar_tmp);
      return FALSE;
    }
  if (!rename_pair (tmp_path, path, sidecar_tmp, sidecar, out_replaced, error))
    return FALSE;
  run_test_hook ("renamed");
  fsync_directory (dir);
  return TRUE;
}

gboolean
em_image_writer_write (EmFrame        *frame,
                       EmImageFormat   format,
                       const char     *path,
                       const char     *metadata_json,
                       GCancellable   *cancellable,
                       GError        **error)
{
  gboolean replaced;

  g_return_val_if_fail (frame != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  return write_pair (frame, format, NULL, path, metadata_json, cancellable, &replaced, error);
}

typedef struct
{
  EmFrame       *frame;
  EmImageFormat  format;
  char          *root;
  char          *path;
  char          *metadata_json;
  gboolean       replaced;
} WriteData;

static void
write_data_free (gpointer data)
{
  WriteData *write_data = data;

  em_frame_unref (write_data->frame);
  g_free (write_data->root);
  g_free (write_data->path);
  g_free (write_data->metadata_json);
  g_free (write_data);
}

static void
write_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  WriteData *data = task_data;
  g_autoptr(GError) error = NULL;

  if (!write_pair (data->frame, data->format, data->root, data->path, data->metadata_json,
                   cancellable, &data->replaced, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

void
em_image_writer_write_async (EmFrame             *frame,
                             EmImageFormat        format,
                             const char          *root,
                             const char          *path,
                             const char          *metadata_json,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  WriteData *data;

  g_return_if_fail (frame != NULL);
  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_image_writer_write_async);
  g_task_set_name (task, "[engine-manager] write image");

  data = g_new0 (WriteData, 1);
  data->frame = em_frame_ref (frame);
  data->format = format;
  data->root = g_strdup (root);
  data->path = g_strdup (path);
  data->metadata_json = g_strdup (metadata_json);
  g_task_set_task_data (task, data, write_data_free);
  /* a cancel after the rename must not hide that the files are there */
  g_task_set_check_cancellable (task, FALSE);

  g_task_run_in_thread (task, write_thread);
}

gboolean
em_image_writer_write_finish (GAsyncResult  *result,
                              gboolean      *out_replaced,
                              GError       **error)
{
  WriteData *data;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_image_writer_write_async), FALSE);

  data = g_task_get_task_data (G_TASK (result));
  if (out_replaced != NULL)
    *out_replaced = data->replaced;
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
discard_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  const char *path = task_data;
  g_autofree char *sidecar = em_image_writer_sidecar_path (path);

  if (g_unlink (path) != 0 && errno != ENOENT)
    g_debug ("cannot remove %s: %s", path, g_strerror (errno));
  if (g_unlink (sidecar) != 0 && errno != ENOENT)
    g_debug ("cannot remove %s: %s", sidecar, g_strerror (errno));
  g_task_return_boolean (task, TRUE);
}

void
em_image_writer_discard_async (const char          *path,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (task, em_image_writer_discard_async);
  g_task_set_name (task, "[engine-manager] discard image");
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, discard_thread);
}

void
em_image_writer_discard_finish (GAsyncResult *result)
{
  g_return_if_fail (g_task_is_valid (result, NULL));
  g_return_if_fail (g_async_result_is_tagged (result, em_image_writer_discard_async));

  g_task_propagate_boolean (G_TASK (result), NULL);
}
