#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-error.h"

#include "engine/em-enum-types.h"
#include "engine/em-json-size.h"
#include "engine/em-json-variant.h"
#include "engine/em-json-writer.h"
#include "engine/em-task-private.h"
#include "engine/em-time.h"
#include "engine/em-uuid.h"

/* everything a task's JSON shows: the part that never changes as text, the
 * rest as values. Written out on any thread from a snapshot (em_task_snapshot_new()) */
typedef struct _EmTaskState EmTaskState;

struct _EmTaskState
{
  char         *head;         /* `{"id":…,"parameters":…`: these never change */
  gsize         head_length;
  EmTaskStatus  status;
  char         *result_json;  /* (nullable) the result, made on first use, in: */
  GBytes       *result_bytes;
  gsize         result_length;
  char         *error;
  GDateTime    *created_at;
  GDateTime    *started_at;
  GDateTime    *completed_at;
  gdouble       progress;
  gint          priority;
  GStrv         depends_on;
  GStrv         waiting_on;
  guint         max_retries;
  gdouble       retry_delay;
  guint         attempts;
  GDateTime    *run_at;
  gdouble       timeout;
  GStrv         waiting_for;
  char         *batch;
};

struct _EmTask
{
  GObject       parent_instance;

  guint64       serial;
  char         *id;
  char         *name;
  char         *action;
  JsonObject   *parameters;
  JsonObject   *result;
  EmTaskState   state;
  GDateTime    *asked_run_at;  /* as submitted: `run_at` shows a retry's time
                                * only while the retry waits */
  gpointer      engine_entry;  /* unowned */
};

