#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "engine/em-clip.h"
#include "engine/em-debug.h"
#include "engine/em-error.h"
#include "rest/em-body-limit.h"
#include "rest/em-problem.h"
#include "rest/em-rest-auth.h"
#include "rest/em-rest-context.h"
#include "rest/em-rest-cors.h"
#include "rest/em-rest-dashboard.h"
#include "rest/em-rest-devices.h"
#include "rest/em-rest-host.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-limits.h"
#include "rest/em-rest-linger.h"
#include "rest/em-rest-openapi.h"
#include "rest/em-rest-query.h"
#include "rest/em-rest-server.h"
#include "rest/em-rest-status.h"
#include "rest/em-rest-target.h"
#include "rest/em-rest-tls.h"
#include "rest/em-rest-drain.h"
#include "rest/em-rest-idle.h"
#include "rest/em-rest-listen-guard.h"
#include "rest/em-rest-unparsed.h"
#include "rest/em-websocket-hub.h"

struct _EmRestServer
{
  GObject          parent_instance;

  EmRestContext    ctx;
  SoupServer      *soup;
  EmWebsocketHub  *hub;
  char            *base_url;
  /* its cancellable ends the lingers of refused requests (em-rest-linger.c):
   * not at the stop's shutdown, whose exit waits for them instead, since a
   * client still sending the body of one would have it reset under it */
  EmBodyLimit      body_limit;
  guint64          ws_max_backlog;
  guint            ws_keepalive;
  guint            ws_max_clients;
  /* access control (em-rest-auth.c, em-rest-cors.c) */
  char            *token;
  char            *token_file;
  gboolean         insecure;
  char            *tls_certificate_file;
  char            *tls_key_file;
  gboolean         tls;
  GStrv            cors_origins;
  guint            max_header_size;
  guint            idle_timeout;
  EmRestIdle      *idle;
  EmRestDrain     *drain;
  EmRestListenGuard *listen_guard;
};

enum {
  PROP_0,
  PROP_MANAGER,
  PROP_MAX_BODY_SIZE,
  PROP_MAX_BODIES_SIZE,
  PROP_WS_MAX_BACKLOG,
  PROP_WS_KEEPALIVE,
  PROP_WS_MAX_CLIENTS,
  PROP_TOKEN,
  PROP_TOKEN_FILE,
  PROP_INSECURE,
  PROP_TLS_CERTIFICATE_FILE,
  PROP_TLS_KEY_FILE,
  PROP_CORS_ORIGINS,
  PROP_MAX_HEADER_SIZE,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_PAGE_BYTES,
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
  ROUTE_QUEUE,
  ROUTE_QUEUE_PAUSE,
  ROUTE_QUEUE_RESUME,
  ROUTE_DEVICES,
  ROUTE_OPENAPI,
  ROUTE_DASHBOARD,
} Route;

/* the methods each route answers, for routing and for the Allow header:
 * every route also answers OPTIONS, with this list or as a CORS preflight */
static const char *
route_allow (Route route)
{
  switch (route)
    {
    case ROUTE_TASKS:
      return "GET, HEAD, POST, DELETE, OPTIONS";
    case ROUTE_TASK:
      return "GET, HEAD, DELETE, OPTIONS";
    case ROUTE_WS:
      return "GET, OPTIONS";
    case ROUTE_QUEUE_PAUSE:
    case ROUTE_QUEUE_RESUME:
      return "POST, OPTIONS";
    case ROUTE_DEVICES:
    case ROUTE_OPENAPI:
    case ROUTE_DASHBOARD:
    case ROUTE_QUEUE:
    case ROUTE_HEALTH:
    case ROUTE_ACTIONS:
    case ROUTE_TASK_IMAGE:
      return "GET, HEAD, OPTIONS";
    case ROUTE_NONE:
    default:
      return "";
    }
}

/* what a preflight lets a page send: OPTIONS itself needs no permission */
static char *
route_preflight_methods (Route route)
{
  const char *allow = route_allow (route);

  g_assert (g_str_has_suffix (allow, ", OPTIONS"));
  return g_strndup (allow, strlen (allow) - strlen (", OPTIONS"));
}

