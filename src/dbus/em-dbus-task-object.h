#pragma once

#include "engine/em-engine-manager.h"
#include "dbus/em-dbus-sender-limits.h"

G_BEGIN_DECLS

#define EM_TYPE_DBUS_TASK_OBJECT (em_dbus_task_object_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusTaskObject, em_dbus_task_object, EM, DBUS_TASK_OBJECT, GObject)

/* the io.github.enginemanager.Task1 object of one task: mirrors the task's
 * fields into the generated skeleton as they change and serves Cancel(),
 * which counts against @limits until its reply */
EmDbusTaskObject    *em_dbus_task_object_new          (EmEngineManager    *manager,
                                                       EmTask             *task,
                                                       EmDbusSenderLimits *limits);
EmTask              *em_dbus_task_object_get_task     (EmDbusTaskObject *self);
const char          *em_dbus_task_object_get_path     (EmDbusTaskObject *self);
GDBusObjectSkeleton *em_dbus_task_object_get_skeleton (EmDbusTaskObject *self);

/* called for every event of the task: sets Progress to what the event
 * captured (rate-limited by the engine's events) and sends pending
 * PropertiesChanged now, so they precede the event's signal */
void                 em_dbus_task_object_flush        (EmDbusTaskObject *self,
                                                       gdouble           progress);
/* when the object is due to leave the bus (monotonic µs), or 0 while the task runs */
gint64               em_dbus_task_object_get_expires_at (EmDbusTaskObject *self);
void                 em_dbus_task_object_set_expires_at (EmDbusTaskObject *self,
                                                         gint64            expires_at);
/* changes whenever one of the object's properties does */
guint64              em_dbus_task_object_get_serial     (EmDbusTaskObject *self);

G_END_DECLS
