#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-body-limit.h"
#include "rest/em-problem.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-limits.h"
#include "rest/em-rest-server.h"
#include "rest/em-websocket-hub.h"

struct _EmRestServer
{
  GObject          parent_instance;

  EmRestContext    ctx;
  SoupServer      *soup;
  EmWebsocketHub  *hub;
  char            *base_url;
  EmBodyLimit      body_limit;
  guint64          ws_max_backlog;
  guint            ws_keepalive;
  guint            ws_max_clients;
};

enum {
  PROP_0,
  PROP_MANAGER,
  PROP_MAX_BODY_SIZE,
  PROP_WS_MAX_BACKLOG,
  PROP_WS_KEEPALIVE,
  PROP_WS_MAX_CLIENTS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (EmRestServer, em_rest_server, G_TYPE_OBJECT)

typedef enum {
  ROUTE_NONE,
  ROUTE_HEALTH,
  ROUTE_ACTIONS,
  ROUTE_TASKS,
  ROUTE_TASK,
  ROUTE_TASK_IMAGE,
  ROUTE_WS,
} Route;

/* the methods each route answers, for routing and for the Allow header */
static const char *
route_allow (Route route)
{
  switch (route)
    {
    case ROUTE_TASKS:
      return "GET, HEAD, POST";
    case ROUTE_TASK:
      return "GET, HEAD, DELETE";
    case ROUTE_WS:
      return "GET";
    case ROUTE_HEALTH:
    case ROUTE_ACTIONS:
    case ROUTE_TASK_IMAGE:
      return "GET, HEAD";
    case ROUTE_NONE:
    default:
      return "";
    }
}

static Route
route_for_path (const char  *path,
                char       **out_id)
{
  g_auto(GStrv) parts = NULL;
  guint n;

  *out_id = NULL;
  if (g_str_equal (path, "/health"))
    return ROUTE_HEALTH;
  if (g_str_equal (path, "/actions"))
    return ROUTE_ACTIONS;
  if (g_str_equal (path, "/tasks"))
    return ROUTE_TASKS;
  if (g_str_equal (path, "/ws"))
    return ROUTE_WS;
  if (!g_str_has_prefix (path, "/tasks/"))
    return ROUTE_NONE;

  parts = g_strsplit (path + strlen ("/tasks/"), "/", 3);
  n = g_strv_length (parts);
  if (n == 0 || *parts[0] == '\0')
    return ROUTE_NONE;
  if (n == 1)
    {
      *out_id = g_strdup (parts[0]);
      return ROUTE_TASK;
    }
  if (n == 2 && g_str_equal (parts[1], "image"))
    {
      *out_id = g_strdup (parts[0]);
      return ROUTE_TASK_IMAGE;
    }
  return ROUTE_NONE;
}

static gboolean
method_allowed (Route       route,
                const char *method)
{
  g_auto(GStrv) allowed = g_strsplit (route_allow (route), ", ", -1);

  return g_strv_contains ((const char * const *) allowed, method);
}

static void
handle_request (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  EmRestServer *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *id = NULL;
  Route route = route_for_path (path, &id);

  g_debug ("%s %s", method, path);

  if (route == ROUTE_NONE)
    {
      em_problem_respond_printf (msg, 404, _("path: no resource at “%s”"), path);
      return;
    }
  if (!method_allowed (route, method))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", route_allow (route));
      em_problem_respond_printf (msg, 405, _("method: %s is not allowed on %s; use %s"),
                                 method, path, route_allow (route));
      return;
    }

  switch (route)
    {
    case ROUTE_HEALTH:
      em_rest_health (&self->ctx, msg);
      break;
    case ROUTE_ACTIONS:
      em_rest_actions (&self->ctx, msg);
      break;
    case ROUTE_TASKS:
      if (g_str_equal (method, "POST"))
        em_rest_tasks_create (&self->ctx, msg);
      else
        em_rest_tasks_list (&self->ctx, msg, query);
      break;
    case ROUTE_TASK:
      if (g_str_equal (method, "DELETE"))
        em_rest_tasks_cancel (&self->ctx, msg, id);
      else
        em_rest_tasks_get (&self->ctx, msg, id);
      break;
    case ROUTE_TASK_IMAGE:
      em_rest_tasks_image (&self->ctx, msg, id);
      break;
    case ROUTE_WS:
      em_websocket_hub_handle (self->hub, msg);
      break;
    case ROUTE_NONE:
    default:
      g_assert_not_reached ();
    }
}