/* @path: as the client sent it, percent-encoded (the server's raw-paths); it
 * is cut at its slashes before a segment is decoded, so an encoded slash
 * ("%2F") stays in its segment, an id, and never reaches another route */
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
  if (g_str_equal (path, "/queue"))
    return ROUTE_QUEUE;
  if (g_str_equal (path, "/queue/pause"))
    return ROUTE_QUEUE_PAUSE;
  if (g_str_equal (path, "/queue/resume"))
    return ROUTE_QUEUE_RESUME;
  if (g_str_equal (path, "/devices"))
    return ROUTE_DEVICES;
  if (g_str_equal (path, "/openapi.json"))
    return ROUTE_OPENAPI;
  if (em_rest_dashboard_is_path (path))
    return ROUTE_DASHBOARD;
  if (!g_str_has_prefix (path, "/tasks/"))
    return ROUTE_NONE;

  parts = g_strsplit (path + strlen ("/tasks/"), "/", 3);
  n = g_strv_length (parts);
  if (n == 0 || *parts[0] == '\0' || n > 2 || (n == 2 && !g_str_equal (parts[1], "image")))
    return ROUTE_NONE;
  /* NULL for a NUL byte, which the path check refuses */
  *out_id = g_uri_unescape_string (parts[0], NULL);
  return n == 1 ? ROUTE_TASK : ROUTE_TASK_IMAGE;
}

/* a word of route_allow()'s list; read twice per request, so without
 * splitting it (g_strsplit() was 2 500 instructions a call). libsoup hands
 * on the empty method of a request line that starts with a space: strstr()
 * finds "" everywhere, and the search would run past the list's end */
static gboolean
method_allowed (Route       route,
                const char *method)
{
  gsize length = strlen (method);
  const char *allow = route_allow (route);
  const char *at = allow;

  if (length == 0)
    return FALSE;
  while ((at = strstr (at, method)) != NULL)
    {
      gboolean starts = at == allow || at[-1] == ' ';
      gboolean ends = at[length] == '\0' || at[length] == ',';

      if (starts && ends)
        return TRUE;
      at += length;
    }
  return FALSE;
}

/* what anyone may read without the token: health tells nothing, and the
 * dashboard's files are those of the binary, holding no data; a browser must
 * load the page before the page can ask for the token */
static gboolean
is_public (Route       route,
           const char *method)
{
  return (route == ROUTE_HEALTH || route == ROUTE_DASHBOARD) && method_allowed (route, method);
}

/* what libsoup has read of the request head: each line, its ": " and CRLF included */
static gboolean
check_header_size (EmRestServer      *self,
                   SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  guint64 size = 0;

  if (self->max_header_size == 0)
    return TRUE;
  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    size += strlen (name) + strlen (value) + 4;
  if (size <= self->max_header_size)
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
  em_problem_respond_printf (msg, 431, _("headers: %llu bytes of headers; the limit is %u"),
                             (unsigned long long) size, self->max_header_size);
  return FALSE;
}

/* DNS rebinding: a page at http://evil.example:8000 whose name the attacker
 * points at this machine is same-origin with itself, and passes the Origin
 * check. Without a token, only names DNS cannot redirect reach the service;
 * with one, or with --insecure, the name does not matter. */
static gboolean
check_host (EmRestServer      *self,
            SoupServerMessage *msg)
{
  const char *host = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Host");

  g_autofree char *quoted = NULL;

  if (self->token != NULL || self->insecure || host == NULL || em_rest_host_is_fixed (host))
    return TRUE;
  quoted = em_clip_for_message (host);
  em_problem_respond_printf (msg, 403,
                             _("Host: “%s” is a name DNS could point at this service from "
                               "another site; without a token it answers only to localhost "
                               "and IP addresses"), quoted);
  return FALSE;
}

/* no Origin (not a browser page), the service's own, or a listed one */
static gboolean
origin_permitted (EmRestServer *self, SoupServerMessage *msg)
{
  const char *origin = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Origin");

  return em_rest_cors_same_origin (msg, self->tls) ||
         em_rest_cors_origin_allowed ((const char * const *) self->cors_origins, origin);
}

/* what every answer carries, as check_head() sets it; for em-body-limit.c's
 * refusals, which may come before check_head() or after libsoup has cleared
 * the answer's headers with its "100 Continue" */
static void
add_answer_headers (SoupServerMessage *msg,
                    gpointer           user_data)
{
  EmRestServer *self = user_data;

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "X-Content-Type-Options", "nosniff");
  em_rest_cors_add_headers (msg, (const char * const *) self->cors_origins);
}

/* the refusals the request's head decides, in the order they apply; FALSE
 * once @msg is answered. @path is the raw path, @query as libsoup decodes
 * it; @out_params: the query as the handlers read it, bare names kept, NULL
 * when there is none. Idempotent: a request that waits for "100 Continue"
 * goes through it on got-headers, and again in the handler; any other with a
 * body, only on got-headers. */