G_DEFINE_FINAL_TYPE (EmTask, em_task, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_NAME,
  PROP_ACTION,
  PROP_PARAMETERS,
  PROP_STATUS,
  PROP_RESULT,
  PROP_ERROR,
  PROP_CREATED_AT,
  PROP_STARTED_AT,
  PROP_COMPLETED_AT,
  PROP_PROGRESS,
  PROP_PRIORITY,
  PROP_DEPENDS_ON,
  PROP_WAITING_ON,
  PROP_MAX_RETRIES,
  PROP_RETRY_DELAY,
  PROP_ATTEMPTS,
  PROP_RUN_AT,
  PROP_TIMEOUT,
  PROP_WAITING_FOR,
  PROP_BATCH,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
state_clear (EmTaskState *state)
{
  g_clear_pointer (&state->head, g_free);
  state->result_json = NULL;
  g_clear_pointer (&state->result_bytes, g_bytes_unref);
  g_clear_pointer (&state->error, g_free);
  g_clear_pointer (&state->created_at, g_date_time_unref);
  g_clear_pointer (&state->started_at, g_date_time_unref);
  g_clear_pointer (&state->completed_at, g_date_time_unref);
  g_clear_pointer (&state->run_at, g_date_time_unref);
  g_clear_pointer (&state->depends_on, g_strfreev);
  g_clear_pointer (&state->waiting_on, g_strfreev);
  g_clear_pointer (&state->waiting_for, g_strfreev);
  g_clear_pointer (&state->batch, g_free);
}

static void
em_task_finalize (GObject *object)
{
  EmTask *self = EM_TASK (object);

  g_free (self->id);
  g_free (self->name);
  g_free (self->action);
  g_clear_pointer (&self->parameters, json_object_unref);
  g_clear_pointer (&self->result, json_object_unref);
  g_clear_pointer (&self->asked_run_at, g_date_time_unref);
  state_clear (&self->state);

  G_OBJECT_CLASS (em_task_parent_class)->finalize (object);
}

static void
em_task_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  EmTask *self = EM_TASK (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_ACTION:
      g_value_set_string (value, self->action);
      break;
    case PROP_PARAMETERS:
      g_value_set_boxed (value, self->parameters);
      break;
    case PROP_STATUS:
      g_value_set_enum (value, self->state.status);
      break;
    case PROP_RESULT:
      g_value_set_boxed (value, self->result);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->state.error);
      break;
    case PROP_CREATED_AT:
      g_value_set_boxed (value, self->state.created_at);
      break;
    case PROP_STARTED_AT:
      g_value_set_boxed (value, self->state.started_at);
      break;
    case PROP_COMPLETED_AT:
      g_value_set_boxed (value, self->state.completed_at);
      break;
    case PROP_PROGRESS:
      g_value_set_double (value, self->state.progress);
      break;
    case PROP_PRIORITY:
      g_value_set_int (value, self->state.priority);
      break;
    case PROP_DEPENDS_ON:
      g_value_set_boxed (value, self->state.depends_on);
      break;
    case PROP_WAITING_ON:
      g_value_set_boxed (value, self->state.waiting_on);
      break;
    case PROP_MAX_RETRIES:
      g_value_set_uint (value, self->state.max_retries);
      break;
    case PROP_RETRY_DELAY:
      g_value_set_double (value, self->state.retry_delay);
      break;
    case PROP_ATTEMPTS:
      g_value_set_uint (value, self->state.attempts);
      break;
    case PROP_RUN_AT:
      g_value_set_boxed (value, self->state.run_at);
      break;
    case PROP_TIMEOUT:
      g_value_set_double (value, self->state.timeout);
      break;
    case PROP_WAITING_FOR:
      g_value_set_boxed (value, self->state.waiting_for);
      break;
    case PROP_BATCH:
      g_value_set_string (value, self->state.batch);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_task_class_init (EmTaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = em_task_finalize;
  object_class->get_property = em_task_get_property;

  properties[PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL, ro);
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, ro);
  properties[PROP_ACTION] = g_param_spec_string ("action", NULL, NULL, NULL, ro);
  properties[PROP_PARAMETERS] = g_param_spec_boxed ("parameters", NULL, NULL, JSON_TYPE_OBJECT, ro);
  properties[PROP_STATUS] = g_param_spec_enum ("status", NULL, NULL, EM_TYPE_TASK_STATUS,
                                               EM_TASK_STATUS_PENDING, ro);
  properties[PROP_RESULT] = g_param_spec_boxed ("result", NULL, NULL, JSON_TYPE_OBJECT, ro);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, ro);
  properties[PROP_CREATED_AT] = g_param_spec_boxed ("created-at", NULL, NULL, G_TYPE_DATE_TIME, ro);
  properties[PROP_STARTED_AT] = g_param_spec_boxed ("started-at", NULL, NULL, G_TYPE_DATE_TIME, ro);
  properties[PROP_COMPLETED_AT] = g_param_spec_boxed ("completed-at", NULL, NULL, G_TYPE_DATE_TIME, ro);
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0.0, 1.0, 0.0, ro);
  properties[PROP_PRIORITY] = g_param_spec_int ("priority", NULL, NULL, G_MININT, G_MAXINT, 0, ro);
  properties[PROP_DEPENDS_ON] = g_param_spec_boxed ("depends-on", NULL, NULL, G_TYPE_STRV, ro);
  properties[PROP_WAITING_ON] = g_param_spec_boxed ("waiting-on", NULL, NULL, G_TYPE_STRV, ro);
  properties[PROP_MAX_RETRIES] = g_param_spec_uint ("max-retries", NULL, NULL, 0, G_MAXUINT, 0, ro);
  properties[PROP_RETRY_DELAY] = g_param_spec_double ("retry-delay", NULL, NULL, 0, G_MAXDOUBLE, 0, ro);
  properties[PROP_ATTEMPTS] = g_param_spec_uint ("attempts", NULL, NULL, 0, G_MAXUINT, 0, ro);
  properties[PROP_RUN_AT] = g_param_spec_boxed ("run-at", NULL, NULL, G_TYPE_DATE_TIME, ro);
  properties[PROP_TIMEOUT] = g_param_spec_double ("timeout", NULL, NULL, 0, G_MAXDOUBLE, 0, ro);
  properties[PROP_WAITING_FOR] = g_param_spec_boxed ("waiting-for", NULL, NULL, G_TYPE_STRV, ro);
  properties[PROP_BATCH] = g_param_spec_string ("batch", NULL, NULL, NULL, ro);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_task_init (EmTask *self)
{
  self->state.depends_on = g_new0 (char *, 1);
  self->state.waiting_on = g_new0 (char *, 1);
  self->state.waiting_for = g_new0 (char *, 1);
}

