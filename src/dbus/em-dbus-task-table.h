#pragma once

#include "dbus/em-dbus-task-object.h"

G_BEGIN_DECLS

/* how long a finished task's object stays on the bus, so a client that just saw
 * TaskCompleted can still read its properties; GetTask works after that */
#define EM_DBUS_TASK_GRACE_SECONDS 5

#define EM_TYPE_DBUS_TASK_TABLE (em_dbus_task_table_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusTaskTable, em_dbus_task_table, EM, DBUS_TASK_TABLE, GObject)

/* the task objects under the ObjectManager at the manager path: exported when a
 * task is scheduled, unexported a grace period after it finished; their
 * Cancel() calls count against @limits */
EmDbusTaskTable  *em_dbus_task_table_new            (EmEngineManager    *manager,
                                                     EmDbusSenderLimits *limits);
void              em_dbus_task_table_set_connection (EmDbusTaskTable *self,
                                                     GDBusConnection *connection);
/* exports @task's object if it is not yet, and arms the grace timer once the
 * task finished; (transfer none) */
EmDbusTaskObject *em_dbus_task_table_ensure         (EmDbusTaskTable *self,
                                                     EmTask          *task);
/* (transfer none) (nullable) */
EmDbusTaskObject *em_dbus_task_table_lookup         (EmDbusTaskTable *self,
                                                     const char      *id);
guint             em_dbus_task_table_get_size       (EmDbusTaskTable *self);
/* unexports the objects of @ids at once: their tasks left history */
void              em_dbus_task_table_forget         (EmDbusTaskTable     *self,
                                                     const char * const  *ids);
/* id → EmDbusTaskObject of every exported object; (transfer none) */
GHashTable       *em_dbus_task_table_get_objects    (EmDbusTaskTable *self);
/* GetManagedObjects is refused once its reply would pass @max_bytes */
void              em_dbus_task_table_set_max_reply_bytes (EmDbusTaskTable *self,
                                                          gsize            max_bytes);

G_END_DECLS