static gboolean
check_head (EmRestServer       *self,
            SoupServerMessage  *msg,
            const char         *path,
            GHashTable         *query,
            Route               route,
            GHashTable        **out_params)
{
  const char *method = soup_server_message_get_method (msg);
  /* NULL when it would hold a NUL byte */
  g_autofree char *decoded = g_uri_unescape_string (path, NULL);
  g_autoptr(GError) error = NULL;

  *out_params = NULL;
  /* JSON, images, the dashboard's files: each answer is what its type says,
   * and a browser must not take one for a page because of its bytes */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "X-Content-Type-Options", "nosniff");
  /* a refused upgrade ends the connection, as libsoup's own refusals do:
   * WebSocket clients wait for the close before they report the refusal;
   * the hub takes this back when it accepts */
  if (route == ROUTE_WS)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Connection", "close");

  if (!check_header_size (self, msg))
    return FALSE;
  /* health tells nothing, under any name */
  if (!(route == ROUTE_HEALTH && method_allowed (route, method)) && !check_host (self, msg))
    return FALSE;
  em_rest_cors_add_headers (msg, (const char * const *) self->cors_origins);
  /* a browser's preflight carries no credentials */
  if (g_str_equal (method, "OPTIONS") && route != ROUTE_NONE &&
      soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                    "Access-Control-Request-Method") != NULL)
    {
      g_autofree char *methods = route_preflight_methods (route);

      em_rest_cors_preflight (msg, (const char * const *) self->cors_origins, methods);
      /* an answer to OPTIONS like the one without the preflight's header */
      if (soup_server_message_get_status (msg) == 204)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      "Allow", route_allow (route));
      return FALSE;
    }
  if (!is_public (route, method) &&
      !em_rest_auth_check (msg, query, self->token, route == ROUTE_WS))
    return FALSE;

  /* the path and query are quoted back in problem documents, which are JSON,
   * and the WebSocket hub reads the query too: refused before anyone does */
  if (decoded == NULL)
    {
      /* libsoup refuses a bad escape in the path itself, but for an HTTP/1.0
       * request without Host */
      if (strstr (path, "%00") == NULL)
        em_problem_respond (msg, 400, NULL, _("path: holds a “%” not followed by two hex digits"));
      else
        em_problem_respond (msg, 400, NULL, _("path: holds a NUL byte once percent-decoded"));
      return FALSE;
    }
  if (!g_utf8_validate (decoded, -1, NULL))
    {
      em_problem_respond (msg, 400, NULL, _("path: not valid UTF-8"));
      return FALSE;
    }
  /* most requests have none: their handlers take NULL, as libsoup gives it */
  if (query != NULL &&
      (*out_params = em_rest_query_decode (g_uri_get_query (em_rest_target_uri (msg)),
                                           &error)) == NULL)
    {
      em_problem_respond_error (msg, error);
      return FALSE;
    }

  if (route == ROUTE_NONE)
    {
      /* escapes kept: decoded, "/tasks%2F<id>" would read "/tasks/<id>", as
       * if the task were missing */
      g_autofree char *quoted = em_clip_for_message (path);

      em_problem_respond_printf (msg, 404, _("path: no resource at “%s”"), quoted);
      return FALSE;
    }
  if (!method_allowed (route, method))
    {
      g_autofree char *quoted_method = em_clip_for_message (method);
      g_autofree char *quoted_path = em_clip_for_message (decoded);

      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", route_allow (route));
      em_problem_respond_printf (msg, 405, _("method: %s is not allowed on %s; use %s"),
                                 quoted_method, quoted_path, route_allow (route));
      return FALSE;
    }

  /* cross-site request forgery: a page elsewhere must not change anything here
   * through the user's browser, even with a "simple" request that skips the
   * preflight; reads are protected by the missing CORS headers instead */
  if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD") &&
      !g_str_equal (method, "OPTIONS") && !origin_permitted (self, msg))
    {
      em_problem_respond (msg, 403, NULL, _("Origin: requests from this origin are not allowed"));
      return FALSE;
    }
  return TRUE;
}

/* what check_head() passed on got-headers, for the handler: the checks ran
 * once (they were ~7 500 instructions of each POST); not when the client
 * waited for "100 Continue", after which libsoup clears the answer's headers */
typedef struct {
  GHashTable *params;  /* (nullable) */
} CheckedHead;

static void
checked_head_free (CheckedHead *checked)
{
  g_clear_pointer (&checked->params, g_hash_table_unref);
  g_free (checked);
}

