#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include "dbus/em-dbus-managed-objects.h"
#include "dbus/em-dbus-task-table.h"
#include "dbus/em-dbus-util.h"

struct _EmDbusTaskTable
{
  GObject parent_instance;

  EmEngineManager *manager;
  EmDbusSenderLimits *limits;
  GDBusObjectManagerServer *server;
  /* answers GetManagedObjects in its place, a slice per turn */
  EmDbusManagedObjects *managed;
  GHashTable *objects; /* id → EmDbusTaskObject */
  /* ids of finished tasks in the order they expire: the grace period is the same
   * for all, so one timer for the head serves thousands of objects */
  GQueue expiring;
  guint expiry_source;
};

G_DEFINE_FINAL_TYPE (EmDbusTaskTable, em_dbus_task_table, G_TYPE_OBJECT)

static void schedule_expiry (EmDbusTaskTable *self);

static void
unexport (EmDbusTaskTable  *self,
          EmDbusTaskObject *object)
{
  g_dbus_object_manager_server_unexport (self->server, em_dbus_task_object_get_path (object));
  g_hash_table_remove (self->objects, em_task_get_id (em_dbus_task_object_get_task (object)));
}

static gboolean
expiry_cb (gpointer user_data)
{
  EmDbusTaskTable *self = user_data;
  gint64 now = g_get_monotonic_time ();
  char *id;

  self->expiry_source = 0;
  while ((id = g_queue_peek_head (&self->expiring)) != NULL)
    {
      EmDbusTaskObject *object = g_hash_table_lookup (self->objects, id);

      if (object != NULL && em_dbus_task_object_get_expires_at (object) > now)
        break;

      g_queue_pop_head (&self->expiring);
      if (object != NULL)
        {
          g_debug ("unexporting finished task %s", id);
          unexport (self, object);
        }
      g_free (id);
    }

  schedule_expiry (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_expiry (EmDbusTaskTable *self)
{
  const char *id = g_queue_peek_head (&self->expiring);
  EmDbusTaskObject *object;
  gint64 delay_us;

  if (id == NULL || self->expiry_source != 0)
    return;

  object = g_hash_table_lookup (self->objects, id);
  delay_us = object != NULL ? em_dbus_task_object_get_expires_at (object) - g_get_monotonic_time () : 0;
  self->expiry_source = g_timeout_add (MAX (delay_us, 0) / 1000 + 1, expiry_cb, self);
  g_source_set_name_by_id (self->expiry_source, "[em-dbus] task object expiry");
}

static void
arm_expiry (EmDbusTaskTable  *self,
            EmDbusTaskObject *object)
{
  em_dbus_task_object_set_expires_at (object, g_get_monotonic_time () +
                                              EM_DBUS_TASK_GRACE_SECONDS * G_USEC_PER_SEC);
  g_queue_push_tail (&self->expiring,
                     g_strdup (em_task_get_id (em_dbus_task_object_get_task (object))));
  schedule_expiry (self);
}

static void
unexport_all (EmDbusTaskTable *self)
{
  GHashTableIter iter;
  gpointer object;

  g_hash_table_iter_init (&iter, self->objects);
  while (g_hash_table_iter_next (&iter, NULL, &object))
    g_dbus_object_manager_server_unexport (self->server, em_dbus_task_object_get_path (object));
  g_hash_table_remove_all (self->objects);
  g_queue_clear_full (&self->expiring, g_free);
  g_clear_handle_id (&self->expiry_source, g_source_remove);
}

static void
em_dbus_task_table_dispose (GObject *object)
{
  EmDbusTaskTable *self = EM_DBUS_TASK_TABLE (object);

  if (self->managed != NULL)
    em_dbus_managed_objects_set_connection (self->managed, NULL);
  g_clear_object (&self->managed);
  if (self->server != NULL)
    {
      unexport_all (self);
      g_dbus_object_manager_server_set_connection (self->server, NULL);
    }
  g_clear_pointer (&self->objects, g_hash_table_unref);
  g_clear_object (&self->server);
  g_clear_object (&self->limits);
  g_clear_object (&self->manager);

  G_OBJECT_CLASS (em_dbus_task_table_parent_class)->dispose (object);
}

static void
em_dbus_task_table_class_init (EmDbusTaskTableClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = em_dbus_task_table_dispose;
}

static void
em_dbus_task_table_init (EmDbusTaskTable *self)
{
  self->objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  g_queue_init (&self->expiring);
  self->server = g_dbus_object_manager_server_new (EM_DBUS_MANAGER_PATH);
}

EmDbusTaskTable *
em_dbus_task_table_new (EmEngineManager    *manager,
                        EmDbusSenderLimits *limits)
{
  EmDbusTaskTable *self;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (manager), NULL);
  g_return_val_if_fail (EM_IS_DBUS_SENDER_LIMITS (limits), NULL);

  self = g_object_new (EM_TYPE_DBUS_TASK_TABLE, NULL);
  self->manager = g_object_ref (manager);
  self->limits = g_object_ref (limits);
  self->managed = em_dbus_managed_objects_new (self, limits);

  return self;
}

void
em_dbus_task_table_set_connection (EmDbusTaskTable *self,
                                   GDBusConnection *connection)
{
  g_return_if_fail (EM_IS_DBUS_TASK_TABLE (self));

  /* off the bus, no object is worth keeping: the engine still has every task */
  if (connection == NULL)
    unexport_all (self);
  /* its filter goes first, so no call reaches the server once connected */
  em_dbus_managed_objects_set_connection (self->managed, connection);
  g_dbus_object_manager_server_set_connection (self->server, connection);
}

EmDbusTaskObject *
em_dbus_task_table_ensure (EmDbusTaskTable *self,
                           EmTask          *task)
{
  EmDbusTaskObject *object;

  g_return_val_if_fail (EM_IS_DBUS_TASK_TABLE (self), NULL);
  g_return_val_if_fail (EM_IS_TASK (task), NULL);

  object = g_hash_table_lookup (self->objects, em_task_get_id (task));
  if (object == NULL)
    {
      object = em_dbus_task_object_new (self->manager, task, self->limits);
      g_hash_table_insert (self->objects, g_strdup (em_task_get_id (task)), object);
      g_dbus_object_manager_server_export (self->server,
                                           em_dbus_task_object_get_skeleton (object));
    }

  if (em_task_is_finished (task) && em_dbus_task_object_get_expires_at (object) == 0)
    arm_expiry (self, object);

  return object;
}

EmDbusTaskObject *
em_dbus_task_table_lookup (EmDbusTaskTable *self,
                           const char      *id)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_TABLE (self), NULL);

  return g_hash_table_lookup (self->objects, id);
}

void
em_dbus_task_table_forget (EmDbusTaskTable     *self,
                           const char * const  *ids)
{
  g_return_if_fail (EM_IS_DBUS_TASK_TABLE (self));

  /* their entries in the expiry queue find no object and are dropped */
  for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
    {
      EmDbusTaskObject *object = g_hash_table_lookup (self->objects, ids[i]);

      if (object != NULL)
        unexport (self, object);
    }
}

guint
em_dbus_task_table_get_size (EmDbusTaskTable *self)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_TABLE (self), 0);

  return g_hash_table_size (self->objects);
}

GHashTable *
em_dbus_task_table_get_objects (EmDbusTaskTable *self)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_TABLE (self), NULL);

  return self->objects;
}

void
em_dbus_task_table_set_max_reply_bytes (EmDbusTaskTable *self,
                                        gsize            max_bytes)
{
  g_return_if_fail (EM_IS_DBUS_TASK_TABLE (self));

  em_dbus_managed_objects_set_max_bytes (self->managed, max_bytes);
}
