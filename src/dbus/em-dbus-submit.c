#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-variant.h"
#include "dbus/em-dbus-submit.h"
#include "dbus/em-dbus-util.h"

static const char * const batch_option_keys[] = { "exclusive", NULL };

/* ScheduleTask's options, as the engine names them in its refusals */
static const char * const task_option_keys[] = {
  "priority", "depends_on", "max_retries", "retry_delay", "run_at", "delay", "timeout", NULL
};

/* a REST body's default cap: no task needs more, and converting more would
 * hold up the main loop (the bus itself lets through up to 128 MiB) */
#define MAX_ARGUMENT_BYTES (1024 * 1024)

/* what a reply needs once the engine has committed the tasks */
typedef struct {
  EmDBusEngineManager1 *iface;
  GDBusMethodInvocation *invocation; /* the handler's reference, consumed by the reply */
  GStrv ids;
  char *path; /* ScheduleTask only */
} Pending;

static void
pending_free (Pending *pending)
{
  g_clear_object (&pending->iface);
  g_clear_object (&pending->invocation);
  g_clear_pointer (&pending->ids, g_strfreev);
  g_free (pending->path);
  g_free (pending);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pending, pending_free)

static Pending *
pending_new (EmDBusEngineManager1  *iface,
             GDBusMethodInvocation *invocation)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->iface = g_object_ref (iface);
  pending->invocation = invocation;
  return pending;
}

/* the validator names keys as "parameters.exposure"; errors from a{sv}
 * conversion name the bare key */
static void
prefix_key (GError     **error,
            const char  *what)
{
  g_autofree char *prefix = g_strconcat (what, ".", NULL);

  if (!g_str_has_prefix ((*error)->message, prefix))
    g_prefix_error (error, "%s", prefix);
}

/* the engine refuses an option by its bare key ("depends_on: unknown task …");
 * in ScheduleTask it is a key of options, named so as every other refusal of one */
static void
prefix_option (GError **error)
{
  const char *message = (*error)->message;

  for (guint i = 0; task_option_keys[i] != NULL; i++)
    {
      gsize length = strlen (task_option_keys[i]);

      if (strncmp (message, task_option_keys[i], length) == 0 &&
          (message[length] == ':' || message[length] == '['))
        {
          g_prefix_error (error, "options.");
          return;
        }
    }
}

static gboolean
synced (EmEngineManager  *manager,
        GAsyncResult     *result,
        Pending          *pending)
{
  g_autoptr(GError) error = NULL;

  if (em_engine_manager_sync_finish (manager, result, &error))
    return TRUE;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_dbus_method_invocation_return_error_literal (g_steal_pointer (&pending->invocation),
                                                     EM_ERROR, EM_ERROR_UNAVAILABLE,
                                                     _("The service is shutting down"));
      return FALSE;
    }

  /* the tasks exist but may not survive a crash: the client must not count on them */
  g_dbus_method_invocation_return_error (g_steal_pointer (&pending->invocation),
                                         EM_ERROR, EM_ERROR_UNAVAILABLE,
                                         _("The task could not be stored: %s"), error->message);
  return FALSE;
}

static void
task_synced_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(Pending) pending = user_data;

  if (synced (EM_ENGINE_MANAGER (source), result, pending))
    em_dbus_engine_manager1_complete_schedule_task (pending->iface,
                                                    g_steal_pointer (&pending->invocation),
                                                    pending->ids[0], pending->path);
}

static void
batch_synced_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(Pending) pending = user_data;

  if (synced (EM_ENGINE_MANAGER (source), result, pending))
    em_dbus_engine_manager1_complete_schedule_batch (pending->iface,
                                                     g_steal_pointer (&pending->invocation),
                                                     (const char * const *) pending->ids);
}

/* refused before any of it is read */
static gboolean
check_size (GDBusMethodInvocation  *invocation,
            GError                **error)
{
  gsize size = g_variant_get_size (g_dbus_method_invocation_get_parameters (invocation));
  g_autofree char *limit = NULL;

  if (size <= MAX_ARGUMENT_BYTES)
    return TRUE;
  /* the number apart: a format macro would cut the msgid short */
  limit = g_strdup_printf ("%d", MAX_ARGUMENT_BYTES);
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("arguments: larger than the limit of %s bytes"), limit);
  return FALSE;
}