EmTask *
em_task_new (guint64     serial,
             const char *name,
             const char *action,
             JsonObject *parameters)
{
  EmTask *self = g_object_new (EM_TYPE_TASK, NULL);

  self->serial = serial;
  self->id = em_uuid_string_random ();
  self->name = g_strdup (name);
  self->action = g_strdup (action);
  self->parameters = parameters != NULL ? json_object_ref (parameters) : NULL;
  self->state.created_at = em_time_now ();
  return self;
}

/* stored rows are our own output, but a hand-edited or older one must not crash */
static JsonNode *
value_member (JsonObject *object, const char *key)
{
  JsonNode *node = json_object_get_member (object, key);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) ? node : NULL;
}

static const char *
string_member (JsonObject *object, const char *key)
{
  JsonNode *node = value_member (object, key);

  return node != NULL && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

static gdouble
double_member (JsonObject *object, const char *key)
{
  JsonNode *node = value_member (object, key);

  return node != NULL ? json_node_get_double (node) : 0.0;
}

static gint64
int_member (JsonObject *object, const char *key)
{
  JsonNode *node = value_member (object, key);

  return node != NULL ? json_node_get_int (node) : 0;
}

static char **
strv_member (JsonObject *object, const char *key)
{
  JsonNode *node = json_object_get_member (object, key);
  JsonArray *array = node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      const char *value = json_array_get_string_element (array, i);

      if (value != NULL)
        g_strv_builder_add (builder, value);
    }
  return g_strv_builder_end (builder);
}

static GDateTime *
time_member (JsonObject *object, const char *key)
{
  return em_time_parse (string_member (object, key));
}

static JsonObject *
object_member (JsonObject *object, const char *key)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  json_object_seal (json_node_get_object (node));
  return json_object_ref (json_node_get_object (node));
}

EmTask *
em_task_new_from_json (guint64 serial, JsonObject *object, GError **error)
{
  g_autoptr(EmTask) self = NULL;
  const char *id = string_member (object, "id");
  const char *status = string_member (object, "status");
  EmTaskStatus value;

  if (id == NULL || string_member (object, "name") == NULL ||
      string_member (object, "action") == NULL ||
      !em_task_status_from_string (status, &value))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("stored task %llu lacks its id, name, action or status"),
                   (unsigned long long) serial);
      return NULL;
    }

  self = g_object_new (EM_TYPE_TASK, NULL);
  self->serial = serial;
  self->id = g_strdup (id);
  self->state.status = value;
  self->name = g_strdup (string_member (object, "name"));
  self->action = g_strdup (string_member (object, "action"));
  self->parameters = object_member (object, "parameters");
  self->result = object_member (object, "result");
  self->state.error = g_strdup (string_member (object, "error"));
  self->state.created_at = time_member (object, "created_at");
  if (self->state.created_at == NULL)
    self->state.created_at = em_time_now ();
  self->state.started_at = time_member (object, "started_at");
  self->state.completed_at = time_member (object, "completed_at");
  self->state.progress = double_member (object, "progress");
  self->state.priority = int_member (object, "priority");
  g_strfreev (self->state.depends_on);
  self->state.depends_on = strv_member (object, "depends_on");
  g_strfreev (self->state.waiting_on);
  self->state.waiting_on = strv_member (object, "waiting_on");
  self->state.max_retries = int_member (object, "max_retries");
  self->state.retry_delay = double_member (object, "retry_delay");
  self->state.attempts = int_member (object, "attempts");
  /* it has started once at least, whatever a hand-edited or very old record
   * says: the stop's failed attempt is numbered from it */
  if (value == EM_TASK_STATUS_RUNNING && self->state.attempts == 0)
    self->state.attempts = 1;
  self->state.run_at = time_member (object, "run_at");
  /* a pending task that has run before waits for a retry: its `run_at` is the
   * retry's, and what was asked at submission is no longer known */
  if (value != EM_TASK_STATUS_PENDING || self->state.attempts == 0)
    self->asked_run_at = self->state.run_at != NULL ? g_date_time_ref (self->state.run_at) : NULL;
  self->state.timeout = double_member (object, "timeout");
  self->state.batch = g_strdup (string_member (object, "batch"));
  return g_steal_pointer (&self);
}