static void
request_started_cb (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  EmRestServer *self = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);

  /* libsoup writes head and body apart; with Nagle the body would wait for the
   * client's (delayed) acknowledgement of the head */
  if (socket != NULL)
    g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  em_body_limit_watch (msg, &self->body_limit);
}

/* a thousand WebSocket clients need more descriptors than the usual soft
 * limit of 1024; GLib polls, so a larger limit is safe */
static void
raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
        g_debug ("could not raise the descriptor limit");
    }
}

/* libsoup would listen with GLib's backlog of 10: a thousand clients connecting
 * at once would see dropped SYNs and retry for seconds */
static GSocket *
listen_socket (SoupServer      *soup,
               GSocketAddress  *address,
               GError         **error)
{
  g_autoptr(GSocket) socket = g_socket_new (g_socket_address_get_family (address),
                                            G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);

  if (socket == NULL)
    return NULL;
  g_socket_set_listen_backlog (socket, EM_REST_LISTEN_BACKLOG);
  if (!g_socket_bind (socket, address, TRUE, error) ||
      !g_socket_listen (socket, error) ||
      !soup_server_listen_socket (soup, socket, 0, error))
    return NULL;
  return g_steal_pointer (&socket);
}

/* from the socket itself: soup_server_get_uris() leaks in libsoup 3.2 */
static char *
base_url_for (GSocket *socket)
{
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (socket, NULL);
  g_autofree char *host = NULL;
  GInetAddress *inet;

  if (local == NULL)
    return NULL;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
  host = g_inet_address_to_string (inet);
  return g_strdup_printf (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6 ?
                          "http://[%s]:%u" : "http://%s:%u",
                          host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
}

gboolean
em_rest_server_listen (EmRestServer  *self,
                       const char    *address,
                       guint          port,
                       GError       **error)
{
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GSocket) socket = NULL;

  g_return_val_if_fail (EM_IS_REST_SERVER (self), FALSE);
  g_return_val_if_fail (self->soup == NULL, FALSE);

  if (address == NULL || g_str_equal (address, "localhost"))
    address = "127.0.0.1";
  inet = g_inet_address_new_from_string (address);
  if (inet == NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("http-address: “%s” is not an IP address"), address);
      return FALSE;
    }
  if (port > G_MAXUINT16)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("http-port: %u is not a port number"), port);
      return FALSE;
    }

  raise_fd_limit ();
  em_websocket_hub_set_limits (self->hub, self->ws_max_backlog, self->ws_keepalive,
                               self->ws_max_clients);

  self->soup = soup_server_new ("server-header", "engine-manager/" PACKAGE_VERSION " ", NULL);
  g_signal_connect (self->soup, "request-started", G_CALLBACK (request_started_cb), self);
  soup_server_add_handler (self->soup, NULL, handle_request, self, NULL);

  socket_address = g_inet_socket_address_new (inet, (guint16) port);
  socket = listen_socket (self->soup, socket_address, &local_error);
  if (socket == NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                   _("cannot listen on %s port %u: %s"), address, port, local_error->message);
      g_clear_object (&self->soup);
      return FALSE;
    }
  self->base_url = base_url_for (socket);
  return TRUE;
}

char *
em_rest_server_get_base_url (EmRestServer *self)
{
  g_return_val_if_fail (EM_IS_REST_SERVER (self), NULL);
  return g_strdup (self->base_url);
}

void
em_rest_server_shutdown (EmRestServer *self)
{
  g_return_if_fail (EM_IS_REST_SERVER (self));

  em_websocket_hub_close_all (self->hub, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                              "server shutting down");
  g_cancellable_cancel (self->ctx.cancellable);
  if (self->soup != NULL)
    soup_server_disconnect (self->soup);
  g_clear_pointer (&self->base_url, g_free);
}

guint
em_rest_server_get_n_websocket_clients (EmRestServer *self)
{
  g_return_val_if_fail (EM_IS_REST_SERVER (self), 0);
  return em_websocket_hub_get_n_clients (self->hub);
}

static void
em_rest_server_constructed (GObject *object)
{
  EmRestServer *self = EM_REST_SERVER (object);

  G_OBJECT_CLASS (em_rest_server_parent_class)->constructed (object);

  g_assert (self->ctx.manager != NULL);
  self->hub = em_websocket_hub_new (self->ctx.manager);
}