static GQuark
checked_head_quark (void)
{
  return g_quark_from_static_string ("em-rest-checked-head");
}

/* TRUE, with @out_params, when got-headers checked this request's head */
static gboolean
take_checked_head (SoupServerMessage *msg, GHashTable **out_params)
{
  CheckedHead *checked = g_object_steal_qdata (G_OBJECT (msg), checked_head_quark ());

  if (checked == NULL)
    return FALSE;
  *out_params = g_steal_pointer (&checked->params);
  checked_head_free (checked);
  return TRUE;
}

static void
handle_request (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *soup_path,
                GHashTable        *soup_query,
                gpointer           user_data)
{
  EmRestServer *self = user_data;
  GUri *uri = em_rest_target_uri (msg);
  const char *path = g_uri_get_path (uri);
  /* libsoup's, unless it had taken the query for part of the path */
  g_autoptr(GHashTable) split_query = uri != soup_server_message_get_uri (msg) ?
                                      soup_form_decode (g_uri_get_query (uri)) : NULL;
  GHashTable *query = split_query != NULL ? split_query : soup_query;
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *id = NULL;
  Route route = route_for_path (path, &id);
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  /* the query as the handlers read it, bare names kept */
  g_autoptr(GHashTable) params = NULL;

  em_debug_hot ("%s %s", method, path);
  /* every message of the answer in the client's language */
  em_rest_i18n_scope_enter_for_message (&scope, msg);
  if (!take_checked_head (msg, &params) &&
      !check_head (self, msg, path, query, route, &params))
    return;
  if (em_rest_drain_refuse (self->drain, msg))
    return;

  /* RFC 9110 §9.3.7: what the path takes, the Allow of its 405s */
  if (g_str_equal (method, "OPTIONS"))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", route_allow (route));
      em_rest_set_status (msg, 204);
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
      else if (g_str_equal (method, "DELETE"))
        em_rest_tasks_delete (&self->ctx, msg, params);
      else
        em_rest_tasks_list (&self->ctx, msg, params);
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
      /* cross-site WebSocket hijacking: a page elsewhere must not drive us
       * through the user's browser */
      if (!origin_permitted (self, msg))
        {
          em_problem_respond (msg, 403, NULL,
                              _("Origin: WebSocket connections from this origin are not allowed"));
          break;
        }
      em_websocket_hub_handle (self->hub, msg, params);
      break;
    case ROUTE_QUEUE:
      em_rest_queue_get (&self->ctx, msg);
      break;
    case ROUTE_QUEUE_PAUSE:
      em_rest_queue_pause (&self->ctx, msg);
      break;
    case ROUTE_QUEUE_RESUME:
      em_rest_queue_resume (&self->ctx, msg);
      break;
    case ROUTE_DEVICES:
      em_rest_devices_handle (self->ctx.manager, msg);
      break;
    case ROUTE_OPENAPI:
      em_rest_openapi_handle (msg);
      break;
    case ROUTE_DASHBOARD:
      em_rest_dashboard_handle (msg, path);
      break;
    case ROUTE_NONE:
    default:
      g_assert_not_reached ();
    }
}

/* check_head() before the body: as libsoup's handler would see the request;
 * a new task's body in a coding the handler would refuse; and, for a client
 * that waits for "100 Continue", a full queue for a new task, which the
 * handler checks again once the body has come, as tasks may have been added
 * meanwhile */
static void
refuse_head (EmRestServer      *self,
             SoupServerMessage *msg,
             gboolean           expects_continue)
{
  GUri *uri = em_rest_target_uri (msg);
  const char *raw_query = g_uri_get_query (uri);
  g_autoptr(GHashTable) query = raw_query != NULL ? soup_form_decode (raw_query) : NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autofree char *id = NULL;
  Route route = route_for_path (g_uri_get_path (uri), &id);
  gboolean creates = route == ROUTE_TASKS &&
                     g_str_equal (soup_server_message_get_method (msg), "POST");
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

  em_rest_i18n_scope_enter_for_message (&scope, msg);
  /* the head's own refusals first, as for a request without a body: a
   * retry after the stop would be refused the same way. Then a stop that
   * has begun: the body would only be refused, so neither the client nor
   * the stop waits for it */
  if (check_head (self, msg, g_uri_get_path (uri), query, route, &params) &&
      !em_rest_drain_refuse (self->drain, msg) &&
      (!creates || em_rest_tasks_check_content_encoding (msg)) &&
      (!creates || !expects_continue ||
       em_rest_tasks_check_capacity (self->ctx.manager, msg, 1)))
    {
      if (!expects_continue)
        {
          CheckedHead *checked = g_new0 (CheckedHead, 1);

          checked->params = g_steal_pointer (&params);
          g_object_set_qdata_full (G_OBJECT (msg), checked_head_quark (), checked,
                                   (GDestroyNotify) checked_head_free);
        }
      return;
    }
  /* the client may send the body all the same, after its own wait: it must
   * not be read as the next request, nor reset the connection as it comes in
   * while the answer goes out */
  if (!em_rest_linger_respond_message (msg, self->body_limit.cancellable))
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Connection", "close");
}

