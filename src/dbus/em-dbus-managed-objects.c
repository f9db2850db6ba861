#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-managed-objects.h"
#include "dbus/em-dbus-util.h"

#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"
/* 10 to 20 ms of reading task objects per turn (about 730 bytes each) */
#define SLICE_OBJECTS 200
/* the most a dict entry adds to the array around it (alignment, offset) */
#define ENTRY_FRAMING 16

/* Why clients stay consistent. The reply is assembled and sent in one turn
 * from the objects exported at that moment, each read after its last change,
 * as GDBusObjectManagerServer's synchronous answer was: a change made during
 * the build is in the reply, and its InterfacesAdded, InterfacesRemoved or
 * PropertiesChanged went out before the reply or goes out after it.
 * GDBusObjectManagerClient subscribes to those signals, then calls
 * GetManagedObjects. Initialised synchronously, it waits for the reply
 * without iterating its main context, so it handles every signal after the
 * reply: they carry absolute values (InterfacesAdded for an object it has is
 * merged, InterfacesRemoved for one it lacks is ignored) and the last one is
 * the newest, so it ends at the service's state. Initialised asynchronously,
 * GLib runs the same code in a worker thread while signals are handled on
 * the main context, and a PropertiesChanged for an object not known yet is
 * dropped: as the reply is never older than a signal sent before it, the
 * dropped value is in the reply. */

typedef struct {
  EmDbusTaskObject *object;
  GVariant *entry; /* {oa{sa{sv}}} */
  guint64 serial;
} Entry;

/* shared with GDBus's worker thread, where the filter runs */
typedef struct {
  gatomicrefcount ref;
  GWeakRef owner;
  GWeakRef connection;
  GMainContext *context;
} FilterData;

typedef struct {
  FilterData *data;
  GDBusMessage *message;
} Request;

struct _EmDbusManagedObjects
{
  GObject parent_instance;

  EmDbusTaskTable *table;
  EmDbusSenderLimits *limits;
  GDBusConnection *connection;
  guint filter;
  gsize max_bytes;

  /* the build under way: every call that came meanwhile waits for it */
  GPtrArray *callers;     /* GDBusMessage */
  GPtrArray *todo;        /* EmDbusTaskObject still to read in this pass */
  guint next;
  GHashTable *entries;    /* path → Entry */
  gsize size;
  guint source;
};

G_DEFINE_FINAL_TYPE (EmDbusManagedObjects, em_dbus_managed_objects, G_TYPE_OBJECT)

static struct {
  guint slice_objects;
  EmDbusManagedObjectsHook hook;
  gpointer user_data;
} test_hook;

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  g_clear_object (&entry->object);
  g_variant_unref (entry->entry);
  g_free (entry);
}

/* what GDBusObjectManagerServer sends for one object: each of its interface
 * skeletons' properties */
static GVariant *
serialize (EmDbusTaskObject *object)
{
  GDBusObject *skeleton = G_DBUS_OBJECT (em_dbus_task_object_get_skeleton (object));
  GList *interfaces = g_dbus_object_get_interfaces (skeleton);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (GList *l = interfaces; l != NULL; l = l->next)
    {
      GDBusInterfaceSkeleton *iface = l->data;
      GVariant *properties = g_dbus_interface_skeleton_get_properties (iface);

      g_variant_builder_add (&builder, "{s@a{sv}}",
                             g_dbus_interface_skeleton_get_info (iface)->name, properties);
      g_variant_unref (properties);
    }
  g_list_free_full (interfaces, g_object_unref);

  return g_variant_ref_sink (g_variant_new ("{oa{sa{sv}}}", em_dbus_task_object_get_path (object),
                                            &builder));
}

static gboolean
is_exported (EmDbusManagedObjects *self,
             EmDbusTaskObject     *object)
{
  EmTask *task = em_dbus_task_object_get_task (object);

  return em_dbus_task_table_lookup (self->table, em_task_get_id (task)) == object;
}

static void
read_object (EmDbusManagedObjects *self,
             EmDbusTaskObject     *object)
{
  const char *path = em_dbus_task_object_get_path (object);
  Entry *old = g_hash_table_lookup (self->entries, path);
  Entry *entry = g_new0 (Entry, 1);

  if (old != NULL)
    self->size -= g_variant_get_size (old->entry) + ENTRY_FRAMING;
  entry->object = g_object_ref (object);
  entry->serial = em_dbus_task_object_get_serial (object);
  entry->entry = serialize (object);
  self->size += g_variant_get_size (entry->entry) + ENTRY_FRAMING;
  g_hash_table_replace (self->entries, g_strdup (path), entry);
}

