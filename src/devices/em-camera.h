#pragma once

#include <gio/gio.h>

#include "devices/em-focus.h"
#include "devices/em-frame.h"
#include "devices/em-stage.h"
#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_CAMERA (em_camera_get_type ())
G_DECLARE_DERIVABLE_TYPE (EmCamera, em_camera, EM, CAMERA, GObject)

/**
 * EmCameraClass:
 * @capture_async: take the next frame exposed for @exposure_ms with @gain (both
 *   already checked); report the exposure elapsed through @progress; abandon the
 *   capture when @cancellable fires
 * @capture_finish: the frame (transfer full), with the settings it was taken
 *   with and whether the source applied them, or %NULL with @error set
 * @attach_devices: the stage and focus drive the camera looks through; a
 *   simulated camera renders what they point at, a real one may ignore them.
 *   Optional.
 *
 * A camera. The base class checks the settings and allows one capture at a time.
 */
struct _EmCameraClass
{
  GObjectClass parent_class;

  void      (*capture_async)  (EmCamera            *self,
                               gdouble              exposure_ms,
                               gdouble              gain,
                               GCancellable        *cancellable,
                               EmProgressFunc       progress,
                               gpointer             progress_data,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data);
  EmFrame * (*capture_finish) (EmCamera            *self,
                               GAsyncResult        *result,
                               GError             **error);
  void      (*attach_devices) (EmCamera            *self,
                               EmStage             *stage,
                               EmFocus             *focus);

  gpointer padding[7];
};

void      em_camera_capture_async  (EmCamera            *self,
                                    gdouble              exposure_ms,
                                    gdouble              gain,
                                    GCancellable        *cancellable,
                                    EmProgressFunc       progress,
                                    gpointer             progress_data,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
EmFrame  *em_camera_capture_finish (EmCamera            *self,
                                    GAsyncResult        *result,
                                    GError             **error);
gboolean  em_camera_is_capturing   (EmCamera            *self);
/* (nullable) @stage and @focus: EmDeviceSet calls this for the devices it holds */
void      em_camera_attach_devices (EmCamera            *self,
                                    EmStage             *stage,
                                    EmFocus             *focus);

G_END_DECLS
