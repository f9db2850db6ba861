#pragma once

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/* schedules the task @json describes and cancels it at once: the error the
 * submission was refused with, or NULL if it was taken */
GError *em_test_schedule_error (EmEngineManager *manager,
                                const char      *json);

G_END_DECLS
