#pragma once

#include <gio/gio.h>

#include "engine/em-action.h"

G_BEGIN_DECLS

/**
 * EmStagePosition:
 * @x: micrometres
 * @y: micrometres
 * @z: micrometres
 */
typedef struct {
  gdouble x;
  gdouble y;
  gdouble z;
} EmStagePosition;

#define EM_TYPE_STAGE (em_stage_get_type ())
G_DECLARE_DERIVABLE_TYPE (EmStage, em_stage, EM, STAGE, GObject)

/**
 * EmStageClass:
 * @move_async: move to @target (already checked against the limits) at @speed µm/s;
 *   report the position with em_stage_update_position() as it changes, and stop
 *   where the stage is when @cancellable fires
 * @move_finish: %TRUE when the stage arrived
 *
 * A motorised XYZ stage. The base class checks targets against the travel limits,
 * allows one move at a time, and keeps the position, which any thread may read.
 */
struct _EmStageClass
{
  GObjectClass parent_class;

  void     (*move_async)  (EmStage               *self,
                           const EmStagePosition *target,
                           gdouble                speed,
                           GCancellable          *cancellable,
                           EmProgressFunc         progress,
                           gpointer               progress_data,
                           GAsyncReadyCallback    callback,
                           gpointer               user_data);
  gboolean (*move_finish) (EmStage               *self,
                           GAsyncResult          *result,
                           GError               **error);

  gpointer padding[8];
};

void     em_stage_move_async        (EmStage               *self,
                                     const EmStagePosition *target,
                                     gdouble                speed,
                                     GCancellable          *cancellable,
                                     EmProgressFunc         progress,
                                     gpointer               progress_data,
                                     GAsyncReadyCallback    callback,
                                     gpointer               user_data);
gboolean em_stage_move_finish       (EmStage               *self,
                                     GAsyncResult          *result,
                                     GError               **error);

void     em_stage_get_position      (EmStage               *self,
                                     EmStagePosition       *out_position);
void     em_stage_get_limits        (EmStage               *self,
                                     EmStagePosition       *out_min,
                                     EmStagePosition       *out_max);
void     em_stage_set_limits        (EmStage               *self,
                                     const EmStagePosition *min,
                                     const EmStagePosition *max);
gdouble  em_stage_get_default_speed (EmStage               *self);
void     em_stage_set_default_speed (EmStage               *self,
                                     gdouble                um_per_s);
gboolean em_stage_is_moving         (EmStage               *self);
gboolean em_stage_check_target      (EmStage               *self,
                                     const EmStagePosition *target,
                                     GError               **error);

/* for implementations, on the main context */
void     em_stage_update_position   (EmStage               *self,
                                     const EmStagePosition *position);

G_END_DECLS