static gpointer
free_entries_thread (gpointer data)
{
  g_hash_table_unref (data);
  return NULL;
}

static void
clear_build (EmDbusManagedObjects *self)
{
  g_clear_handle_id (&self->source, g_source_remove);
  g_clear_pointer (&self->callers, g_ptr_array_unref);
  g_clear_pointer (&self->todo, g_ptr_array_unref);
  if (self->entries != NULL)
    {
      GHashTableIter iter;
      gpointer value;

      /* the objects here, as their last reference may be this one; the
       * values elsewhere: freeing 90 000 of them held the loop for seconds */
      g_hash_table_iter_init (&iter, self->entries);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        g_clear_object (&((Entry *) value)->object);
      g_thread_unref (g_thread_new ("em-dbus-free", free_entries_thread,
                                    g_steal_pointer (&self->entries)));
    }
  self->next = 0;
  self->size = 0;
}

static void
reply_error (GDBusConnection *connection,
             GDBusMessage    *call,
             const char      *name,
             const char      *text)
{
  g_autoptr(GDBusMessage) reply = g_dbus_message_new_method_error_literal (call, name, text);
  g_autoptr(GError) error = NULL;

  /* a caller gone meanwhile: the bus drops the reply */
  if (!g_dbus_connection_send_message (connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                       NULL, &error))
    g_debug ("could not answer GetManagedObjects: %s", error->message);
}

static void
reply_unavailable (GDBusConnection *connection,
                   GDBusMessage    *call)
{
  g_autoptr(GError) error = g_error_new_literal (EM_ERROR, EM_ERROR_UNAVAILABLE,
                                                 _("The service is shutting down"));
  g_autofree char *name = g_dbus_error_encode_gerror (error);

  reply_error (connection, call, name, error->message);
}

static void
refuse_too_large (EmDbusManagedObjects *self)
{
  g_autofree char *limit = g_strdup_printf ("%" G_GSIZE_FORMAT, self->max_bytes);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  guint n_objects = g_hash_table_size (em_dbus_task_table_get_objects (self->table));

  /* the numbers apart: a format macro would cut the msgid short; Failed, as
   * the reply guard refuses any other reply too large */
  error = g_error_new (EM_ERROR, EM_ERROR_FAILED,
                       _("The %u task objects take more than the %s bytes one D-Bus "
                         "message may hold; list the tasks in pages with ListTasks "
                         "(limit, after) and follow the task signals instead"),
                       n_objects, limit);
  name = g_dbus_error_encode_gerror (error);
  g_warning ("refusing GetManagedObjects: %u task objects take more than %s bytes",
             n_objects, limit);
  for (guint i = 0; i < self->callers->len; i++)
    reply_error (self->connection, g_ptr_array_index (self->callers, i), name, error->message);
  clear_build (self);
}

/* queues the objects that are new or changed since they were read, and
 * forgets those that left */
static void
collect_stale (EmDbusManagedObjects *self)
{
  GHashTable *objects = em_dbus_task_table_get_objects (self->table);
  GHashTableIter iter;
  gpointer value;

  g_ptr_array_set_size (self->todo, 0);
  self->next = 0;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = value;

      if (!is_exported (self, entry->object))
        {
          self->size -= g_variant_get_size (entry->entry) + ENTRY_FRAMING;
          g_hash_table_iter_remove (&iter);
        }
    }

  g_hash_table_iter_init (&iter, objects);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = g_hash_table_lookup (self->entries, em_dbus_task_object_get_path (value));

      if (entry == NULL || entry->serial != em_dbus_task_object_get_serial (value))
        g_ptr_array_add (self->todo, g_object_ref (value));
    }
}

static void
send_reply (EmDbusManagedObjects *self)
{
  GHashTable *objects = em_dbus_task_table_get_objects (self->table);
  g_autoptr(GVariant) body = NULL;
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  g_hash_table_iter_init (&iter, objects);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = g_hash_table_lookup (self->entries, em_dbus_task_object_get_path (value));

      g_assert (entry != NULL);
      g_variant_builder_add_value (&builder, entry->entry);
    }
  body = g_variant_ref_sink (g_variant_new ("(@a{oa{sa{sv}}})", g_variant_builder_end (&builder)));

  for (guint i = 0; i < self->callers->len; i++)
    {
      g_autoptr(GDBusMessage) reply = g_dbus_message_new_method_reply (g_ptr_array_index (self->callers, i));
      g_autoptr(GError) error = NULL;

      g_dbus_message_set_body (reply, body);
      if (!g_dbus_connection_send_message (self->connection, reply,
                                           G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error))
        g_debug ("could not answer GetManagedObjects: %s", error->message);
    }
  clear_build (self);
}