void
em_task_set_schedule (EmTask      *self,
                      gint         priority,
                      const char * const *depends_on,
                      guint        max_retries,
                      gdouble      retry_delay,
                      gdouble      timeout,
                      const char  *batch)
{
  self->state.priority = priority;
  g_strfreev (self->state.depends_on);
  self->state.depends_on = depends_on != NULL ? g_strdupv ((char **) depends_on) : g_new0 (char *, 1);
  self->state.max_retries = max_retries;
  self->state.retry_delay = retry_delay;
  self->state.timeout = timeout;
  g_free (self->state.batch);
  self->state.batch = g_strdup (batch);
}

static gboolean
strv_equal (char **a, char **b)
{
  return g_strv_equal ((const char * const *) a, (const char * const *) b);
}

gboolean
em_task_set_waiting_on (EmTask *self, const char * const *ids)
{
  g_auto(GStrv) copy = ids != NULL ? g_strdupv ((char **) ids) : g_new0 (char *, 1);

  if (strv_equal (copy, self->state.waiting_on))
    return FALSE;
  g_strfreev (self->state.waiting_on);
  self->state.waiting_on = g_steal_pointer (&copy);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WAITING_ON]);
  return TRUE;
}

void
em_task_set_waiting_for (EmTask *self, const char * const *devices)
{
  g_auto(GStrv) copy = devices != NULL ? g_strdupv ((char **) devices) : g_new0 (char *, 1);

  if (strv_equal (copy, self->state.waiting_for))
    return;
  g_strfreev (self->state.waiting_for);
  self->state.waiting_for = g_steal_pointer (&copy);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WAITING_FOR]);
}

static void
set_run_at (EmTask *self, GDateTime *run_at)
{
  if (self->state.run_at == run_at || (self->state.run_at != NULL && run_at != NULL &&
                                 g_date_time_equal (self->state.run_at, run_at)))
    return;
  g_clear_pointer (&self->state.run_at, g_date_time_unref);
  self->state.run_at = run_at != NULL ? g_date_time_ref (run_at) : NULL;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUN_AT]);
}

void
em_task_set_run_at (EmTask *self, GDateTime *run_at)
{
  g_clear_pointer (&self->asked_run_at, g_date_time_unref);
  self->asked_run_at = run_at != NULL ? g_date_time_ref (run_at) : NULL;
  set_run_at (self, run_at);
}

static void
set_status (EmTask *self, EmTaskStatus status)
{
  self->state.status = status;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
}

void
em_task_mark_running (EmTask *self)
{
  g_return_if_fail (self->state.status == EM_TASK_STATUS_PENDING);

  g_object_freeze_notify (G_OBJECT (self));
  g_clear_pointer (&self->state.started_at, g_date_time_unref);
  self->state.started_at = em_time_now ();
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STARTED_AT]);
  self->state.attempts++;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ATTEMPTS]);
  /* a retry's time is spent once it runs */
  set_run_at (self, self->asked_run_at);
  set_status (self, EM_TASK_STATUS_RUNNING);
  g_object_thaw_notify (G_OBJECT (self));
}

void
em_task_mark_retrying (EmTask *self, GDateTime *run_at)
{
  g_return_if_fail (self->state.status == EM_TASK_STATUS_RUNNING);

  g_object_freeze_notify (G_OBJECT (self));
  em_task_set_progress (self, 0.0);
  set_run_at (self, run_at);
  set_status (self, EM_TASK_STATUS_PENDING);
  g_object_thaw_notify (G_OBJECT (self));
}

