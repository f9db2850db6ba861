#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EM_DBUS_NAME         "io.github.enginemanager.EngineManager"
#define EM_DBUS_MANAGER_PATH "/io/github/enginemanager/EngineManager"
#define EM_DBUS_TASKS_PATH   EM_DBUS_MANAGER_PATH "/tasks"

/* the D-Bus specification caps an array at 64 MiB (and a message at 128),
 * and the bus disconnects a sender that goes beyond: a reply holding such an
 * array would take the service off the bus. A reply's body within this
 * holds no array over the cap */
#define EM_DBUS_MAX_REPLY_BYTES (64 * 1024 * 1024)

/* /io/github/enginemanager/EngineManager/tasks/<id, '-' replaced by '_'> */
char     *em_dbus_task_path        (const char             *id);

/* an empty a{sv}, floating */
GVariant *em_dbus_empty_dict       (void);

/* refuses any key of the a{sv} @dict not in @known, and any key given twice,
 * naming it as "@what.key" */
gboolean  em_dbus_check_keys       (GVariant               *dict,
                                    const char             *what,
                                    const char * const     *known,
                                    GError                **error);

/* looks @key up in the a{sv} @dict; absent is fine (*out = NULL), a value of
 * another type than @type is an INVALID_ARGUMENT naming "@what.key" */
gboolean  em_dbus_lookup           (GVariant               *dict,
                                    const char             *what,
                                    const char             *key,
                                    const GVariantType     *type,
                                    GVariant              **out,
                                    GError                **error);

/* a count: any integer type from 0 to G_MAXUINT, since `gdbus call` sends a
 * bare 10 as int32; absent leaves *out alone */
gboolean  em_dbus_lookup_uint      (GVariant               *dict,
                                    const char             *what,
                                    const char             *key,
                                    guint                  *out,
                                    GError                **error);
/* an RFC 3339 string; absent leaves *out alone */
gboolean  em_dbus_lookup_time      (GVariant               *dict,
                                    const char             *what,
                                    const char             *key,
                                    GDateTime             **out,
                                    GError                **error);

/* the one place errors cross to the bus: EM_ERROR as is, anything else mapped
 * onto it, so callers only ever see io.github.enginemanager.Error.* names */
void      em_dbus_return_error     (GDBusMethodInvocation  *invocation,
                                    const GError           *error);

G_END_DECLS
