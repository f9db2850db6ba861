#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <string.h>

#include "engine/em-event.h"
#include "engine/em-json-writer.h"
#include "engine/em-task-private.h"
#include "engine/em-time.h"

struct _EmEvent
{
  gatomicrefcount  ref_count;
  EmEventType      type;
  guint64          seq;
  EmTask          *task;
  GDateTime       *timestamp;
  /* what the event says is fixed when it happens, whatever the task does later */
  gdouble          progress;
  guint            attempt;
  char            *error;
  GDateTime       *retry_at;
  GBytes          *json;      /* the frame, made once on first use */
};

G_DEFINE_BOXED_TYPE (EmEvent, em_event, em_event_ref, em_event_unref)

static const char *type_names[] = {
  "task_scheduled",
  "task_started",
  "task_progress",
  "task_completed",
  "task_failed",
  "task_cancelled",
  "task_retrying",
  "queue_paused",
  "queue_resumed",
};

/* the time the task itself records for the change: a client that builds
 * its tasks from the events gets the times a read of the task gives */
static GDateTime *
task_time (EmEventType type, EmTask *task)
{
  GDateTime *time = NULL;

  switch (type)
    {
    case EM_EVENT_TASK_SCHEDULED:
      time = em_task_get_created_at (task);
      break;
    case EM_EVENT_TASK_STARTED:
      time = em_task_get_started_at (task);
      break;
    case EM_EVENT_TASK_COMPLETED:
    case EM_EVENT_TASK_FAILED:
    case EM_EVENT_TASK_CANCELLED:
      time = em_task_get_completed_at (task);
      break;
    default:
      break;
    }
  return time != NULL ? g_date_time_ref (time) : em_time_now ();
}

EmEvent *
em_event_new (EmEventType type, guint64 seq, EmTask *task)
{
  EmEvent *self = g_new0 (EmEvent, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->type = type;
  self->seq = seq;
  self->task = task != NULL ? g_object_ref (task) : NULL;
  self->timestamp = task != NULL ? task_time (type, task) : em_time_now ();
  self->progress = task != NULL ? em_task_get_progress (task) : 0.0;
  return self;
}

EmEvent *
em_event_new_retrying (guint64      seq,
                       EmTask      *task,
                       guint        attempt,
                       const char  *error,
                       GDateTime   *retry_at)
{
  EmEvent *self = em_event_new (EM_EVENT_TASK_RETRYING, seq, task);

  self->attempt = attempt;
  self->error = g_strdup (error);
  self->retry_at = retry_at != NULL ? g_date_time_ref (retry_at) : NULL;
  return self;
}

EmEvent *
em_event_ref (EmEvent *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
em_event_unref (EmEvent *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_clear_object (&self->task);
  g_date_time_unref (self->timestamp);
  g_free (self->error);
  g_clear_pointer (&self->retry_at, g_date_time_unref);
  g_clear_pointer (&self->json, g_bytes_unref);
  g_free (self);
}

EmEventType
em_event_get_event_type (EmEvent *self)
{
  return self->type;
}

const char *
em_event_get_type_name (EmEvent *self)
{
  return type_names[self->type];
}

guint64
em_event_get_seq (EmEvent *self)
{
  return self->seq;
}

EmTask *
em_event_get_task (EmEvent *self)
{
  return self->task;
}

gdouble
em_event_get_progress (EmEvent *self)
{
  return self->progress;
}

guint
em_event_get_attempt (EmEvent *self)
{
  return self->attempt;
}

const char *
em_event_get_error (EmEvent *self)
{
  return self->type == EM_EVENT_TASK_RETRYING ? self->error : NULL;
}

GDateTime *
em_event_get_timestamp (EmEvent *self)
{
  return self->timestamp;
}

JsonNode *
em_event_to_json (EmEvent *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autofree char *timestamp = em_time_format (self->timestamp);
  EmTask *task = self->task;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type_names[self->type]);
  if (task != NULL)
    {
      json_builder_set_member_name (builder, "task_id");
      json_builder_add_string_value (builder, em_task_get_id (task));
    }

  switch (self->type)
    {
    case EM_EVENT_TASK_SCHEDULED:
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, em_task_get_name (task));
      json_builder_set_member_name (builder, "action");
      json_builder_add_string_value (builder, em_task_get_action (task));
      break;
    case EM_EVENT_TASK_PROGRESS:
      json_builder_set_member_name (builder, "progress");
      json_builder_add_double_value (builder, self->progress);
      break;
    case EM_EVENT_TASK_COMPLETED:
      {
        /* a task's result is set once and sealed, so sharing it is safe */
        g_autoptr(JsonNode) result = json_node_new (JSON_NODE_OBJECT);

        json_node_set_object (result, em_task_get_result (task));
        json_builder_set_member_name (builder, "result");
        json_builder_add_value (builder, g_steal_pointer (&result));
        break;
      }
    case EM_EVENT_TASK_FAILED:
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, em_task_get_error (task));
      break;
    case EM_EVENT_TASK_RETRYING:
      {
        g_autofree char *retry_at = em_time_format (self->retry_at);

        json_builder_set_member_name (builder, "attempt");
        json_builder_add_int_value (builder, self->attempt);
        json_builder_set_member_name (builder, "error");
        json_builder_add_string_value (builder, self->error);
        json_builder_set_member_name (builder, "retry_at");
        json_builder_add_string_value (builder, retry_at);
        break;
      }
    case EM_EVENT_TASK_STARTED:
    case EM_EVENT_TASK_CANCELLED:
    case EM_EVENT_QUEUE_PAUSED:
    case EM_EVENT_QUEUE_RESUMED:
    default:
      break;
    }

  json_builder_set_member_name (builder, "timestamp");
  json_builder_add_string_value (builder, timestamp);
  json_builder_set_member_name (builder, "seq");
  json_builder_add_int_value (builder, (gint64) self->seq);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

