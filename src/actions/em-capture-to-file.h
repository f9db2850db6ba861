#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "actions/em-image-writer.h"
#include "devices/em-device-set.h"

G_BEGIN_DECLS

/**
 * em_capture_to_file_async:
 * @devices: the camera takes the frame; the stage and focus, when present, give
 *   the positions recorded with it
 * @images_dir: (nullable): the images directory @path lies in, or below: each
 *   directory from it down to @path's is checked before anything is written
 * @path: the image file; the metadata goes next to it (em_image_writer_sidecar_path())
 * @progress: (nullable): the exposure elapsed, scaled to 0..0.9, then 1 when written
 *
 * Captures one frame and writes it with its metadata; encoding and writing run
 * in a worker thread. Nothing stays written when @cancellable fires before the
 * result is returned, even after the image took its name. The result is the image metadata (em_image_metadata_new()) plus
 * `path`, `format` and `metadata_path`.
 */
void        em_capture_to_file_async  (EmDeviceSet         *devices,
                                       gdouble              exposure_ms,
                                       gdouble              gain,
                                       EmImageFormat        format,
                                       const char          *images_dir,
                                       const char          *path,
                                       GCancellable        *cancellable,
                                       EmProgressFunc       progress,
                                       gpointer             progress_data,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
/* Returns: (transfer full): the result object, or %NULL with @error set */
JsonObject *em_capture_to_file_finish (GAsyncResult        *result,
                                       GError             **error);

G_END_DECLS
