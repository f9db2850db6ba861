#pragma once

#include "engine/em-task.h"

G_BEGIN_DECLS

/* only the engine changes a task; transports read it and watch notify:: */
EmTask *em_task_new            (guint64      serial,
                                const char  *name,
                                const char  *action,
                                JsonObject  *parameters);
/* a task as the store kept it (its em_task_to_json() form); `waiting_for` is
 * left empty, the scheduler sets it again */
EmTask *em_task_new_from_json  (guint64      serial,
                                JsonObject  *object,
                                GError     **error);
void    em_task_set_schedule   (EmTask      *self,
                                gint         priority,
                                const char * const *depends_on,
                                guint        max_retries,
                                gdouble      retry_delay,
                                gdouble      timeout,
                                const char  *batch);
/* TRUE when the list changed */
gboolean em_task_set_waiting_on (EmTask      *self,
                                 const char * const *ids);
void    em_task_set_waiting_for (EmTask     *self,
                                 const char * const *devices);
/* the start time asked at submission */
void    em_task_set_run_at     (EmTask      *self,
                                GDateTime   *run_at);
void    em_task_mark_running   (EmTask      *self);
/* back to pending after a failed attempt, to run again at @run_at; `run_at`
 * shows it until the retry starts */
void    em_task_mark_retrying  (EmTask      *self,
                                GDateTime   *run_at);
void    em_task_mark_completed (EmTask      *self,
                                JsonObject  *result);
void    em_task_mark_failed    (EmTask      *self,
                                const char  *error);
void    em_task_mark_cancelled (EmTask      *self);
void    em_task_set_progress   (EmTask      *self,
                                gdouble      progress);
/* the engine's record of the task while the task is in its memory, NULL
 * before and after: found from an event without a lookup by id */
void        em_task_set_engine_entry (EmTask   *self,
                                      gpointer  entry);
gpointer    em_task_get_engine_entry (EmTask   *self);
/* about the bytes its parameters, result and error take, as trees and as
 * the text made of them once (as for the store's rows): what a finished
 * task costs to keep */
gsize       em_task_get_memory_size (EmTask *self);
/* (nullable) the result as JSON text, made once */
const char *em_task_get_result_json (EmTask *self,
                                     gsize  *length);

G_END_DECLS