static void
mark_finished (EmTask *self, EmTaskStatus status)
{
  g_return_if_fail (!em_task_is_finished (self));

  self->state.completed_at = em_time_now ();
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPLETED_AT]);
  /* cancelled while a retry waited: that retry never comes */
  set_run_at (self, self->asked_run_at);
  set_status (self, status);
}

void
em_task_mark_completed (EmTask *self, JsonObject *result)
{
  g_object_freeze_notify (G_OBJECT (self));
  /* a stored task run again may come with the end of an earlier run */
  g_clear_pointer (&self->result, json_object_unref);
  self->result = result != NULL ? json_object_ref (result) : json_object_new ();
  json_object_seal (self->result);
  self->state.result_json = NULL;
  g_clear_pointer (&self->state.result_bytes, g_bytes_unref);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RESULT]);
  em_task_set_progress (self, 1.0);
  mark_finished (self, EM_TASK_STATUS_COMPLETED);
  g_object_thaw_notify (G_OBJECT (self));
}

void
em_task_mark_failed (EmTask *self, const char *error)
{
  g_object_freeze_notify (G_OBJECT (self));
  /* as in em_task_mark_completed() */
  g_free (self->state.error);
  self->state.error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
  mark_finished (self, EM_TASK_STATUS_FAILED);
  g_object_thaw_notify (G_OBJECT (self));
}

void
em_task_mark_cancelled (EmTask *self)
{
  g_object_freeze_notify (G_OBJECT (self));
  mark_finished (self, EM_TASK_STATUS_CANCELLED);
  g_object_thaw_notify (G_OBJECT (self));
}

void
em_task_set_progress (EmTask *self, gdouble progress)
{
  progress = CLAMP (progress, 0.0, 1.0);
  if (progress == self->state.progress)
    return;
  self->state.progress = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
}

const char *
em_task_get_id (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->id;
}

const char *
em_task_get_name (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->name;
}

const char *
em_task_get_action (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->action;
}

JsonObject *
em_task_get_parameters (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->parameters;
}

EmTaskStatus
em_task_get_status (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), EM_TASK_STATUS_PENDING);
  return self->state.status;
}

JsonObject *
em_task_get_result (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->result;
}

const char *
em_task_get_error (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->state.error;
}

GDateTime *
em_task_get_created_at (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->state.created_at;
}

GDateTime *
em_task_get_started_at (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->state.started_at;
}

GDateTime *
em_task_get_completed_at (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->state.completed_at;
}

gdouble
em_task_get_progress (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), 0.0);
  return self->state.progress;
}

gint
em_task_get_priority (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), 0);
  return self->state.priority;
}

const char * const *
em_task_get_depends_on (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return (const char * const *) self->state.depends_on;
}

const char * const *
em_task_get_waiting_on (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return (const char * const *) self->state.waiting_on;
}

const char * const *
em_task_get_waiting_for (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return (const char * const *) self->state.waiting_for;
}

guint
em_task_get_max_retries (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), 0);
  return self->state.max_retries;
}

gdouble
em_task_get_retry_delay (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), 0);
  return self->state.retry_delay;
}

guint
em_task_get_attempts (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), 0);
  return self->state.attempts;
}

GDateTime *
em_task_get_run_at (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->state.run_at;
}

gdouble
em_task_get_timeout (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), 0);
  return self->state.timeout;
}

const char *
em_task_get_batch (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->state.batch;
}

guint64
em_task_get_serial (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), 0);
  return self->serial;
}

gboolean
em_task_is_finished (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), FALSE);
  return self->state.status >= EM_TASK_STATUS_COMPLETED;
}

const char *
em_task_status_to_string (EmTaskStatus status)
{
  static const char *names[] = { "pending", "running", "completed", "failed", "cancelled" };

  g_return_val_if_fail (status < G_N_ELEMENTS (names), NULL);
  return names[status];
}

gboolean
em_task_status_from_string (const char *text, EmTaskStatus *out_status)
{
  for (guint i = 0; i < EM_TASK_STATUS_N_STATUSES; i++)
    {
      if (g_strcmp0 (text, em_task_status_to_string (i)) == 0)
        {
          *out_status = i;
          return TRUE;
        }
    }
  return FALSE;
}

