#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <png.h>
#include <tiffio.h>

#include "actions/em-image-writer.h"
#include "engine/em-error.h"

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

/* the sidecar, written the same careful way as the image */
static gboolean
write_sidecar (const char *path, const char *metadata_json, GError **error)
{
  g_autofree char *sidecar = em_image_writer_sidecar_path (path);
  g_autofree char *text = g_strconcat (metadata_json, "\n", NULL);
  g_autoptr(GError) local_error = NULL;

  if (!g_file_set_contents_full (sidecar, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, &local_error))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot write image metadata %s: %s"),
                   sidecar, local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* an image that was not written leaves no metadata behind: a failed or
 * cancelled capture writes nothing */
static void
discard_sidecar (const char *sidecar)
{
  if (sidecar != NULL && g_unlink (sidecar) != 0)
    g_debug ("cannot remove %s: %s", sidecar, g_strerror (errno));
}

gboolean
em_image_writer_write (EmFrame        *frame,
                       EmImageFormat   format,
                       const char     *path,
                       const char     *metadata_json,
                       GCancellable   *cancellable,
                       GError        **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree char *sidecar = NULL;
  gboolean written;
  int fd;

  g_return_val_if_fail (frame != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  dir = g_path_get_dirname (path);
  base = g_path_get_basename (path);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED, _("Cannot create directory %s: %s"),
                   dir, g_strerror (errno));
      return FALSE;
    }
  /* a reader never sees a half-written image under the final name */
  tmp_path = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0644);
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
  /* the sidecar once the image is safe, before it takes its name: an image
   * under its final name always has its metadata, and an image already there
   * (a retried scan's tile) keeps its own when this one fails */
  if (metadata_json != NULL)
    {
      if (!write_sidecar (path, metadata_json, error))
        {
          g_unlink (tmp_path);
          return FALSE;
        }
      sidecar = em_image_writer_sidecar_path (path);
    }
  if (g_rename (tmp_path, path) != 0)
    {
      set_errno_error (error, path, errno);
      g_unlink (tmp_path);
      discard_sidecar (sidecar);
      return FALSE;
    }
  fsync_directory (dir);
  return TRUE;
}

typedef struct
{
  EmFrame       *frame;
  EmImageFormat  format;
  char          *path;
  char          *metadata_json;
} WriteData;

static void
write_data_free (gpointer data)
{
  WriteData *write_data = data;

  em_frame_unref (write_data->frame);
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

  if (!em_image_writer_write (data->frame, data->format, data->path, data->metadata_json,
                              cancellable, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

void
em_image_writer_write_async (EmFrame             *frame,
                             EmImageFormat        format,
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
  data->path = g_strdup (path);
  data->metadata_json = g_strdup (metadata_json);
  g_task_set_task_data (task, data, write_data_free);
  /* a cancel after the rename must not hide that the files are there */
  g_task_set_check_cancellable (task, FALSE);

  g_task_run_in_thread (task, write_thread);
}

gboolean
em_image_writer_write_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_image_writer_write_async), FALSE);

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
