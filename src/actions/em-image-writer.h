#pragma once

#include <gio/gio.h>

#include "devices/em-frame.h"

G_BEGIN_DECLS

typedef enum {
  EM_IMAGE_FORMAT_PNG,
  EM_IMAGE_FORMAT_TIFF,
} EmImageFormat;

/* "png" or "tiff", which is also the file extension */
const char *em_image_format_to_string      (EmImageFormat   format);
gboolean    em_image_format_from_string    (const char     *text,
                                            EmImageFormat  *out_format);

/* where the metadata of the image at @path goes: the same name ending in .json */
char       *em_image_writer_sidecar_path   (const char     *path);

/* encodes @frame and writes it to @path durably: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. With @metadata_json (a JSON
 * object as text), also writes it to the sidecar file (its own temporary, renamed
 * just before the image), and into a TIFF's ImageDescription; a TIFF also gets
 * XResolution/YResolution in pixels per cm from the frame's pixel size, DateTime
 * (UTC) and Software. A failure, or a cancel before the renames, leaves an image
 * and sidecar already there as they were. Blocks: workers only. */
gboolean    em_image_writer_write          (EmFrame        *frame,
                                            EmImageFormat   format,
                                            const char     *path,
                                            const char     *metadata_json,
                                            GCancellable   *cancellable,
                                            GError        **error);

/* the same in a worker thread; creates the directory if needed, and every
 * one from @root (nullable: the image's own only) down to it, each a real
 * directory or a link the service's user or root made. A write that
 * completed is reported as such even when @cancellable fired meanwhile: the
 * caller then knows the files are there, and from @out_replaced whether they
 * took the place of an earlier image (which is then gone) */
void        em_image_writer_write_async    (EmFrame             *frame,
                                            EmImageFormat        format,
                                            const char          *root,
                                            const char          *path,
                                            const char          *metadata_json,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
gboolean    em_image_writer_write_finish   (GAsyncResult        *result,
                                            gboolean            *out_replaced,
                                            GError             **error);

/* removes the image at @path and its sidecar in a worker thread; never
 * cancelled, as it cleans up after a cancel */
void        em_image_writer_discard_async  (const char          *path,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
void        em_image_writer_discard_finish (GAsyncResult        *result);

/* tests only: @hook runs in the writing thread between the steps of a write,
 * named by @step ("directory-synced": a directory the write created is in its
 * parent for good; "sidecar-synced": both temporaries are durable, nothing is
 * renamed yet; "renamed": both files have their names), so that a test can
 * cancel at that very point */
typedef void (*EmImageWriterTestHook) (const char *step, gpointer user_data);
void        em_image_writer_set_test_hook  (EmImageWriterTestHook  hook,
                                            gpointer               user_data);
/* tests only: swapping the sidecar with the earlier one fails with @errnum,
 * as on a file system without RENAME_EXCHANGE (EINVAL); 0 swaps again */
void        em_image_writer_set_test_exchange_errno (int errnum);

G_END_DECLS