/* one handler for the checks of the head, connected to every request */
static void
got_headers_cb (SoupServerMessage *msg,
                gpointer           user_data)
{
  EmRestServer *self = user_data;

  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  gboolean expects_continue;
  gboolean has_body;

  em_rest_drain_begun (self->drain, msg);
  em_rest_unparsed_head_read (msg);
  if (!em_body_limit_check_head (msg, &self->body_limit))
    return;
  if (soup_server_message_get_status (msg) != 0)
    return;
  /* libsoup sends "100 Continue" after this unless the message has a status
   * by then: a request the head already refuses is answered now, and the
   * client does not send a body only to be refused (RFC 9110 §10.1.1).
   * Without the expectation, libsoup would read the whole body, up to the
   * limit, before the handler looks at the token: a client without one
   * could make the service hold a megabyte for each connection it opens */
  expects_continue = (soup_message_headers_get_expectations (headers) &
                      SOUP_EXPECTATION_CONTINUE) != 0;
  switch (soup_message_headers_get_encoding (headers))
    {
    case SOUP_ENCODING_NONE:
      has_body = FALSE;
      break;
    case SOUP_ENCODING_CONTENT_LENGTH:
      has_body = soup_message_headers_get_content_length (headers) > 0;
      break;
    default:
      has_body = TRUE;
      break;
    }
  if (expects_continue || has_body)
    refuse_head (self, msg, expects_continue);
}

static void
request_started_cb (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  EmRestServer *self = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);

  if (socket != NULL)
    {
      /* a connection that sends nothing for this long is closed; a WebSocket
       * upgrade turns it off again */
      g_socket_set_timeout (socket, self->idle_timeout);
    }
  em_rest_idle_started (self->idle, msg);
  em_rest_unparsed_watch (msg);
  /* the server outlives its messages' handlers */
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers_cb), self);
}

/* Corked from the end of the request until its response is written, head and
 * body leave in one segment rather than two (with its acknowledgement, half the
 * packets on a keep-alive connection). Not earlier: a "100 Continue" is written
 * before the body is read, and must not wait for the cork. @user_data is 1 on
 * request-read and 0 on request-finished (request_finished_cb()). */
static void
set_cork_cb (SoupServer        *server,
             SoupServerMessage *msg,
             gpointer           user_data)
{
  GSocket *socket = soup_server_message_get_socket (msg);

  if (socket != NULL)
    g_socket_set_option (socket, IPPROTO_TCP, TCP_CORK, GPOINTER_TO_INT (user_data), NULL);
}

static void
request_read_cb (SoupServer        *server,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  EmRestServer *self = user_data;

  set_cork_cb (server, msg, GINT_TO_POINTER (1));
  em_rest_idle_read (self->idle, msg);
  em_rest_drain_read (self->drain, msg);
}

static void
request_finished_cb (SoupServer        *server,
                     SoupServerMessage *msg,
                     gpointer           user_data)
{
  EmRestServer *self = user_data;

  set_cork_cb (server, msg, GINT_TO_POINTER (0));
  /* libsoup takes the Content-Length off a 204, as it must, and then reads
   * the answer as one the close of the connection ends, and closes it right
   * after this: each preflight would cost a browser a new connection */
  if (soup_server_message_get_status (msg) == SOUP_STATUS_NO_CONTENT)
    soup_message_headers_set_encoding (soup_server_message_get_response_headers (msg),
                                       SOUP_ENCODING_NONE);
  /* between two requests from here: the idle timeout runs */
  em_rest_idle_finished (self->idle, msg);
  em_rest_drain_ended (self->drain, msg);
}