static EmTaskSpec *
spec_from_call (const char  *name,
                const char  *action,
                GVariant    *parameters,
                GVariant    *options,
                GError     **error)
{
  g_autoptr(JsonObject) params = NULL;
  g_autoptr(JsonObject) json_options = NULL;
  g_autoptr(EmTaskSpec) spec = NULL;

  /* an empty dictionary means "no parameters", as an absent JSON member does */
  if (g_variant_n_children (parameters) > 0 &&
      (params = em_variant_to_json_object (parameters, error)) == NULL)
    {
      prefix_key (error, "parameters");
      return NULL;
    }

  spec = em_task_spec_new (name, action, params);
  if (g_variant_n_children (options) == 0)
    return g_steal_pointer (&spec);

  /* the scheduling options are the engine's (priority, depends_on, …), as the
   * REST body's are; it refuses unknown keys */
  json_options = em_variant_to_json_object (options, error);
  if (json_options == NULL || !em_task_spec_set_options (spec, json_options, error))
    {
      prefix_key (error, "options");
      return NULL;
    }
  return g_steal_pointer (&spec);
}

/* one a{sv} item as the REST body's JSON object */
static EmTaskSpec *
spec_from_item (GVariant  *item,
                guint      index,
                GError   **error)
{
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(JsonNode) node = NULL;
  EmTaskSpec *spec;
  JsonNode *parameters;
  g_autoptr(GVariant) given = g_variant_lookup_value (item, "parameters", NULL);

  /* the engine's refusal speaks of JSON's null, which D-Bus cannot send */
  if (given != NULL && !g_variant_is_of_type (given, G_VARIANT_TYPE ("a{s*}")))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("tasks[%u] parameters must be a dictionary (a{sv}), not %s"),
                   index, g_variant_get_type_string (given));
      return NULL;
    }

  object = em_variant_to_json_object (item, error);
  if (object == NULL)
    {
      g_prefix_error (error, "tasks[%u] ", index);
      return NULL;
    }

  /* as for ScheduleTask, an empty parameters dictionary means none */
  parameters = json_object_get_member (object, "parameters");
  if (parameters != NULL && JSON_NODE_HOLDS_OBJECT (parameters) &&
      json_object_get_size (json_node_get_object (parameters)) == 0)
    json_object_remove_member (object, "parameters");

  node = json_node_init_object (json_node_alloc (), object);
  spec = em_task_spec_from_json (node, error);
  if (spec == NULL)
    g_prefix_error (error, "tasks[%u] ", index);
  return spec;
}

static gboolean
parse_batch_options (GVariant  *options,
                     gboolean  *exclusive,
                     GError   **error)
{
  g_autoptr(GVariant) value = NULL;

  if (!em_dbus_check_keys (options, "options", batch_option_keys, error) ||
      !em_dbus_lookup (options, "options", "exclusive", G_VARIANT_TYPE_BOOLEAN, &value, error))
    return FALSE;

  *exclusive = value != NULL && g_variant_get_boolean (value);
  return TRUE;
}

static GPtrArray *
specs_from_batch (GVariant  *items,
                  GVariant  *options,
                  gboolean  *exclusive,
                  GError   **error)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  gsize n = g_variant_n_children (items);

  if (!parse_batch_options (options, exclusive, error))
    return NULL;

  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) item = g_variant_get_child_value (items, i);
      EmTaskSpec *spec = spec_from_item (item, i, error);

      if (spec == NULL)
        return NULL;
      g_ptr_array_add (specs, spec);
    }
  return g_steal_pointer (&specs);
}

/* what scheduling needs, and where the reply goes */
typedef struct {
  EmEngineManager       *manager;
  EmDbusTaskTable       *tasks;
  EmDBusEngineManager1  *iface;
  GDBusMethodInvocation *invocation;
  GPtrArray             *specs;     /* EmTaskSpec */
  gboolean               batch;
  gboolean               exclusive;
  GCancellable          *cancellable;
} Submission;

static void
submission_free (Submission *submission)
{
  g_object_unref (submission->manager);
  g_object_unref (submission->tasks);
  g_object_unref (submission->iface);
  g_ptr_array_unref (submission->specs);
  g_clear_object (&submission->cancellable);
  g_free (submission);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Submission, submission_free)