static void
add_time (JsonBuilder *builder, const char *key, GDateTime *time)
{
  g_autofree char *text = em_time_format (time);

  json_builder_set_member_name (builder, key);
  if (text != NULL)
    json_builder_add_string_value (builder, text);
  else
    json_builder_add_null_value (builder);
}

static void
add_strv (JsonBuilder *builder, const char *key, char **strv)
{
  json_builder_set_member_name (builder, key);
  json_builder_begin_array (builder);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (builder, strv[i]);
  json_builder_end_array (builder);
}

static void copy_node (JsonBuilder *builder, JsonNode *node);

static void
copy_members (JsonBuilder *builder, JsonObject *object)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  json_builder_begin_object (builder);
  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      json_builder_set_member_name (builder, name);
      copy_node (builder, member);
    }
  json_builder_end_object (builder);
}

static void
copy_node (JsonBuilder *builder, JsonNode *node)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      copy_members (builder, json_node_get_object (node));
      break;
    case JSON_NODE_ARRAY:
      json_builder_begin_array (builder);
      for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
        copy_node (builder, json_array_get_element (json_node_get_array (node), i));
      json_builder_end_array (builder);
      break;
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_INT64:
          json_builder_add_int_value (builder, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          json_builder_add_double_value (builder, json_node_get_double (node));
          break;
        case G_TYPE_BOOLEAN:
          json_builder_add_boolean_value (builder, json_node_get_boolean (node));
          break;
        default:
          json_builder_add_string_value (builder, json_node_get_string (node));
        }
      break;
    case JSON_NODE_NULL:
    default:
      json_builder_add_null_value (builder);
    }
}

/* a copy, not a reference: json-glib counts an object's references without
 * atomics, and a task's tree may be read and freed on another thread (a
 * D-Bus listing is answered from a worker) while the task lives on */
static void
add_object (JsonBuilder *builder, const char *key, JsonObject *object)
{
  json_builder_set_member_name (builder, key);
  if (object != NULL)
    copy_members (builder, object);
  else
    json_builder_add_null_value (builder);
}

JsonNode *
em_task_to_json (EmTask *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();

  g_return_val_if_fail (EM_IS_TASK (self), NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, self->id);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, self->name);
  json_builder_set_member_name (builder, "action");
  json_builder_add_string_value (builder, self->action);
  add_object (builder, "parameters", self->parameters);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, em_task_status_to_string (self->state.status));
  add_object (builder, "result", self->result);
  json_builder_set_member_name (builder, "error");
  if (self->state.error != NULL)
    json_builder_add_string_value (builder, self->state.error);
  else
    json_builder_add_null_value (builder);
  add_time (builder, "created_at", self->state.created_at);
  add_time (builder, "started_at", self->state.started_at);
  add_time (builder, "completed_at", self->state.completed_at);
  json_builder_set_member_name (builder, "progress");
  json_builder_add_double_value (builder, self->state.progress);
  json_builder_set_member_name (builder, "priority");
  json_builder_add_int_value (builder, self->state.priority);
  add_strv (builder, "depends_on", self->state.depends_on);
  add_strv (builder, "waiting_on", self->state.waiting_on);
  add_strv (builder, "waiting_for", self->state.waiting_for);
  json_builder_set_member_name (builder, "max_retries");
  json_builder_add_int_value (builder, self->state.max_retries);
  json_builder_set_member_name (builder, "retry_delay");
  json_builder_add_double_value (builder, self->state.retry_delay);
  json_builder_set_member_name (builder, "attempts");
  json_builder_add_int_value (builder, self->state.attempts);
  add_time (builder, "run_at", self->state.run_at);
  json_builder_set_member_name (builder, "timeout");
  if (self->state.timeout > 0)
    json_builder_add_double_value (builder, self->state.timeout);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "batch");
  if (self->state.batch != NULL)
    json_builder_add_string_value (builder, self->state.batch);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