static void
request_aborted_cb (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  EmRestServer *self = user_data;

  em_rest_drain_ended (self->drain, msg);
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
listen_socket (SoupServer               *soup,
               GSocketAddress           *address,
               SoupServerListenOptions   options,
               GError                  **error)
{
  g_autoptr(GSocket) socket = g_socket_new (g_socket_address_get_family (address),
                                            G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);

  if (socket == NULL)
    return NULL;
  g_socket_set_listen_backlog (socket, EM_REST_LISTEN_BACKLOG);
  /* accepted connections inherit it, so no request pays a system call for it:
   * libsoup writes head and body apart, and with Nagle a body that misses the
   * cork (an early error) would wait for the client's delayed acknowledgement */
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  if (!g_socket_bind (socket, address, TRUE, error) ||
      !g_socket_listen (socket, error) ||
      !soup_server_listen_socket (soup, socket, options, error))
    return NULL;
  return g_steal_pointer (&socket);
}

/* from the socket itself: soup_server_get_uris() leaks in libsoup 3.2 */
static char *
base_url_for (GSocket  *socket,
              gboolean  tls)
{
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (socket, NULL);
  g_autofree char *host = NULL;
  GInetAddress *inet;

  if (local == NULL)
    return NULL;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
  host = g_inet_address_to_string (inet);
  return g_strdup_printf (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6 ?
                          "%s://[%s]:%u" : "%s://%s:%u", tls ? "https" : "http",
                          host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
}

/* the token file is read once, here, before anyone is served */
static gboolean
load_token (EmRestServer  *self,
            GError       **error)
{
  char *token;

  if (self->token_file == NULL)
    return TRUE;
  token = em_rest_auth_read_token_file (self->token_file, error);
  if (token == NULL)
    return FALSE;
  g_free (self->token);
  self->token = token;
  return TRUE;
}

/* anyone on the network could move the hardware: not without a token */
static gboolean
check_exposure (EmRestServer  *self,
                GInetAddress  *inet,
                const char    *address,
                GError       **error)
{
  if (g_inet_address_get_is_loopback (inet) || self->token != NULL || self->insecure)
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("http-address: refusing to serve on %s, which is reachable from other "
                 "machines, without a token; set one with --token-file or the "
                 "ENGINE_MANAGER_TOKEN environment variable, or pass --insecure"),
               address);
  return FALSE;
}

/* whoever reads the key can pose as the service, and whoever writes it can
 * swap it: as ssh does for its keys, a key every user may read or write stops
 * startup. The group may read it (Debian's ssl-cert) */
static gboolean
check_tls_key_mode (const char  *path,
                    GError     **error)
{
  GStatBuf info;

  /* startup only, before the loop serves anyone; a file that cannot be
   * read is reported by the loading that follows */
  if (g_stat (path, &info) != 0 || (info.st_mode & (S_IROTH | S_IWOTH)) == 0)
    return TRUE;
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("tls-key: the key file “%s” can be read or written by every user; "
                 "make it private with chmod 600 (or 640 for a group such as ssl-cert)"),
               path);
  return FALSE;
}

