#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* called on the main context at every tick with the current position of each axis
 * and the fraction of the distance covered */
typedef void (*EmSimMotionStepFunc) (const gdouble *position,
                                     gdouble        fraction,
                                     gpointer       user_data);

void     em_sim_motion_run_async  (gpointer             source_object,
                                   guint                n_axes,
                                   const gdouble       *start,
                                   const gdouble       *target,
                                   gdouble              speed,
                                   GCancellable        *cancellable,
                                   EmSimMotionStepFunc  step,
                                   gpointer             step_data,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data);
gboolean em_sim_motion_run_finish (GAsyncResult        *result,
                                   GError             **error);

G_END_DECLS
