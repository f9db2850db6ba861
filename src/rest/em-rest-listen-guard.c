#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib/gi18n.h>

#include "rest/em-rest-listen-guard.h"

/* how often libsoup may be given a new listener, and how long to wait when
 * not even a refused connection can be taken off the backlog */
#define RETRY_INTERVAL_US (100 * G_TIME_SPAN_MILLISECOND)
#define RETRY_INTERVAL_MS (RETRY_INTERVAL_US / 1000)
/* one line in the log for a flood of refusals */
#define REPORT_INTERVAL_US (10 * G_TIME_SPAN_SECOND)

struct _EmRestListenGuard {
  SoupServer              *server;
  /* the socket of libsoup's newest listener; the dead ones' are closed */
  GSocket                 *socket;
  SoupServerListenOptions  options;
  GSource                 *watch;
  guint                    pause_source;
  /* given up for a moment to take a connection off the backlog and refuse it */
  int                      reserve;
  gint64                   last_listen;
  gint64                   last_report;
  guint                    refused;
  int                      refused_errno;
};

static void arm (EmRestListenGuard *self);

static int
open_reserve (void)
{
  return open ("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void
report (EmRestListenGuard *self,
        gboolean           now)
{
  gint64 time = g_get_monotonic_time ();

  if (self->refused == 0 || (!now && time - self->last_report < REPORT_INTERVAL_US))
    return;
  g_warning (ngettext ("Refused %u connection: %s", "Refused %u connections: %s", self->refused),
             self->refused, g_strerror (self->refused_errno));
  self->refused = 0;
  self->last_report = time;
}

/* libsoup's listener for a duplicate of the socket: the old one is gone */
static gboolean
listen_again (EmRestListenGuard *self)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_monotonic_time ();
  int fd;

  if (now - self->last_listen < RETRY_INTERVAL_US)
    return FALSE;
  fd = fcntl (g_socket_get_fd (self->socket), F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      self->refused_errno = errno;
      return FALSE;
    }
  self->last_listen = now;
  socket = g_socket_new_from_fd (fd, &error);
  if (socket == NULL)
    {
      close (fd);
      g_warning (_("Cannot accept connections again: %s"), error->message);
      return FALSE;
    }
  if (!soup_server_listen_socket (self->server, socket, self->options, &error))
    {
      g_warning (_("Cannot accept connections again: %s"), error->message);
      return FALSE;
    }
  report (self, TRUE);
  g_message (_("Accepting connections again"));
  /* the dead listener keeps its socket object; its descriptor is freed */
  g_socket_close (self->socket, NULL);
  g_set_object (&self->socket, socket);
  return TRUE;
}

/* takes the waiting connections off the backlog and closes them; FALSE when
 * it could not, and the backlog is left as it is for a while */
static gboolean
refuse_waiting (EmRestListenGuard *self)
{
  int listen_fd = g_socket_get_fd (self->socket);

  if (self->reserve >= 0)
    {
      close (self->reserve);
      self->reserve = -1;
    }
  for (;;)
    {
      int fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

      if (fd < 0)
        {
          gboolean drained = errno == EAGAIN || errno == EWOULDBLOCK;

          self->reserve = open_reserve ();
          report (self, FALSE);
          return drained;
        }
      close (fd);
      self->refused++;
    }
}

static gboolean
resume_cb (gpointer user_data)
{
  EmRestListenGuard *self = user_data;

  self->pause_source = 0;
  arm (self);
  return G_SOURCE_REMOVE;
}

/* a connection waits and libsoup, whose source runs first, did not take it */
static gboolean
waiting_cb (GSocket      *socket,
            GIOCondition  condition,
            gpointer      user_data)
{
  EmRestListenGuard *self = user_data;
  GSource *watch = self->watch;

  if (listen_again (self))
    {
      /* the watch follows the new socket */
      self->watch = NULL;
      arm (self);
      g_source_unref (watch);
      return G_SOURCE_REMOVE;
    }
  if (refuse_waiting (self))
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&self->watch, g_source_unref);
  self->pause_source = g_timeout_add (RETRY_INTERVAL_MS, resume_cb, self);
  return G_SOURCE_REMOVE;
}

static void
arm (EmRestListenGuard *self)
{
  self->watch = g_socket_create_source (self->socket, G_IO_IN, NULL);
  /* below libsoup's listener, at the default priority: when both are ready,
   * only libsoup's runs */
  g_source_set_priority (self->watch, G_PRIORITY_LOW);
  g_source_set_static_name (self->watch, "EmRestListenGuard");
  g_source_set_callback (self->watch, G_SOURCE_FUNC (waiting_cb), self, NULL);
  g_source_attach (self->watch, NULL);
}

EmRestListenGuard *
em_rest_listen_guard_new (SoupServer              *server,
                          GSocket                 *socket,
                          SoupServerListenOptions  options)
{
  EmRestListenGuard *self = g_new0 (EmRestListenGuard, 1);

  self->server = server;
  self->socket = g_object_ref (socket);
  self->options = options;
  self->reserve = open_reserve ();
  arm (self);
  return self;
}

void
em_rest_listen_guard_free (EmRestListenGuard *self)
{
  if (self == NULL)
    return;
  if (self->watch != NULL)
    {
      g_source_destroy (self->watch);
      g_source_unref (self->watch);
    }
  g_clear_handle_id (&self->pause_source, g_source_remove);
  report (self, TRUE);
  if (self->reserve >= 0)
    close (self->reserve);
  g_object_unref (self->socket);
  g_free (self);
}