static GTlsCertificate *
load_tls_certificate (EmRestServer  *self,
                      GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  GTlsCertificate *certificate;

  if (self->tls_certificate_file == NULL || self->tls_key_file == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("tls-certificate: give both a certificate and a key file"));
      return NULL;
    }
  if (!check_tls_key_mode (self->tls_key_file, error))
    return NULL;
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                           _("tls-certificate: this system has no TLS support for GLib "
                             "(install glib-networking)"));
      return NULL;
    }
  certificate = g_tls_certificate_new_from_files (self->tls_certificate_file,
                                                  self->tls_key_file, &local_error);
  if (certificate == NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("tls-certificate: cannot load “%s” with key “%s”: %s"),
                   self->tls_certificate_file, self->tls_key_file, local_error->message);
      return NULL;
    }
  /* a key of another certificate loads, and would fail every handshake */
  if (!em_rest_tls_check_certificate (certificate, &local_error))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("tls-certificate: the key “%s” does not fit the certificate “%s”: "
                     "a test handshake failed: %s"),
                   self->tls_key_file, self->tls_certificate_file, local_error->message);
      g_object_unref (certificate);
      return NULL;
    }
  return certificate;
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
  g_autoptr(GTlsCertificate) tls_certificate = NULL;
  SoupServerListenOptions options;

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

  if (!load_token (self, error) ||
      !check_exposure (self, inet, address, error))
    return FALSE;
  if (self->tls_certificate_file != NULL || self->tls_key_file != NULL)
    {
      tls_certificate = load_tls_certificate (self, error);
      if (tls_certificate == NULL)
        return FALSE;
    }

  raise_fd_limit ();
  em_websocket_hub_set_limits (self->hub, self->ws_max_backlog, self->ws_keepalive,
                               self->ws_max_clients);

  /* the router decodes the path itself, segment by segment */
  self->soup = soup_server_new ("server-header", "engine-manager/" PACKAGE_VERSION " ",
                                "raw-paths", TRUE, NULL);
  if (tls_certificate != NULL)
    {
      soup_server_set_tls_certificate (self->soup, tls_certificate);
      self->tls = TRUE;
    }
  g_signal_connect (self->soup, "request-started", G_CALLBACK (request_started_cb), self);
  g_signal_connect (self->soup, "request-read", G_CALLBACK (request_read_cb), self);
  g_signal_connect (self->soup, "request-finished", G_CALLBACK (request_finished_cb), self);
  g_signal_connect (self->soup, "request-aborted", G_CALLBACK (request_aborted_cb), self);
  soup_server_add_handler (self->soup, NULL, handle_request, self, NULL);

  socket_address = g_inet_socket_address_new (inet, (guint16) port);
  options = self->tls ? SOUP_SERVER_LISTEN_HTTPS : 0;
  socket = listen_socket (self->soup, socket_address, options, &local_error);
  if (socket == NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE,
                   _("cannot listen on %s port %u: %s"), address, port, local_error->message);
      g_clear_object (&self->soup);
      return FALSE;
    }
  self->base_url = base_url_for (socket, self->tls);
  self->listen_guard = em_rest_listen_guard_new (self->soup, socket, options);
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
  g_clear_pointer (&self->listen_guard, em_rest_listen_guard_free);
  if (self->soup != NULL)
    soup_server_disconnect (self->soup);
  g_clear_pointer (&self->base_url, g_free);
}

/* a request whose body is still arriving when a stop begins: answered now,
 * what is left of its body read and discarded */
static void
refuse_unread_cb (SoupServerMessage *msg,
                  gpointer           user_data)
{
  EmRestServer *self = user_data;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

  em_rest_i18n_scope_enter_for_message (&scope, msg);
  em_rest_drain_refuse (self->drain, msg);
  add_answer_headers (msg, self);
  em_rest_linger_respond_message (msg, self->body_limit.cancellable);
}

void
em_rest_server_drain (EmRestServer *self)
{
  g_return_if_fail (EM_IS_REST_SERVER (self));
  em_rest_drain_start (self->drain, refuse_unread_cb, self);
}

gboolean
em_rest_server_is_answering (EmRestServer *self)
{
  g_return_val_if_fail (EM_IS_REST_SERVER (self), FALSE);
  return em_rest_drain_is_answering (self->drain);
}

gboolean
em_rest_server_is_flushing (EmRestServer *self)
{
  g_return_val_if_fail (EM_IS_REST_SERVER (self), FALSE);
  return em_websocket_hub_is_flushing (self->hub) ||
         em_rest_linger_count (self->body_limit.cancellable) > 0;
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
  if (self->body_limit.cancellable != NULL)
    g_cancellable_cancel (self->body_limit.cancellable);
  g_clear_pointer (&self->listen_guard, em_rest_listen_guard_free);
  if (self->soup != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->soup, self);
      soup_server_disconnect (self->soup);
      g_clear_object (&self->soup);
    }
  g_clear_object (&self->hub);
  g_clear_object (&self->ctx.manager);
  g_clear_pointer (&self->idle, em_rest_idle_free);
  g_clear_pointer (&self->drain, em_rest_drain_free);

  G_OBJECT_CLASS (em_rest_server_parent_class)->dispose (object);
}

