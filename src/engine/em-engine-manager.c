#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-action-private.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "engine/em-task-private.h"

/* progress events per task are capped at this rate; the last value is never lost */
#define PROGRESS_INTERVAL_US (100 * G_TIME_SPAN_MILLISECOND)

typedef struct
{
  EmEngineManager *manager;    /* unowned */
  EmTask          *task;       /* owned */
  GSequenceIter   *status_iter;
  GList           *queue_link; /* in manager->ready while pending */
  GCancellable    *cancellable;
  EmActionContext *context;    /* while its action is in flight */
  gint64           last_progress_emit;
  guint            progress_source;
} TaskEntry;

struct _EmEngineManager
{
  GObject           parent_instance;

  EmActionRegistry *registry;
  EmDeviceSet      *devices;
  char             *data_dir;

  GHashTable       *entries;        /* id → TaskEntry, owns the entries */
  GPtrArray        *all;            /* TaskEntry in creation order */
  GSequence        *by_status[EM_TASK_STATUS_N_STATUSES]; /* TaskEntry by serial */
  GQueue            ready;          /* pending TaskEntry, FIFO */
  TaskEntry        *running;        /* whose action is in flight */
  guint             process_source;
  guint64           next_serial;

  guint64           last_seq;
  GQueue            event_queue;    /* EmEvent waiting to be emitted */
  gboolean          emitting;
  gboolean          shutting_down;
};

G_DEFINE_FINAL_TYPE (EmEngineManager, em_engine_manager, G_TYPE_OBJECT)

enum {
  SIGNAL_TASK_SCHEDULED,
  SIGNAL_TASK_STARTED,
  SIGNAL_TASK_PROGRESS,
  SIGNAL_TASK_COMPLETED,
  SIGNAL_TASK_FAILED,
  SIGNAL_TASK_CANCELLED,
  SIGNAL_EVENT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void process_queue (EmEngineManager *self);

static void
task_entry_free (TaskEntry *entry)
{
  g_clear_handle_id (&entry->progress_source, g_source_remove);
  g_clear_object (&entry->cancellable);
  g_clear_pointer (&entry->context, em_action_context_free);
  g_object_unref (entry->task);
  g_free (entry);
}

static gint
compare_serial (gconstpointer a, gconstpointer b, gpointer user_data)
{
  guint64 sa = em_task_get_serial (((const TaskEntry *) a)->task);
  guint64 sb = em_task_get_serial (((const TaskEntry *) b)->task);

  return sa < sb ? -1 : sa > sb;
}

/* every status change goes through here, so the per-status indexes stay exact */
static void
reindex (EmEngineManager *self, TaskEntry *entry)
{
  EmTaskStatus status = em_task_get_status (entry->task);

  if (entry->status_iter != NULL)
    g_sequence_remove (entry->status_iter);
  entry->status_iter = g_sequence_insert_sorted (self->by_status[status], entry,
                                                 compare_serial, NULL);
}

static void
emit_event (EmEngineManager *self, EmEventType type, EmTask *task)
{
  g_queue_push_tail (&self->event_queue, em_event_new (type, ++self->last_seq, task));

  /* a handler may cause another event (e.g. cancel from task-scheduled): queueing
   * keeps every listener seeing events in seq order */
  if (self->emitting)
    return;

  self->emitting = TRUE;
  while (!g_queue_is_empty (&self->event_queue))
    {
      g_autoptr(EmEvent) event = g_queue_pop_head (&self->event_queue);
      EmTask *event_task = em_event_get_task (event);

      switch (em_event_get_event_type (event))
        {
        case EM_EVENT_TASK_SCHEDULED:
          g_signal_emit (self, signals[SIGNAL_TASK_SCHEDULED], 0, event_task);
          break;
        case EM_EVENT_TASK_STARTED:
          g_signal_emit (self, signals[SIGNAL_TASK_STARTED], 0, event_task);
          break;
        case EM_EVENT_TASK_PROGRESS:
          g_signal_emit (self, signals[SIGNAL_TASK_PROGRESS], 0, event_task,
                         em_task_get_progress (event_task));
          break;
        case EM_EVENT_TASK_COMPLETED:
          g_signal_emit (self, signals[SIGNAL_TASK_COMPLETED], 0, event_task);
          break;
        case EM_EVENT_TASK_FAILED:
          g_signal_emit (self, signals[SIGNAL_TASK_FAILED], 0, event_task);
          break;
        case EM_EVENT_TASK_CANCELLED:
          g_signal_emit (self, signals[SIGNAL_TASK_CANCELLED], 0, event_task);
          break;
        default:
          g_assert_not_reached ();
        }
      g_signal_emit (self, signals[SIGNAL_EVENT], 0, event);
    }
  self->emitting = FALSE;
}

static void
emit_progress_now (TaskEntry *entry)
{
  entry->last_progress_emit = g_get_monotonic_time ();
  emit_event (entry->manager, EM_EVENT_TASK_PROGRESS, entry->task);
}

static gboolean
progress_timeout_cb (gpointer user_data)
{
  TaskEntry *entry = user_data;

  entry->progress_source = 0;
  emit_progress_now (entry);
  return G_SOURCE_REMOVE;
}

static void
progress_cb (gdouble fraction, gpointer user_data)
{
  TaskEntry *entry = user_data;
  gint64 now, wait_us;

  if (em_task_is_finished (entry->task) || fraction <= em_task_get_progress (entry->task))
    return;

  em_task_set_progress (entry->task, fraction);
  if (entry->progress_source != 0)
    return;

  now = g_get_monotonic_time ();
  wait_us = entry->last_progress_emit + PROGRESS_INTERVAL_US - now;
  if (wait_us <= 0)
    emit_progress_now (entry);
  else
    entry->progress_source = g_timeout_add_full (G_PRIORITY_DEFAULT, wait_us / 1000 + 1,
                                                 progress_timeout_cb, entry, NULL);
}

/* the last progress value a client sees is the one the task ended with */
static void
flush_progress (TaskEntry *entry)
{
  if (entry->progress_source == 0)
    return;
  g_clear_handle_id (&entry->progress_source, g_source_remove);
  emit_progress_now (entry);
}

static void
finish_entry (EmEngineManager *self, TaskEntry *entry, EmEventType type)
{
  flush_progress (entry);
  reindex (self, entry);
  emit_event (self, type, entry->task);
}

static void
fail_entry (EmEngineManager *self, TaskEntry *entry, const char *message)
{
  em_task_mark_failed (entry->task, message);
  finish_entry (self, entry, EM_EVENT_TASK_FAILED);
}

static void
action_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  TaskEntry *entry = user_data;
  /* held since start_entry, so the entry outlives the action */
  g_autoptr(EmEngineManager) self = entry->manager;
  g_autoptr(JsonObject) output = NULL;
  g_autoptr(GError) error = NULL;