static guint
slice_objects (void)
{
  return test_hook.slice_objects > 0 ? test_hook.slice_objects : SLICE_OBJECTS;
}

/* reads what is left of the pass, then what changed meanwhile; refuses as
 * soon as the objects read pass the limit */
static gboolean
build_cb (gpointer user_data)
{
  EmDbusManagedObjects *self = user_data;
  guint end;

  /* callers that left the bus get nothing: the build ends with the last */
  for (guint i = self->callers->len; i > 0; i--)
    if (em_dbus_sender_limits_caller_left (g_ptr_array_index (self->callers, i - 1)))
      g_ptr_array_remove_index (self->callers, i - 1);
  if (self->callers->len == 0)
    {
      self->source = 0;
      clear_build (self);
      return G_SOURCE_REMOVE;
    }

  end = MIN (self->next + slice_objects (), self->todo->len);

  for (; self->next < end; self->next++)
    {
      EmDbusTaskObject *object = g_ptr_array_index (self->todo, self->next);

      /* unexported meanwhile */
      if (!is_exported (self, object))
        continue;
      read_object (self, object);
      if (self->size > self->max_bytes)
        {
          self->source = 0;
          refuse_too_large (self);
          return G_SOURCE_REMOVE;
        }
    }

  if (test_hook.hook != NULL)
    {
      test_hook.hook (self->table, test_hook.user_data);
      if (self->callers == NULL)
        return G_SOURCE_REMOVE;
    }
  if (self->next < self->todo->len)
    return G_SOURCE_CONTINUE;

  collect_stale (self);
  if (self->todo->len > slice_objects ())
    return G_SOURCE_CONTINUE;

  /* the few left are read in this turn, so that the reply is sent with
   * every object as it is now */
  for (; self->next < self->todo->len; self->next++)
    read_object (self, g_ptr_array_index (self->todo, self->next));
  self->source = 0;
  if (self->size > self->max_bytes)
    refuse_too_large (self);
  else
    send_reply (self);
  return G_SOURCE_REMOVE;
}

static void
start_build (EmDbusManagedObjects *self)
{
  GHashTableIter iter;
  gpointer value;

  self->callers = g_ptr_array_new_with_free_func (g_object_unref);
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, entry_free);
  self->todo = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, em_dbus_task_table_get_objects (self->table));
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (self->todo, g_object_ref (value));

  /* default priority: the build takes its turn among the other sources */
  self->source = g_idle_add_full (G_PRIORITY_DEFAULT, build_cb, self, NULL);
  g_source_set_name_by_id (self->source, "[em-dbus] GetManagedObjects");
}

static FilterData *
filter_data_ref (FilterData *data)
{
  g_atomic_ref_count_inc (&data->ref);
  return data;
}

static void
filter_data_unref (gpointer user_data)
{
  FilterData *data = user_data;

  if (!g_atomic_ref_count_dec (&data->ref))
    return;
  g_weak_ref_clear (&data->owner);
  g_weak_ref_clear (&data->connection);
  g_main_context_unref (data->context);
  g_free (data);
}

static void
request_free (gpointer user_data)
{
  Request *request = user_data;

  filter_data_unref (request->data);
  g_object_unref (request->message);
  g_free (request);
}

/* on the main context */
static gboolean
dispatch_cb (gpointer user_data)
{
  Request *request = user_data;
  g_autoptr(EmDbusManagedObjects) self = g_weak_ref_get (&request->data->owner);
  g_autoptr(GDBusConnection) connection = g_weak_ref_get (&request->data->connection);

  if (connection == NULL)
    return G_SOURCE_REMOVE;
  /* came in while the service left the bus */
  if (self == NULL || self->connection != connection)
    {
      reply_unavailable (connection, request->message);
      return G_SOURCE_REMOVE;
    }
  /* each caller gets its own copy of the reply: counted until it is sent */
  if (!em_dbus_sender_limits_admit_message (self->limits, connection, request->message))
    return G_SOURCE_REMOVE;

  if (self->callers == NULL)
    start_build (self);
  g_ptr_array_add (self->callers, g_object_ref (request->message));
  return G_SOURCE_REMOVE;
}

