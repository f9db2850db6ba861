#pragma once

#include "engine/em-task.h"

G_BEGIN_DECLS

typedef enum {
  EM_EVENT_TASK_SCHEDULED,
  EM_EVENT_TASK_STARTED,
  EM_EVENT_TASK_PROGRESS,
  EM_EVENT_TASK_COMPLETED,
  EM_EVENT_TASK_FAILED,
  EM_EVENT_TASK_CANCELLED,
  EM_EVENT_TASK_RETRYING,
  EM_EVENT_QUEUE_PAUSED,
  EM_EVENT_QUEUE_RESUMED,
} EmEventType;

/**
 * EmEvent:
 *
 * One state change as every client sees it: a type, the task, and a sequence
 * number that grows by one per event, so a client can tell whether it missed any.
 * Immutable once emitted; refcounted so adapters can queue it.
 */
typedef struct _EmEvent EmEvent;

#define EM_TYPE_EVENT (em_event_get_type ())
GType        em_event_get_type      (void) G_GNUC_CONST;

/* @task: (nullable): %NULL for queue events */
EmEvent     *em_event_new           (EmEventType  type,
                                     guint64      seq,
                                     EmTask      *task);
/* a failed attempt that will be tried again at @retry_at */
EmEvent     *em_event_new_retrying  (guint64      seq,
                                     EmTask      *task,
                                     guint        attempt,
                                     const char  *error,
                                     GDateTime   *retry_at);
EmEvent     *em_event_ref           (EmEvent     *self);
void         em_event_unref         (EmEvent     *self);

EmEventType  em_event_get_event_type (EmEvent    *self);
const char  *em_event_get_type_name  (EmEvent    *self);
guint64      em_event_get_seq        (EmEvent    *self);
EmTask      *em_event_get_task       (EmEvent    *self);
/* the task's progress when the event happened */
gdouble      em_event_get_progress   (EmEvent    *self);
guint        em_event_get_attempt    (EmEvent    *self);
const char  *em_event_get_error      (EmEvent    *self);
GDateTime   *em_event_get_timestamp  (EmEvent    *self);

JsonNode    *em_event_to_json        (EmEvent    *self);
char        *em_event_to_json_string (EmEvent    *self);
/* (transfer none) the exact frame of em_event_to_json_string(), without the
 * trailing nul; made on first use, so call it on the main context */
GBytes      *em_event_get_json_bytes (EmEvent    *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmEvent, em_event_unref)

G_END_DECLS
