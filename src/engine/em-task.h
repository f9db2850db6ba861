#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "engine/em-arena.h"

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

/* what em_task_write_json() writes, as plain values: taken on the loop into an
 * arena (em_task_snapshot_new()) and written out on any thread, while the task
 * changes or goes. It holds no json-glib object (their reference counts are
 * not atomic): only copies, all in the arena, but for a large result's text
 * with em_task_snapshot_new_sharing() */
#define EM_TASK_NO_TIME G_MININT64

typedef struct {
  const char   *head;            /* `{"id":…,"parameters":…`, not nul-terminated */
  gsize         head_length;
  EmTaskStatus  status;
  const char   *result;          /* (nullable) the result object's text */
  gsize         result_length;
  const char   *error;
  gint64        created_us;      /* since the epoch; EM_TASK_NO_TIME when unset */
  gint64        started_us;
  gint64        completed_us;
  gint64        run_at_us;
  gdouble       progress;
  gint          priority;
  char        **depends_on;      /* NULL for an empty list */
  char        **waiting_on;
  char        **waiting_for;
  guint         max_retries;
  gdouble       retry_delay;
  guint         attempts;
  gdouble       timeout;
  const char   *batch;
} EmTaskSnapshot;

EmTaskSnapshot *em_task_snapshot_new        (EmTask               *self,
                                             EmArena              *arena);
/* the same, but a result of @min_shared bytes or more is not copied: the
 * snapshot points into @out_result, a reference to the task's own text,
 * which the caller keeps as long as the snapshot (NULL when copied) */
EmTaskSnapshot *em_task_snapshot_new_sharing (EmTask               *self,
                                              EmArena              *arena,
                                              gsize                 min_shared,
                                              GBytes              **out_result);
/* @out must be empty, as for em_task_write_json() */
void            em_task_snapshot_write_json (const EmTaskSnapshot *snapshot,
                                             GString              *out);

const char   *em_task_status_to_string   (EmTaskStatus status);
gboolean      em_task_status_from_string (const char   *text,
                                          EmTaskStatus *out_status);

G_END_DECLS
