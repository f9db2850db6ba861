#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

/* the engine builds one context per run and frees it when the run callback has run */
EmActionContext *em_action_context_new  (EmDeviceSet    *devices,
                                         const char     *task_id,
                                         const char     *data_dir,
                                         EmProgressFunc  progress,
                                         gpointer        progress_data);
void             em_action_context_free (EmActionContext *context);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmActionContext, em_action_context_free)

G_END_DECLS
