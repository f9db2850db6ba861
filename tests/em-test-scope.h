#pragma once

#include <json-glib/json-glib.h>

#include "devices/em-device-set.h"
#include "engine/em-action.h"

G_BEGIN_DECLS

/* a microscope for tests: a camera on @description (emsimsrc by default), a
 * simulated stage and focus, handed together to an EmDeviceSet */
typedef struct
{
  EmCamera    *camera;
  EmStage     *stage;
  EmFocus     *focus;
  EmDeviceSet *devices;
  char        *data_dir;
} EmTestScope;

void        em_test_scope_init         (EmTestScope  *scope,
                                        const char   *description,
                                        guint         width,
                                        guint         height);
void        em_test_scope_clear        (EmTestScope  *scope);

/* quick moves (10 mm/s), waited for on the main loop */
void        em_test_scope_move_stage   (EmTestScope  *scope,
                                        gdouble       x,
                                        gdouble       y);
void        em_test_scope_move_focus   (EmTestScope  *scope,
                                        gdouble       position);
EmFrame    *em_test_scope_capture      (EmTestScope  *scope,
                                        gdouble       exposure_ms,
                                        gdouble       gain);
/* where the emsimsrc in the camera is sharp at (x, y) */
gdouble     em_test_scope_focal_plane  (EmTestScope  *scope,
                                        gdouble       x,
                                        gdouble       y);

/* runs @action with @json; cancels once the progress reaches @cancel_at (> 1:
 * never); the progress values go to @progress when not %NULL */
JsonObject *em_test_scope_run_action   (EmTestScope  *scope,
                                        EmAction     *action,
                                        const char   *task_id,
                                        const char   *json,
                                        gdouble       cancel_at,
                                        GArray       *progress,
                                        GError      **error);

/* luminance of @frame in 0..1, tightly packed */
gfloat     *em_test_frame_luminance    (EmFrame      *frame);

G_END_DECLS