/* schedules, then replies once the tasks are committed; consumes the invocation */
static void
schedule (Submission *submission)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();
  g_autoptr(GPtrArray) created = NULL;
  GDBusMethodInvocation *invocation = submission->invocation;
  EmDbusTaskObject *object = NULL;
  Pending *pending;

  if (submission->batch)
    {
      created = em_engine_manager_schedule_batch (submission->manager, submission->specs,
                                                  submission->exclusive, &error);
      /* the engine names an item as "[2] …" */
      if (created == NULL && g_str_has_prefix (error->message, "["))
        g_prefix_error (&error, "tasks");
    }
  else
    {
      EmTask *task = em_engine_manager_schedule_task (submission->manager,
                                                      g_ptr_array_index (submission->specs, 0),
                                                      &error);

      if (task != NULL)
        {
          created = g_ptr_array_new ();
          g_ptr_array_add (created, task);
        }
      else
        prefix_option (&error);
    }
  if (created == NULL)
    {
      em_dbus_return_error (invocation, error);
      return;
    }

  /* normally exported already by the task-scheduled event; this makes the
   * paths in the reply valid whatever the engine's signal order */
  for (guint i = 0; i < created->len; i++)
    {
      EmTask *task = g_ptr_array_index (created, i);

      object = em_dbus_task_table_ensure (submission->tasks, task);
      g_strv_builder_add (ids, em_task_get_id (task));
    }

  pending = pending_new (submission->iface, invocation);
  pending->ids = g_strv_builder_end (ids);
  if (!submission->batch)
    pending->path = g_strdup (em_dbus_task_object_get_path (object));
  /* the tasks exist now: the reply says whether the store has them, also
   * when the service leaves the bus meanwhile (a stop waits for it), since
   * "shutting down" would have the client send them again */
  em_engine_manager_sync_async (submission->manager, NULL,
                                submission->batch ? batch_synced_cb : task_synced_cb, pending);
}

static void
dependencies_found_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(Submission) submission = user_data;
  g_autoptr(GError) error = NULL;

  if (em_engine_manager_look_up_dependencies_finish (EM_ENGINE_MANAGER (source), result, &error))
    schedule (submission);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_dbus_method_invocation_return_error_literal (submission->invocation, EM_ERROR,
                                                   EM_ERROR_UNAVAILABLE,
                                                   _("The service is shutting down"));
  /* in ScheduleTask the key is one of options, named so as any other
   * refusal of it; a batch item holds it at its top level */
  else
    g_dbus_method_invocation_return_error (submission->invocation, EM_ERROR, EM_ERROR_UNAVAILABLE,
                                           submission->batch
                                           ? _("depends_on: the task history cannot be read: %s")
                                           : _("options.depends_on: the task history cannot be "
                                               "read: %s"),
                                           error->message);
}

/* a dependency on a task that finished long ago is looked up in the store
 * first; everything else is scheduled at once */
static void
submit (Submission *now)
{
  Submission *later;

  if (em_engine_manager_dependencies_known (now->manager, now->specs))
    {
      schedule (now);
      return;
    }
  later = g_memdup2 (now, sizeof *now);
  g_object_ref (later->manager);
  g_object_ref (later->tasks);
  g_object_ref (later->iface);
  g_ptr_array_ref (later->specs);
  if (later->cancellable != NULL)
    g_object_ref (later->cancellable);
  em_engine_manager_look_up_dependencies_async (later->manager, later->specs, later->cancellable,
                                                dependencies_found_cb, later);
}

void
em_dbus_submit_batch (EmEngineManager       *manager,
                      EmDbusTaskTable       *tasks,
                      EmDBusEngineManager1  *iface,
                      GDBusMethodInvocation *invocation,
                      GVariant              *items,
                      GVariant              *options,
                      GCancellable          *cancellable)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) specs = NULL;
  gboolean exclusive = FALSE;

  /* the items are read even when the queue is full, as ScheduleTask's and a
   * REST body's are: an invalid one is named, not retried to be refused again
   * (the size cap bounds the work); the engine refuses for room after that */
  if (check_size (invocation, &error))
    specs = specs_from_batch (items, options, &exclusive, &error);
  if (specs == NULL)
    {
      em_dbus_return_error (invocation, error);
      return;
    }
  submit (&(Submission) { manager, tasks, iface, invocation, specs, TRUE, exclusive, cancellable });
}

void
em_dbus_submit_task (EmEngineManager       *manager,
                     EmDbusTaskTable       *tasks,
                     EmDBusEngineManager1  *iface,
                     GDBusMethodInvocation *invocation,
                     const char            *name,
                     const char            *action,
                     GVariant              *parameters,
                     GVariant              *options,
                     GCancellable          *cancellable)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) em_task_spec_free);
  EmTaskSpec *spec = check_size (invocation, &error) ?
                     spec_from_call (name, action, parameters, options, &error) : NULL;

  if (spec == NULL)
    {
      em_dbus_return_error (invocation, error);
      return;
    }
  g_ptr_array_add (specs, spec);
  submit (&(Submission) { manager, tasks, iface, invocation, specs, FALSE, FALSE, cancellable });
}