static void
em_rest_server_finalize (GObject *object)
{
  EmRestServer *self = EM_REST_SERVER (object);

  g_clear_object (&self->ctx.cancellable);
  g_clear_object (&self->body_limit.cancellable);
  g_clear_pointer (&self->body_limit.budget, em_body_budget_unref);
  g_free (self->base_url);
  g_free (self->token);
  g_free (self->token_file);
  g_free (self->tls_certificate_file);
  g_free (self->tls_key_file);
  g_strfreev (self->cors_origins);

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
    case PROP_MAX_BODIES_SIZE:
      g_value_set_uint64 (value, em_body_budget_get_max (self->body_limit.budget));
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
    case PROP_TOKEN:
      /* never read back */
      g_value_set_string (value, NULL);
      break;
    case PROP_TOKEN_FILE:
      g_value_set_string (value, self->token_file);
      break;
    case PROP_INSECURE:
      g_value_set_boolean (value, self->insecure);
      break;
    case PROP_TLS_CERTIFICATE_FILE:
      g_value_set_string (value, self->tls_certificate_file);
      break;
    case PROP_TLS_KEY_FILE:
      g_value_set_string (value, self->tls_key_file);
      break;
    case PROP_CORS_ORIGINS:
      g_value_set_boxed (value, self->cors_origins);
      break;
    case PROP_MAX_HEADER_SIZE:
      g_value_set_uint (value, self->max_header_size);
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, self->idle_timeout);
      break;
    case PROP_MAX_PAGE_BYTES:
      g_value_set_uint64 (value, self->ctx.page_max_bytes);
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
    case PROP_MAX_BODIES_SIZE:
      em_body_budget_set_max (self->body_limit.budget, g_value_get_uint64 (value));
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
    case PROP_TOKEN:
      g_free (self->token);
      self->token = g_value_dup_string (value);
      if (self->token != NULL && *self->token == '\0')
        g_clear_pointer (&self->token, g_free);
      break;
    case PROP_TOKEN_FILE:
      g_free (self->token_file);
      self->token_file = g_value_dup_string (value);
      break;
    case PROP_INSECURE:
      self->insecure = g_value_get_boolean (value);
      break;
    case PROP_TLS_CERTIFICATE_FILE:
      g_free (self->tls_certificate_file);
      self->tls_certificate_file = g_value_dup_string (value);
      break;
    case PROP_TLS_KEY_FILE:
      g_free (self->tls_key_file);
      self->tls_key_file = g_value_dup_string (value);
      break;
    case PROP_CORS_ORIGINS:
      g_strfreev (self->cors_origins);
      self->cors_origins = g_value_dup_boxed (value);
      break;
    case PROP_MAX_HEADER_SIZE:
      self->max_header_size = g_value_get_uint (value);
      break;
    case PROP_IDLE_TIMEOUT:
      self->idle_timeout = g_value_get_uint (value);
      em_rest_idle_set_timeout (self->idle, self->idle_timeout);
      break;
    case PROP_MAX_PAGE_BYTES:
      self->ctx.page_max_bytes = g_value_get_uint64 (value);
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
  properties[PROP_MAX_BODIES_SIZE] =
    g_param_spec_uint64 ("max-bodies-size", NULL, NULL, 1, G_MAXUINT64,
                         EM_REST_DEFAULT_MAX_BODIES_SIZE,
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
  properties[PROP_TOKEN] =
    g_param_spec_string ("token", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOKEN_FILE] =
    g_param_spec_string ("token-file", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_INSECURE] =
    g_param_spec_boolean ("insecure", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TLS_CERTIFICATE_FILE] =
    g_param_spec_string ("tls-certificate-file", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TLS_KEY_FILE] =
    g_param_spec_string ("tls-key-file", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CORS_ORIGINS] =
    g_param_spec_boxed ("cors-origins", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX_HEADER_SIZE] =
    g_param_spec_uint ("max-header-size", NULL, NULL, 0, G_MAXUINT,
                       EM_REST_DEFAULT_MAX_HEADER_SIZE,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  properties[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL, 0, G_MAXUINT,
                       EM_REST_DEFAULT_IDLE_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /* the bytes of tasks past which a GET /tasks page stops early */
  properties[PROP_MAX_PAGE_BYTES] =
    g_param_spec_uint64 ("max-page-bytes", NULL, NULL, 1, G_MAXSIZE,
                         EM_REST_DEFAULT_PAGE_MAX_BYTES,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_rest_server_init (EmRestServer *self)
{
  self->ctx.cancellable = g_cancellable_new ();
  self->body_limit.cancellable = g_cancellable_new ();
  self->body_limit.budget = em_body_budget_new (EM_REST_DEFAULT_MAX_BODIES_SIZE);
  /* the server outlives its messages' signal handlers */
  self->body_limit.add_headers = add_answer_headers;
  self->body_limit.add_headers_data = self;
  self->ctx.max_json_depth = EM_REST_MAX_JSON_DEPTH;
  self->ctx.page_default = EM_REST_DEFAULT_PAGE_LIMIT;
  self->ctx.page_max = EM_REST_MAX_PAGE_LIMIT;
  self->idle = em_rest_idle_new ();
  self->drain = em_rest_drain_new ();
}

EmRestServer *
em_rest_server_new (EmEngineManager *manager)
{
  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (manager), NULL);
  return g_object_new (EM_TYPE_REST_SERVER, "manager", manager, NULL);
}