  output = em_action_run_finish (EM_ACTION (source), result, &error);

  self->running = NULL;
  g_clear_object (&entry->cancellable);
  g_clear_pointer (&entry->context, em_action_context_free);

  /* cancelled already: the device has stopped, nothing may flip the status now */
  if (!em_task_is_finished (entry->task))
    {
      if (output != NULL)
        {
          em_task_mark_completed (entry->task, output);
          finish_entry (self, entry, EM_EVENT_TASK_COMPLETED);
        }
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          em_task_mark_cancelled (entry->task);
          finish_entry (self, entry, EM_EVENT_TASK_CANCELLED);
        }
      else
        {
          fail_entry (self, entry, error->message);
        }
    }

  process_queue (self);
}

static void
start_entry (EmEngineManager *self, TaskEntry *entry)
{
  EmAction *action = em_action_registry_lookup (self->registry, em_task_get_action (entry->task));
  self->running = entry;
  entry->cancellable = g_cancellable_new ();
  em_task_mark_running (entry->task);
  reindex (self, entry);
  emit_event (self, EM_EVENT_TASK_STARTED, entry->task);

  /* a started handler may have cancelled it */
  if (em_task_is_finished (entry->task))
    {
      self->running = NULL;
      g_clear_object (&entry->cancellable);
      return;
    }

  entry->context = em_action_context_new (self->devices, em_task_get_id (entry->task),
                                         self->data_dir, progress_cb, entry);
  g_object_ref (self);
  em_action_run_async (action, entry->context, em_task_get_parameters (entry->task),
                       entry->cancellable, action_done_cb, entry);
}

static gboolean
process_idle_cb (gpointer user_data)
{
  EmEngineManager *self = user_data;

  self->process_source = 0;
  while (self->running == NULL && !self->shutting_down)
    {
      TaskEntry *entry = g_queue_pop_head (&self->ready);

      if (entry == NULL)
        break;
      entry->queue_link = NULL;
      start_entry (self, entry);
    }
  return G_SOURCE_REMOVE;
}

/* starting from an idle keeps a burst of submissions from recursing through
 * completions, and lets the submitter see its reply before the task starts */
static void
process_queue (EmEngineManager *self)
{
  if (self->process_source != 0 || self->running != NULL || g_queue_is_empty (&self->ready))
    return;
  self->process_source = g_idle_add_full (G_PRIORITY_DEFAULT, process_idle_cb, self, NULL);
}

