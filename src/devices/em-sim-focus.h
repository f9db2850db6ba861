#pragma once

#include "devices/em-focus.h"

G_BEGIN_DECLS

#define EM_TYPE_SIM_FOCUS (em_sim_focus_get_type ())
G_DECLARE_FINAL_TYPE (EmSimFocus, em_sim_focus, EM, SIM_FOCUS, EmFocus)

/* starts at 0 µm; travel 0–10 000 µm; 500 µm/s */
EmFocus *em_sim_focus_new (void);

G_END_DECLS