static void
em_rest_server_dispose (GObject *object)
{
  EmRestServer *self = EM_REST_SERVER (object);

  if (self->ctx.cancellable != NULL)
    g_cancellable_cancel (self->ctx.cancellable);
  if (self->soup != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->soup, self);
      soup_server_disconnect (self->soup);
      g_clear_object (&self->soup);
    }
  g_clear_object (&self->hub);
  g_clear_object (&self->ctx.manager);

  G_OBJECT_CLASS (em_rest_server_parent_class)->dispose (object);
}

static void
em_rest_server_finalize (GObject *object)
{
  EmRestServer *self = EM_REST_SERVER (object);

  g_clear_object (&self->ctx.cancellable);
  g_free (self->base_url);

  G_OBJECT_CLASS (em_rest_server_parent_class)->finalize (object);
}

static void
em_rest_server_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  EmRestServer *self = EM_REST_SERVER (object);

  switch (prop_id)
    {
    case PROP_MANAGER:
      g_value_set_object (value, self->ctx.manager);
      break;
    case PROP_MAX_BODY_SIZE:
      g_value_set_uint64 (value, self->body_limit.max_bytes);
      break;
    case PROP_WS_MAX_BACKLOG:
      g_value_set_uint64 (value, self->ws_max_backlog);
      break;
    case PROP_WS_KEEPALIVE:
      g_value_set_uint (value, self->ws_keepalive);
      break;
    case PROP_WS_MAX_CLIENTS:
      g_value_set_uint (value, self->ws_max_clients);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_rest_server_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  EmRestServer *self = EM_REST_SERVER (object);

  switch (prop_id)
    {
    case PROP_MANAGER:
      self->ctx.manager = g_value_dup_object (value);
      break;
    case PROP_MAX_BODY_SIZE:
      self->body_limit.max_bytes = g_value_get_uint64 (value);
      break;
    case PROP_WS_MAX_BACKLOG:
      self->ws_max_backlog = g_value_get_uint64 (value);
      break;
    case PROP_WS_KEEPALIVE:
      self->ws_keepalive = g_value_get_uint (value);
      break;
    case PROP_WS_MAX_CLIENTS:
      self->ws_max_clients = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
  if (self->hub != NULL)
    em_websocket_hub_set_limits (self->hub, self->ws_max_backlog, self->ws_keepalive,
                                 self->ws_max_clients);
}

static void
em_rest_server_class_init (EmRestServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = em_rest_server_constructed;
  object_class->dispose = em_rest_server_dispose;
  object_class->finalize = em_rest_server_finalize;
  object_class->get_property = em_rest_server_get_property;
  object_class->set_property = em_rest_server_set_property;

  properties[PROP_MANAGER] =
    g_param_spec_object ("manager", NULL, NULL, EM_TYPE_ENGINE_MANAGER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX_BODY_SIZE] =
    g_param_spec_uint64 ("max-body-size", NULL, NULL, 1, G_MAXUINT64,
                         EM_REST_DEFAULT_MAX_BODY_SIZE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  properties[PROP_WS_MAX_BACKLOG] =
    g_param_spec_uint64 ("ws-max-backlog", NULL, NULL, 1, G_MAXUINT64,
                         EM_REST_DEFAULT_WS_BACKLOG,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  properties[PROP_WS_KEEPALIVE] =
    g_param_spec_uint ("ws-keepalive", NULL, NULL, 0, G_MAXUINT,
                       EM_REST_DEFAULT_WS_KEEPALIVE,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  properties[PROP_WS_MAX_CLIENTS] =
    g_param_spec_uint ("ws-max-clients", NULL, NULL, 1, G_MAXUINT,
                       EM_REST_DEFAULT_WS_MAX_CLIENTS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_rest_server_init (EmRestServer *self)
{
  self->ctx.cancellable = g_cancellable_new ();
  self->body_limit.cancellable = self->ctx.cancellable;
  self->ctx.max_json_depth = EM_REST_MAX_JSON_DEPTH;
  self->ctx.page_default = EM_REST_DEFAULT_PAGE_LIMIT;
  self->ctx.page_max = EM_REST_MAX_PAGE_LIMIT;
}

EmRestServer *
em_rest_server_new (EmEngineManager *manager)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (manager), NULL);
  return g_object_new (EM_TYPE_REST_SERVER, "manager", manager, NULL);
}