static gboolean
validate_spec (EmEngineManager *self, EmTaskSpec *spec, EmAction **out_action, GError **error)
{
  EmAction *action;
  glong n_chars;

  if (spec->name == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("name is required"));
      return FALSE;
    }
  if (!g_utf8_validate (spec->name, -1, NULL))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("name must be valid UTF-8"));
      return FALSE;
    }
  n_chars = g_utf8_strlen (spec->name, -1);
  if (n_chars < 1 || n_chars > EM_TASK_NAME_MAX_CHARS)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("name must be 1 to %d characters long, got %ld"),
                   EM_TASK_NAME_MAX_CHARS, n_chars);
      return FALSE;
    }
  if (spec->action == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("action is required"));
      return FALSE;
    }

  action = em_action_registry_lookup (self->registry, spec->action);
  if (action == NULL)
    {
      g_auto(GStrv) names = em_action_registry_get_names (self->registry);
      g_autofree char *known = g_strjoinv (", ", names);

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("action: unknown action “%s” (known: %s)"), spec->action, known);
      return FALSE;
    }
  if (!em_action_validate (action, spec->parameters, error))
    return FALSE;

  *out_action = action;
  return TRUE;
}

EmTask *
em_engine_manager_schedule_task (EmEngineManager  *self,
                                 EmTaskSpec       *spec,
                                 GError          **error)
{
  EmAction *action = NULL;
  TaskEntry *entry;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  g_return_val_if_fail (spec != NULL, NULL);

  if (!validate_spec (self, spec, &action, error))
    return NULL;
  if (self->shutting_down)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                           _("the service is shutting down"));
      return NULL;
    }

  if (spec->parameters != NULL)
    json_object_seal (spec->parameters);

  entry = g_new0 (TaskEntry, 1);
  entry->manager = self;
  entry->task = em_task_new (++self->next_serial, spec->name, em_action_get_name (action),
                             spec->parameters);
  g_hash_table_insert (self->entries, (gpointer) em_task_get_id (entry->task), entry);
  g_ptr_array_add (self->all, entry);
  reindex (self, entry);
  g_queue_push_tail (&self->ready, entry);
  entry->queue_link = self->ready.tail;

  g_debug ("scheduled %s (%s)", em_task_get_id (entry->task), em_task_get_action (entry->task));
  emit_event (self, EM_EVENT_TASK_SCHEDULED, entry->task);
  process_queue (self);
  return entry->task;
}

static void
cancel_entry (EmEngineManager *self, TaskEntry *entry)
{
  if (entry->queue_link != NULL)
    {
      g_queue_delete_link (&self->ready, entry->queue_link);
      entry->queue_link = NULL;
    }
  if (entry->cancellable != NULL)
    g_cancellable_cancel (entry->cancellable);

  em_task_mark_cancelled (entry->task);
  finish_entry (self, entry, EM_EVENT_TASK_CANCELLED);
}

gboolean
em_engine_manager_cancel_task (EmEngineManager  *self,
                               const char       *id,
                               GError          **error)
{
  TaskEntry *entry;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);

  entry = id != NULL ? g_hash_table_lookup (self->entries, id) : NULL;
  if (entry == NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_NOT_FOUND, _("no task with id “%s”"),
                   id != NULL ? id : "");
      return FALSE;
    }
  if (em_task_is_finished (entry->task))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_CONFLICT,
                   _("task “%s” has already finished: its status is %s"),
                   id, em_task_status_to_string (em_task_get_status (entry->task)));
      return FALSE;
    }

  cancel_entry (self, entry);
  return TRUE;
}

EmTask *
em_engine_manager_get_task (EmEngineManager *self, const char *id)
{
  TaskEntry *entry;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);

  entry = id != NULL ? g_hash_table_lookup (self->entries, id) : NULL;
  return entry != NULL ? entry->task : NULL;
}

guint
em_engine_manager_count_tasks (EmEngineManager *self, const EmTaskStatus *status)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);

  if (status == NULL)
    return self->all->len;
  g_return_val_if_fail (*status < EM_TASK_STATUS_N_STATUSES, 0);
  return g_sequence_get_length (self->by_status[*status]);
}