/* em_event_to_json() as text, without a builder: every event is serialized once
 * on the loop for the ring and the store */
static GString *
write_frame (EmEvent *self)
{
  GString *out = g_string_sized_new (256);
  EmTask *task = self->task;

  g_string_append_c (out, '{');
  em_json_write_key (out, "type");
  em_json_write_string (out, type_names[self->type]);
  if (task != NULL)
    {
      em_json_write_key (out, "task_id");
      em_json_write_string (out, em_task_get_id (task));
    }
  switch (self->type)
    {
    case EM_EVENT_TASK_SCHEDULED:
      em_json_write_key (out, "name");
      em_json_write_string (out, em_task_get_name (task));
      em_json_write_key (out, "action");
      em_json_write_string (out, em_task_get_action (task));
      break;
    case EM_EVENT_TASK_PROGRESS:
      em_json_write_key (out, "progress");
      em_json_write_double (out, self->progress);
      break;
    case EM_EVENT_TASK_COMPLETED:
      {
        gsize length;
        const char *result = em_task_get_result_json (task, &length);

        em_json_write_key (out, "result");
        if (result != NULL)
          g_string_append_len (out, result, length);
        else
          g_string_append (out, "null");
      }
      break;
    case EM_EVENT_TASK_FAILED:
      em_json_write_key (out, "error");
      em_json_write_string (out, em_task_get_error (task));
      break;
    case EM_EVENT_TASK_RETRYING:
      em_json_write_key (out, "attempt");
      em_json_write_uint64 (out, self->attempt);
      em_json_write_key (out, "error");
      em_json_write_string (out, self->error);
      em_json_write_key (out, "retry_at");
      em_json_write_time (out, self->retry_at);
      break;
    case EM_EVENT_TASK_STARTED:
    case EM_EVENT_TASK_CANCELLED:
    case EM_EVENT_QUEUE_PAUSED:
    case EM_EVENT_QUEUE_RESUMED:
    default:
      break;
    }
  em_json_write_key (out, "timestamp");
  em_json_write_time (out, self->timestamp);
  em_json_write_key (out, "seq");
  em_json_write_uint64 (out, self->seq);
  g_string_append_c (out, '}');
  return out;
}

GBytes *
em_event_get_json_bytes (EmEvent *self)
{
  /* every transport and the store send the same frame: serialize it once */
  if (self->json == NULL)
    {
      GString *frame = write_frame (self);

      self->json = em_json_text_free_to_bytes (frame);
    }
  return self->json;
}

char *
em_event_to_json_string (EmEvent *self)
{
  GBytes *json = em_event_get_json_bytes (self);
  gsize size = 0;
  const char *data = g_bytes_get_data (json, &size);

  return g_strndup (data, size);
}
