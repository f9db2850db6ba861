#pragma once

#include <gio/gio.h>

#include "engine/em-action.h"

G_BEGIN_DECLS

#define EM_TYPE_FOCUS (em_focus_get_type ())
G_DECLARE_DERIVABLE_TYPE (EmFocus, em_focus, EM, FOCUS, GObject)

/**
 * EmFocusClass:
 * @move_async: move to @target µm (already checked against the limits) at @speed
 *   µm/s; report the position with em_focus_update_position() as it changes, and
 *   stop where the drive is when @cancellable fires
 * @move_finish: %TRUE when the drive arrived
 *
 * A focus drive with one axis. The base class checks targets against the travel
 * limits, allows one move at a time, and keeps the position, which any thread may
 * read.
 */
struct _EmFocusClass
{
  GObjectClass parent_class;

  void     (*move_async)  (EmFocus             *self,
                           gdouble              target,
                           gdouble              speed,
                           GCancellable        *cancellable,
                           EmProgressFunc       progress,
                           gpointer             progress_data,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data);
  gboolean (*move_finish) (EmFocus             *self,
                           GAsyncResult        *result,
                           GError             **error);

  gpointer padding[8];
};

void     em_focus_move_async        (EmFocus             *self,
                                     gdouble              target,
                                     gdouble              speed,
                                     GCancellable        *cancellable,
                                     EmProgressFunc       progress,
                                     gpointer             progress_data,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
gboolean em_focus_move_finish       (EmFocus             *self,
                                     GAsyncResult        *result,
                                     GError             **error);

gdouble  em_focus_get_position      (EmFocus             *self);
void     em_focus_get_limits        (EmFocus             *self,
                                     gdouble             *out_min,
                                     gdouble             *out_max);
void     em_focus_set_limits        (EmFocus             *self,
                                     gdouble              min,
                                     gdouble              max);
gdouble  em_focus_get_default_speed (EmFocus             *self);
void     em_focus_set_default_speed (EmFocus             *self,
                                     gdouble              um_per_s);
gboolean em_focus_is_moving         (EmFocus             *self);
gboolean em_focus_check_target      (EmFocus             *self,
                                     gdouble              target,
                                     GError             **error);

/* for implementations, on the main context */
void     em_focus_update_position   (EmFocus             *self,
                                     gdouble              position);

G_END_DECLS