GPtrArray *
em_engine_manager_list_tasks (EmEngineManager    *self,
                              const EmTaskStatus *status,
                              guint               offset,
                              guint               limit,
                              guint              *out_total)
{
  guint total = em_engine_manager_count_tasks (self, status);
  guint count = offset < total ? total - offset : 0;
  GPtrArray *tasks;

  if (limit > 0)
    count = MIN (count, limit);
  if (out_total != NULL)
    *out_total = total;

  tasks = g_ptr_array_new_full (count, g_object_unref);
  if (count == 0)
    return tasks;

  if (status == NULL)
    {
      for (guint i = offset; i < offset + count; i++)
        g_ptr_array_add (tasks, g_object_ref (((TaskEntry *) g_ptr_array_index (self->all, i))->task));
    }
  else
    {
      GSequenceIter *iter = g_sequence_get_iter_at_pos (self->by_status[*status], offset);

      for (guint i = 0; i < count; i++, iter = g_sequence_iter_next (iter))
        g_ptr_array_add (tasks, g_object_ref (((TaskEntry *) g_sequence_get (iter))->task));
    }
  return tasks;
}

gboolean
em_engine_manager_is_busy (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), FALSE);
  return self->running != NULL;
}

guint64
em_engine_manager_get_last_event_seq (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), 0);
  return self->last_seq;
}

void
em_engine_manager_shutdown (EmEngineManager *self)
{
  g_return_if_fail (EM_IS_ENGINE_MANAGER (self));

  if (self->shutting_down)
    return;
  self->shutting_down = TRUE;
  g_clear_handle_id (&self->process_source, g_source_remove);

  while (!g_queue_is_empty (&self->ready))
    cancel_entry (self, g_queue_peek_head (&self->ready));
  if (self->running != NULL && !em_task_is_finished (self->running->task))
    cancel_entry (self, self->running);
}

EmActionRegistry *
em_engine_manager_get_registry (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->registry;
}

EmDeviceSet *
em_engine_manager_get_devices (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->devices;
}

const char *
em_engine_manager_get_data_dir (EmEngineManager *self)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (self), NULL);
  return self->data_dir;
}

static void
em_engine_manager_finalize (GObject *object)
{
  EmEngineManager *self = EM_ENGINE_MANAGER (object);

  g_clear_handle_id (&self->process_source, g_source_remove);
  g_queue_clear (&self->ready);
  g_queue_clear_full (&self->event_queue, (GDestroyNotify) em_event_unref);
  for (guint i = 0; i < EM_TASK_STATUS_N_STATUSES; i++)
    g_sequence_free (self->by_status[i]);
  g_ptr_array_unref (self->all);
  g_hash_table_unref (self->entries);
  g_clear_object (&self->registry);
  g_clear_object (&self->devices);
  g_free (self->data_dir);

  G_OBJECT_CLASS (em_engine_manager_parent_class)->finalize (object);
}

static void
em_engine_manager_class_init (EmEngineManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  static const char *task_signals[] = {
    [SIGNAL_TASK_SCHEDULED] = "task-scheduled",
    [SIGNAL_TASK_STARTED] = "task-started",
    [SIGNAL_TASK_COMPLETED] = "task-completed",
    [SIGNAL_TASK_FAILED] = "task-failed",
    [SIGNAL_TASK_CANCELLED] = "task-cancelled",
  };

  object_class->finalize = em_engine_manager_finalize;

  for (guint i = 0; i < G_N_ELEMENTS (task_signals); i++)
    {
      if (task_signals[i] == NULL)
        continue;
      signals[i] = g_signal_new (task_signals[i], G_TYPE_FROM_CLASS (klass),
                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, EM_TYPE_TASK);
    }
  signals[SIGNAL_TASK_PROGRESS] = g_signal_new ("task-progress", G_TYPE_FROM_CLASS (klass),
                                                G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 2, EM_TYPE_TASK, G_TYPE_DOUBLE);
  signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                        G_TYPE_NONE, 1,
                                        EM_TYPE_EVENT | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
em_engine_manager_init (EmEngineManager *self)
{
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) task_entry_free);
  self->all = g_ptr_array_new ();
  for (guint i = 0; i < EM_TASK_STATUS_N_STATUSES; i++)
    self->by_status[i] = g_sequence_new (NULL);
  g_queue_init (&self->ready);
  g_queue_init (&self->event_queue);
}

EmEngineManager *
em_engine_manager_new (EmActionRegistry *registry,
                       EmDeviceSet      *devices,
                       const char       *data_dir)
{
  EmEngineManager *self;

  g_return_val_if_fail (EM_IS_ACTION_REGISTRY (registry), NULL);

  self = g_object_new (EM_TYPE_ENGINE_MANAGER, NULL);
  self->registry = g_object_ref (registry);
  self->devices = devices != NULL ? (EmDeviceSet *) g_object_ref ((GObject *) devices) : NULL;
  self->data_dir = g_strdup (data_dir);
  return self;
}
