#pragma once

#include "engine/em-task.h"

G_BEGIN_DECLS

/* only the engine changes a task; transports read it and watch notify:: */
EmTask *em_task_new            (guint64      serial,
                                const char  *name,
                                const char  *action,
                                JsonObject  *parameters);
void    em_task_mark_running   (EmTask      *self);
void    em_task_mark_completed (EmTask      *self,
                                JsonObject  *result);
void    em_task_mark_failed    (EmTask      *self,
                                const char  *error);
void    em_task_mark_cancelled (EmTask      *self);
void    em_task_set_progress   (EmTask      *self,
                                gdouble      progress);

G_END_DECLS
