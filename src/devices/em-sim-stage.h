#pragma once

#include "devices/em-stage.h"

G_BEGIN_DECLS

#define EM_TYPE_SIM_STAGE (em_sim_stage_get_type ())
G_DECLARE_FINAL_TYPE (EmSimStage, em_sim_stage, EM, SIM_STAGE, EmStage)

/* starts at the origin; travel ±50 000 µm in x and y, 0–10 000 µm in z; 1000 µm/s */
EmStage *em_sim_stage_new (void);

G_END_DECLS