/* the store's row: same fields and values as em_task_to_json(), in a fraction
 * of the time, since it runs on the loop for every state change */
char *
em_task_to_json_string (EmTask *self)
{
  /* a pending task's text fits: 512 bytes are still a small allocation for malloc */
  GString *out = g_string_sized_new (480);

  g_return_val_if_fail (EM_IS_TASK (self), NULL);

  em_task_write_json (self, out);
  return g_string_free (out, FALSE);
}


static void
ensure_result_text (EmTask *self)
{
  if (self->result != NULL && self->state.result_json == NULL)
    {
      GString *result = g_string_new (NULL);

      em_json_write_object (result, self->result);
      self->state.result_json = em_json_text_free (result, &self->state.result_length);
      self->state.result_bytes = g_bytes_new_take (self->state.result_json,
                                                   self->state.result_length);
    }
}

/* a task is written several times over its life (a store row per change,
 * replies): the part that never changes is written once and kept, and so is
 * the result, which is set once */
static const EmTaskState *
ensure_state_text (EmTask *self)
{
  if (self->state.head == NULL)
    {
      GString *head = g_string_sized_new (256);

      g_string_append_c (head, '{');
      em_json_write_key (head, "id");
      em_json_write_string (head, self->id);
      em_json_write_key (head, "name");
      em_json_write_string (head, self->name);
      em_json_write_key (head, "action");
      em_json_write_string (head, self->action);
      em_json_write_key (head, "parameters");
      em_json_write_object (head, self->parameters);
      self->state.head = em_json_text_free (head, &self->state.head_length);
    }
  ensure_result_text (self);
  return &self->state;
}

void
em_task_set_engine_entry (EmTask *self, gpointer entry)
{
  g_return_if_fail (EM_IS_TASK (self));
  self->engine_entry = entry;
}

gpointer
em_task_get_engine_entry (EmTask *self)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);
  return self->engine_entry;
}

/* the same text for the task's own JSON and its task_completed event */
const char *
em_task_get_result_json (EmTask *self, gsize *length)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);

  ensure_result_text (self);
  *length = self->state.result_length;
  return self->state.result_json;
}

gsize
em_task_get_memory_size (EmTask *self)
{
  const EmTaskState *state;

  g_return_val_if_fail (EM_IS_TASK (self), 0);

  state = ensure_state_text (self);
  return state->head_length + state->result_length +
         (state->error != NULL ? strlen (state->error) : 0) +
         em_json_object_size (self->parameters) + em_json_object_size (self->result);
}

static gint64
time_us (GDateTime *time)
{
  if (time == NULL)
    return EM_TASK_NO_TIME;
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

/* the task's fields as they are now, pointing into the task */
static void
view_state (EmTask *self, EmTaskSnapshot *view)
{
  const EmTaskState *state = ensure_state_text (self);

  view->head = state->head;
  view->head_length = state->head_length;
  view->status = state->status;
  view->result = state->result_json;
  view->result_length = state->result_length;
  view->error = state->error;
  view->created_us = time_us (state->created_at);
  view->started_us = time_us (state->started_at);
  view->completed_us = time_us (state->completed_at);
  view->run_at_us = time_us (state->run_at);
  view->progress = state->progress;
  view->priority = state->priority;
  view->depends_on = state->depends_on;
  view->waiting_on = state->waiting_on;
  view->waiting_for = state->waiting_for;
  view->max_retries = state->max_retries;
  view->retry_delay = state->retry_delay;
  view->attempts = state->attempts;
  view->timeout = state->timeout;
  view->batch = state->batch;
}

void
em_task_write_json (EmTask *self, GString *out)
{
  EmTaskSnapshot view;

  g_return_if_fail (EM_IS_TASK (self));
  g_return_if_fail (out->len == 0);

  view_state (self, &view);
  em_task_snapshot_write_json (&view, out);
}

static EmTaskSnapshot *
snapshot_new (EmTask *self, EmArena *arena, gboolean copy_result)
{
  EmTaskSnapshot *snapshot = em_arena_alloc (arena, sizeof *snapshot);

  view_state (self, snapshot);
  snapshot->head = em_arena_memdup (arena, snapshot->head, snapshot->head_length);
  if (snapshot->result != NULL && copy_result)
    snapshot->result = em_arena_memdup (arena, snapshot->result, snapshot->result_length);
  snapshot->error = em_arena_strdup (arena, snapshot->error);
  snapshot->depends_on = em_arena_strdupv (arena, snapshot->depends_on);
  snapshot->waiting_on = em_arena_strdupv (arena, snapshot->waiting_on);
  snapshot->waiting_for = em_arena_strdupv (arena, snapshot->waiting_for);
  snapshot->batch = em_arena_strdup (arena, snapshot->batch);
  return snapshot;
}

EmTaskSnapshot *
em_task_snapshot_new (EmTask *self, EmArena *arena)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);

  return snapshot_new (self, arena, TRUE);
}