/* in GDBus's worker thread: takes the call before GDBusObjectManagerServer
 * would answer it in one turn, and hands it to the main context */
static GDBusMessage *
filter_cb (GDBusConnection *connection,
           GDBusMessage    *message,
           gboolean         incoming,
           gpointer         user_data)
{
  FilterData *data = user_data;
  GVariant *body;
  Request *request;
  GSource *source;

  if (!incoming ||
      g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL ||
      g_strcmp0 (g_dbus_message_get_path (message), EM_DBUS_MANAGER_PATH) != 0 ||
      g_strcmp0 (g_dbus_message_get_interface (message), OBJECT_MANAGER_IFACE) != 0 ||
      g_strcmp0 (g_dbus_message_get_member (message), "GetManagedObjects") != 0)
    return message;
  /* wrong arguments: GLib answers them as ever */
  body = g_dbus_message_get_body (message);
  if (body != NULL && g_variant_n_children (body) > 0)
    return message;

  request = g_new0 (Request, 1);
  request->data = filter_data_ref (data);
  request->message = message;
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, dispatch_cb, request, request_free);
  g_source_set_static_name (source, "[em-dbus] GetManagedObjects call");
  g_source_attach (source, data->context);
  g_source_unref (source);

  return NULL;
}

static void
em_dbus_managed_objects_dispose (GObject *object)
{
  EmDbusManagedObjects *self = EM_DBUS_MANAGED_OBJECTS (object);

  em_dbus_managed_objects_set_connection (self, NULL);
  g_clear_object (&self->limits);

  G_OBJECT_CLASS (em_dbus_managed_objects_parent_class)->dispose (object);
}

static void
em_dbus_managed_objects_class_init (EmDbusManagedObjectsClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = em_dbus_managed_objects_dispose;
}

static void
em_dbus_managed_objects_init (EmDbusManagedObjects *self)
{
  self->max_bytes = EM_DBUS_MAX_REPLY_BYTES;
}

EmDbusManagedObjects *
em_dbus_managed_objects_new (EmDbusTaskTable    *table,
                             EmDbusSenderLimits *limits)
{
  EmDbusManagedObjects *self;

  g_return_val_if_fail (EM_IS_DBUS_TASK_TABLE (table), NULL);
  g_return_val_if_fail (EM_IS_DBUS_SENDER_LIMITS (limits), NULL);

  self = g_object_new (EM_TYPE_DBUS_MANAGED_OBJECTS, NULL);
  self->table = table;
  self->limits = g_object_ref (limits);
  return self;
}

void
em_dbus_managed_objects_set_connection (EmDbusManagedObjects *self,
                                        GDBusConnection      *connection)
{
  g_return_if_fail (EM_IS_DBUS_MANAGED_OBJECTS (self));

  if (self->connection == connection)
    return;

  if (self->connection != NULL)
    {
      if (self->callers != NULL)
        for (guint i = 0; i < self->callers->len; i++)
          reply_unavailable (self->connection, g_ptr_array_index (self->callers, i));
      clear_build (self);
      g_dbus_connection_remove_filter (self->connection, self->filter);
      self->filter = 0;
      g_clear_object (&self->connection);
    }

  if (connection != NULL)
    {
      FilterData *data = g_new0 (FilterData, 1);

      g_atomic_ref_count_init (&data->ref);
      g_weak_ref_init (&data->owner, self);
      g_weak_ref_init (&data->connection, connection);
      data->context = g_main_context_ref_thread_default ();
      self->connection = g_object_ref (connection);
      self->filter = g_dbus_connection_add_filter (connection, filter_cb, data, filter_data_unref);
    }
}

void
em_dbus_managed_objects_set_max_bytes (EmDbusManagedObjects *self,
                                       gsize                 max_bytes)
{
  g_return_if_fail (EM_IS_DBUS_MANAGED_OBJECTS (self));

  self->max_bytes = max_bytes;
}

void
em_dbus_managed_objects_set_test_hook (guint                    slice_objects,
                                       EmDbusManagedObjectsHook hook,
                                       gpointer                 user_data)
{
  test_hook.slice_objects = slice_objects;
  test_hook.hook = hook;
  test_hook.user_data = user_data;
}
