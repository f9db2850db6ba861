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

/* encodes @frame and writes it to @path durably: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. Blocks: workers only. */
gboolean    em_image_writer_write          (EmFrame        *frame,
                                            EmImageFormat   format,
                                            const char     *path,
                                            GCancellable   *cancellable,
                                            GError        **error);

/* the same in a worker thread; creates the directory if needed */
void        em_image_writer_write_async    (EmFrame             *frame,
                                            EmImageFormat        format,
                                            const char          *path,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
gboolean    em_image_writer_write_finish   (GAsyncResult        *result,
                                            GError             **error);

G_END_DECLS
