#pragma once

#include "dbus/em-dbus-task-table.h"

G_BEGIN_DECLS

#define EM_TYPE_DBUS_MANAGED_OBJECTS (em_dbus_managed_objects_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusManagedObjects, em_dbus_managed_objects, EM, DBUS_MANAGED_OBJECTS, GObject)

/* answers org.freedesktop.DBus.ObjectManager.GetManagedObjects at the manager
 * path in place of GDBusObjectManagerServer, which builds the whole reply in
 * one main-loop turn: the reply is read from @table's objects a slice per
 * turn. @table owns it and must outlive it. Each call counts against its
 * sender in @limits until its reply is sent */
EmDbusManagedObjects *em_dbus_managed_objects_new            (EmDbusTaskTable    *table,
                                                              EmDbusSenderLimits *limits);
/* NULL answers the calls still waiting with Unavailable and stops taking new ones */
void                  em_dbus_managed_objects_set_connection (EmDbusManagedObjects *self,
                                                              GDBusConnection      *connection);
/* a reply over @max_bytes is refused as soon as the objects read pass it */
void                  em_dbus_managed_objects_set_max_bytes  (EmDbusManagedObjects *self,
                                                              gsize                 max_bytes);

/* for tests: objects read per turn (0: the default), and a function called
 * after each turn's slice, which may change @table */
typedef void (*EmDbusManagedObjectsHook) (EmDbusTaskTable *table,
                                          gpointer         user_data);
void                  em_dbus_managed_objects_set_test_hook  (guint                    slice_objects,
                                                              EmDbusManagedObjectsHook hook,
                                                              gpointer                 user_data);

G_END_DECLS
