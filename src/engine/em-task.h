#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * EmTaskStatus:
 * @EM_TASK_STATUS_PENDING: scheduled, not started yet
 * @EM_TASK_STATUS_RUNNING: its action is running
 * @EM_TASK_STATUS_COMPLETED: finished with a result
 * @EM_TASK_STATUS_FAILED: finished with an error
 * @EM_TASK_STATUS_CANCELLED: cancelled before it finished
 */
typedef enum {
  EM_TASK_STATUS_PENDING,   /*< nick=pending >*/
  EM_TASK_STATUS_RUNNING,   /*< nick=running >*/
  EM_TASK_STATUS_COMPLETED, /*< nick=completed >*/
  EM_TASK_STATUS_FAILED,    /*< nick=failed >*/
  EM_TASK_STATUS_CANCELLED, /*< nick=cancelled >*/
} EmTaskStatus;

#define EM_TASK_STATUS_N_STATUSES (EM_TASK_STATUS_CANCELLED + 1)

#define EM_TYPE_TASK (em_task_get_type ())
G_DECLARE_FINAL_TYPE (EmTask, em_task, EM, TASK, GObject)

const char   *em_task_get_id           (EmTask *self);
const char   *em_task_get_name         (EmTask *self);
const char   *em_task_get_action       (EmTask *self);
JsonObject   *em_task_get_parameters   (EmTask *self);
EmTaskStatus  em_task_get_status       (EmTask *self);
JsonObject   *em_task_get_result       (EmTask *self);
const char   *em_task_get_error        (EmTask *self);
GDateTime    *em_task_get_created_at   (EmTask *self);
GDateTime    *em_task_get_started_at   (EmTask *self);
GDateTime    *em_task_get_completed_at (EmTask *self);
gdouble       em_task_get_progress     (EmTask *self);
gint          em_task_get_priority     (EmTask *self);
const char * const *em_task_get_depends_on (EmTask *self);
const char * const *em_task_get_waiting_on (EmTask *self);
const char * const *em_task_get_waiting_for (EmTask *self);
guint         em_task_get_max_retries  (EmTask *self);
gdouble       em_task_get_retry_delay  (EmTask *self);
guint         em_task_get_attempts     (EmTask *self);
GDateTime    *em_task_get_run_at       (EmTask *self);
gdouble       em_task_get_timeout      (EmTask *self);
const char   *em_task_get_batch        (EmTask *self);
guint64       em_task_get_serial       (EmTask *self);
gboolean      em_task_is_finished      (EmTask *self);

/* a tree of its own, sharing nothing with the task: it may be read and freed
 * on another thread */
JsonNode     *em_task_to_json          (EmTask *self);
/* json_to_string (em_task_to_json (), FALSE), without building a tree */
char         *em_task_to_json_string   (EmTask *self);
/* the same text into @out, which must be empty (em_json_write_key() places
 * its commas by the length written so far) */
void          em_task_write_json       (EmTask  *self,
                                        GString *out);
GVariant     *em_task_to_variant       (EmTask *self);

/* a copy of what em_task_write_json() writes, taken on the loop and written
 * out on any thread: it holds no json-glib object (their reference counts
 * are not atomic), only copies and atomically counted GBytes and GDateTime */
typedef struct _EmTaskState EmTaskState;

EmTaskState  *em_task_dup_state        (EmTask            *self);
GDateTime    *em_task_state_get_created_at (const EmTaskState *state);
/* @out must be empty, as for em_task_write_json() */
void          em_task_state_write_json (const EmTaskState *state,
                                        GString           *out);
void          em_task_state_free       (EmTaskState       *state);

const char   *em_task_status_to_string   (EmTaskStatus status);
gboolean      em_task_status_from_string (const char   *text,
                                          EmTaskStatus *out_status);

G_END_DECLS
