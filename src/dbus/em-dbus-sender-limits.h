#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EM_DBUS_DEFAULT_MAX_CALLS_PER_SENDER 64

#define EM_TYPE_DBUS_SENDER_LIMITS (em_dbus_sender_limits_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusSenderLimits, em_dbus_sender_limits, EM, DBUS_SENDER_LIMITS, GObject)

/* counts the method calls each bus sender has in flight, so one client cannot
 * pile up unbounded work; "max-per-sender" is the limit and "senders" (read
 * only) how many senders have calls in flight */
EmDbusSenderLimits *em_dbus_sender_limits_new         (void);
/* counts @invocation against its sender until it is answered and freed;
 * beyond the limit it answers Unavailable itself (consuming @invocation) and
 * returns FALSE */
gboolean            em_dbus_sender_limits_admit       (EmDbusSenderLimits    *self,
                                                       GDBusMethodInvocation *invocation);
/* as em_dbus_sender_limits_admit(), for a method call GDBus does not
 * dispatch (a connection filter took it): counts @call until it is freed, or
 * answers it Unavailable on @connection and returns FALSE */
gboolean            em_dbus_sender_limits_admit_message (EmDbusSenderLimits *self,
                                                         GDBusConnection    *connection,
                                                         GDBusMessage       *call);
/* stops counting @invocation against its sender now, from any thread: a
 * reply sent by a worker must not reach the client while its call still
 * counts, or the client's next call could be refused at the limit. It stays
 * unsent until the invocation is freed */
void                em_dbus_sender_limits_release     (GDBusMethodInvocation *invocation);
guint               em_dbus_sender_limits_get_senders (EmDbusSenderLimits    *self);
/* watches @connection's bus for senders leaving; NULL stops watching */
void                em_dbus_sender_limits_set_connection (EmDbusSenderLimits *self,
                                                          GDBusConnection    *connection);
/* (transfer full): goes off when the sender of @invocation leaves the bus
 * while the call counts, or when @also does; for reads, which nobody is left
 * to receive. Once per invocation */
GCancellable       *em_dbus_sender_limits_watch       (GDBusMethodInvocation *invocation,
                                                       GCancellable          *also);
/* whether the sender of an admitted invocation or message left the bus
 * while it counted */
gboolean            em_dbus_sender_limits_caller_left (GObject               *call);
/* admitted calls whose reply is not on the connection yet, from any thread */
guint               em_dbus_sender_limits_get_unsent  (EmDbusSenderLimits    *self);

G_END_DECLS