EmTaskSnapshot *
em_task_snapshot_new_sharing (EmTask *self, EmArena *arena, gsize min_shared, GBytes **out_result)
{
  g_return_val_if_fail (EM_IS_TASK (self), NULL);

  *out_result = NULL;
  ensure_result_text (self);
  if (self->state.result_bytes == NULL || self->state.result_length < min_shared)
    return snapshot_new (self, arena, TRUE);
  /* the text never changes: a new result comes in new bytes */
  *out_result = g_bytes_ref (self->state.result_bytes);
  return snapshot_new (self, arena, FALSE);
}

static void
write_time (GString *out, gint64 time_us)
{
  if (time_us == EM_TASK_NO_TIME)
    g_string_append (out, "null");
  else
    em_json_write_time_us (out, time_us);
}

void
em_task_snapshot_write_json (const EmTaskSnapshot *snapshot, GString *out)
{
  g_return_if_fail (out->len == 0);

  g_string_append_len (out, snapshot->head, snapshot->head_length);
  em_json_write_key (out, "status");
  em_json_write_string (out, em_task_status_to_string (snapshot->status));
  em_json_write_key (out, "result");
  if (snapshot->result != NULL)
    g_string_append_len (out, snapshot->result, snapshot->result_length);
  else
    g_string_append (out, "null");
  em_json_write_key (out, "error");
  em_json_write_string (out, snapshot->error);
  em_json_write_key (out, "created_at");
  write_time (out, snapshot->created_us);
  em_json_write_key (out, "started_at");
  write_time (out, snapshot->started_us);
  em_json_write_key (out, "completed_at");
  write_time (out, snapshot->completed_us);
  em_json_write_key (out, "progress");
  em_json_write_double (out, snapshot->progress);
  em_json_write_key (out, "priority");
  em_json_write_int64 (out, snapshot->priority);
  em_json_write_key (out, "depends_on");
  em_json_write_strv (out, snapshot->depends_on);
  em_json_write_key (out, "waiting_on");
  em_json_write_strv (out, snapshot->waiting_on);
  em_json_write_key (out, "waiting_for");
  em_json_write_strv (out, snapshot->waiting_for);
  em_json_write_key (out, "max_retries");
  em_json_write_uint64 (out, snapshot->max_retries);
  em_json_write_key (out, "retry_delay");
  em_json_write_double (out, snapshot->retry_delay);
  em_json_write_key (out, "attempts");
  em_json_write_uint64 (out, snapshot->attempts);
  em_json_write_key (out, "run_at");
  write_time (out, snapshot->run_at_us);
  em_json_write_key (out, "timeout");
  if (snapshot->timeout > 0)
    em_json_write_double (out, snapshot->timeout);
  else
    g_string_append (out, "null");
  em_json_write_key (out, "batch");
  em_json_write_string (out, snapshot->batch);
  g_string_append_c (out, '}');
}

GVariant *
em_task_to_variant (EmTask *self)
{
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (EM_IS_TASK (self), NULL);

  /* one description of the fields: the a{sv} form is the JSON form, nulls left out */
  node = em_task_to_json (self);
  return em_json_object_to_variant (json_node_get_object (node));
}
