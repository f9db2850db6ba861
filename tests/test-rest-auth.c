#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <libsoup/soup.h>

#include "actions/em-builtin-actions.h"
#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "devices/em-sim-focus.h"
#include "devices/em-sim-stage.h"
#include "engine/em-engine-manager.h"
#include "engine/em-error.h"
#include "rest/em-rest-auth.h"
#include "rest/em-rest-server.h"
#include "em-test-util.h"

#define TIMEOUT_MS 10000
#define TOKEN "s3cret-token-for-tests"
#define WS_HANDSHAKE_HEADERS "Upgrade: websocket\r\nConnection: Upgrade\r\n" \
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
                             "Sec-WebSocket-Version: 13\r\n"

/* access control and limits of the REST server: the engine and the server in
 * this process, each test configuring the server before it listens */
typedef struct {
  char            *data_dir;
  EmEngineManager *manager;
  EmRestServer    *server;
  char            *base_url;
  guint16          port;
  SoupSession     *session;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(EmActionRegistry) registry = em_action_registry_new ();
  g_autoptr(EmCamera) camera = em_gst_camera_new (EM_GST_CAMERA_DEFAULT_SOURCE, 64, 48);
  g_autoptr(EmStage) stage = em_sim_stage_new ();
  g_autoptr(EmFocus) focus = em_sim_focus_new ();
  g_autoptr(EmDeviceSet) devices = em_device_set_new (camera, stage, focus);
  g_autoptr(GProxyResolver) resolver = g_simple_proxy_resolver_new (NULL, NULL);

  f->data_dir = em_test_mkdtemp ();
  em_builtin_actions_register (registry);
  f->manager = em_engine_manager_new (registry, devices, f->data_dir);
  f->server = em_rest_server_new (f->manager);
  f->session = soup_session_new_with_options ("timeout", 20, "proxy-resolver", resolver, NULL);
}

static void
fixture_listen (Fixture    *f,
                const char *address)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = NULL;

  g_assert_true (em_rest_server_listen (f->server, address, 0, &error));
  g_assert_no_error (error);
  f->base_url = em_rest_server_get_base_url (f->server);
  uri = g_uri_parse (f->base_url, G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  f->port = (guint16) g_uri_get_port (uri);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  soup_session_abort (f->session);
  for (int i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);
  em_rest_server_shutdown (f->server);
  em_engine_manager_shutdown (f->manager);
  for (int i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);
  g_clear_object (&f->session);
  g_clear_object (&f->server);
  g_clear_object (&f->manager);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  em_test_rmdir (f->data_dir);
  g_free (f->data_dir);
  g_free (f->base_url);
}

/* --- raw HTTP: the loop turns while a request and its answer go by --- */

static GSocket *
raw_connect (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, f->port);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_socket_set_blocking (socket, FALSE);
  if (!g_socket_connect (socket, address, NULL, &error))
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
      g_clear_error (&error);
    }
  EM_TEST_WAIT_UNTIL (g_socket_condition_check (socket, G_IO_OUT), TIMEOUT_MS);
  return socket;
}

/* one turn: the loop runs, more of @request goes out, what came is added to
 * @response; FALSE at EOF */
static gboolean
raw_step (GSocket    *socket,
          const char *request,
          gsize       length,
          gsize      *sent,
          GString    *response)
{
  char buffer[4096];
  gssize n;

  g_main_context_iteration (NULL, FALSE);
  if (*sent < length)
    {
      n = g_socket_send (socket, request + *sent, length - *sent, NULL, NULL);
      if (n > 0)
        *sent += (gsize) n;
      else if (n < 0 && response->len > 0)
        *sent = length;  /* answered, and no longer reading */
    }
  n = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL);
  if (n > 0)
    g_string_append_len (response, buffer, n);
  else if (n == 0)
    return FALSE;
  else
    g_usleep (200);
  return TRUE;
}

/* the response head (and what followed it) once it is complete, or at EOF */
static GString *
raw_exchange (Fixture    *f,
              const char *request)
{
  g_autoptr(GSocket) socket = raw_connect (f);
  GString *response = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
  gsize sent = 0;

  while (g_get_monotonic_time () < deadline && strstr (response->str, "\r\n\r\n") == NULL &&
         raw_step (socket, request, strlen (request), &sent, response))
    ;
  g_socket_close (socket, NULL);
  return response;
}

/* the status code, once its line is known to have the code's reason phrase */
static guint
raw_status (GString *response)
{
  const char *end = strstr (response->str, "\r\n");

  g_assert_true (g_str_has_prefix (response->str, "HTTP/1.1 "));
  g_assert_nonnull (end);
  g_assert_null (g_strstr_len (response->str, end - response->str, "Unknown Error"));
  return (guint) g_ascii_strtoull (response->str + 9, NULL, 10);
}

static gboolean
raw_has_header (GString    *response,
                const char *line)
{
  const char *end = strstr (response->str, "\r\n\r\n");

  return end != NULL && g_strstr_len (response->str, end - response->str, line) != NULL;
}

/* the values of every Vary line of the head, joined as one list */
static char *
raw_vary (GString *response)
{
  const char *end = strstr (response->str, "\r\n\r\n");
  g_autoptr(GStrvBuilder) values = g_strv_builder_new ();
  g_autofree char *head = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) joined = NULL;

  g_assert_nonnull (end);
  head = g_strndup (response->str, end - response->str);
  lines = g_strsplit (head, "\r\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_ascii_strncasecmp (lines[i], "Vary: ", 6) == 0)
      g_strv_builder_add (values, lines[i] + 6);
  joined = g_strv_builder_end (values);
  return g_strjoinv (", ", joined);
}

/* GET @path with @extra header lines (each ending in \r\n) */
/* @request's status, and the whole answer in @out_response if wanted */
static guint
raw_answer (Fixture     *f,
            const char  *request,
            GString    **out_response)
{
  GString *response = raw_exchange (f, request);
  guint status = raw_status (response);

  if (out_response != NULL)
    *out_response = response;
  else
    g_string_free (response, TRUE);
  return status;
}

static guint
raw_get (Fixture    *f,
         const char *path,
         const char *extra,
         GString   **out_response)
{
  g_autofree char *request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s\r\n",
                                              path, f->port, extra != NULL ? extra : "");
  return raw_answer (f, request, out_response);
}

static guint
raw_method (Fixture    *f,
            const char *method,
            const char *path,
            const char *extra,
            const char *body,
            GString   **out_response)
{
  g_autofree char *request = g_strdup_printf ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s"
                                              "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n%s",
                                              method, path, f->port, extra != NULL ? extra : "",
                                              body != NULL ? strlen (body) : 0,
                                              body != NULL ? body : "");
  return raw_answer (f, request, out_response);
}

static char *
write_token_file (Fixture    *f,
                  const char *contents,
                  int         mode)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (f->data_dir, "token", NULL);

  g_assert_true (g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_NONE,
                                           mode, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  return path;
}

/* --- the bearer token --- */

static void
test_token (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *path = write_token_file (f, TOKEN "\nignored second line\n", 0600);
  g_autoptr(GString) missing = NULL;
  g_autoptr(GString) wrong = NULL;
  g_autoptr(GString) ws = NULL;

  g_object_set (f->server, "token-file", path, NULL);
  fixture_listen (f, "127.0.0.1");

  /* health stays open, for probes, and so do the dashboard's files, which a
   * browser loads before the page can ask for the token; nothing else */
  g_assert_cmpuint (raw_get (f, "/health", NULL, NULL), ==, 200);
  g_assert_cmpuint (raw_get (f, "/", NULL, NULL), ==, 200);
  g_assert_cmpuint (raw_get (f, "/dashboard/app.js", NULL, NULL), ==, 200);
  g_assert_cmpuint (raw_method (f, "POST", "/", NULL, NULL, NULL), ==, 401);
  g_assert_cmpuint (raw_get (f, "/openapi.json", NULL, NULL), ==, 401);
  g_assert_cmpuint (raw_get (f, "/tasks", NULL, &missing), ==, 401);
  g_assert_true (raw_has_header (missing, "WWW-Authenticate: Bearer"));
  g_assert_true (raw_has_header (missing, "application/problem+json"));
  g_assert_cmpuint (raw_get (f, "/tasks", "Authorization: Bearer nope\r\n", &wrong), ==, 401);
  g_assert_true (raw_has_header (wrong, "invalid_token"));
  g_assert_cmpuint (raw_get (f, "/tasks", "Authorization: Basic " TOKEN "\r\n", NULL), ==, 401);
  g_assert_cmpuint (raw_get (f, "/tasks", "Authorization: Bearer " TOKEN "\r\n", NULL), ==, 200);
  g_assert_cmpuint (raw_get (f, "/nowhere", NULL, NULL), ==, 401);
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", NULL,
                                "{\"name\":\"x\",\"action\":\"wait\"}", NULL), ==, 401);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 0);
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", "Authorization: Bearer " TOKEN "\r\n",
                                "{\"name\":\"x\",\"action\":\"wait\"}", NULL), ==, 201);
  /* only WebSocket upgrades take the token from the query */
  g_assert_cmpuint (raw_get (f, "/tasks?access_token=" TOKEN, NULL, NULL), ==, 401);

  g_assert_cmpuint (raw_get (f, "/ws", WS_HANDSHAKE_HEADERS, NULL), ==, 401);
  g_assert_cmpuint (raw_get (f, "/ws?access_token=wrong", WS_HANDSHAKE_HEADERS, NULL), ==, 401);
  g_assert_cmpuint (raw_get (f, "/ws?access_token=" TOKEN, WS_HANDSHAKE_HEADERS, &ws), ==, 101);
  g_assert_cmpuint (raw_get (f, "/ws", WS_HANDSHAKE_HEADERS "Authorization: Bearer " TOKEN "\r\n",
                             NULL), ==, 101);
}

static void
test_token_file_refused (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *open_path = write_token_file (f, TOKEN "\n", 0644);
  g_autoptr(GError) error = NULL;
  g_autofree char *empty_path = NULL;
  g_autoptr(EmRestServer) second = NULL;

  g_object_set (f->server, "token-file", open_path, NULL);
  g_assert_false (em_rest_server_listen (f->server, "127.0.0.1", 0, &error));
  g_assert_nonnull (strstr (error->message, open_path));
  g_assert_nonnull (strstr (error->message, "chmod 600"));
  g_clear_error (&error);

  empty_path = write_token_file (f, "\n", 0600);
  second = em_rest_server_new (f->manager);
  g_object_set (second, "token-file", empty_path, NULL);
  g_assert_false (em_rest_server_listen (second, "127.0.0.1", 0, &error));
  g_assert_nonnull (strstr (error->message, "no token"));
}

/* refuses what the service cannot be sure of when it reads the token:
 * each listen must fail, naming why */
static void
assert_token_file_refused (Fixture    *f,
                           const char *path,
                           const char *why)
{
  g_autoptr(EmRestServer) server = em_rest_server_new (f->manager);
  g_autoptr(GError) error = NULL;

  g_object_set (server, "token-file", path, NULL);
  g_assert_false (em_rest_server_listen (server, "127.0.0.1", 0, &error));
  g_test_message ("%s", error->message);
  if (strstr (error->message, why) == NULL)
    g_error ("“%s” does not say “%s”", error->message, why);
}

static void
test_token_file_untrusted (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *path = write_token_file (f, TOKEN "\n", 0600);
  g_autofree char *link = g_build_filename (f->data_dir, "token-link", NULL);
  g_autofree char *fifo = g_build_filename (f->data_dir, "token-fifo", NULL);

  /* a link could be pointed elsewhere between a check and the read */
  g_assert_cmpint (symlink (path, link), ==, 0);
  assert_token_file_refused (f, link, "symbolic link");
  /* a FIFO would hold startup until someone writes to it */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  assert_token_file_refused (f, fifo, "not a regular file");

  /* another user's file: only root can make one to try */
  if (geteuid () == 0)
    {
      g_assert_cmpint (chown (path, 65534, 65534), ==, 0);
      assert_token_file_refused (f, path, "another user");
    }
  else
    g_test_message ("not root: another user's file not tried");
}

static void
test_constant_time_equal (void)
{
  g_assert_true (em_rest_auth_equal (TOKEN, TOKEN));
  g_assert_false (em_rest_auth_equal (TOKEN, TOKEN "x"));
  g_assert_false (em_rest_auth_equal (TOKEN, "s3cret"));
  g_assert_false (em_rest_auth_equal ("", TOKEN));
  g_assert_false (em_rest_auth_equal ("a", "b"));
}

/* a non-loopback address needs a token, or an explicit --insecure */
static void
test_exposure (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmRestServer) insecure = em_rest_server_new (f->manager);
  g_autoptr(EmRestServer) with_token = em_rest_server_new (f->manager);

  g_assert_false (em_rest_server_listen (f->server, "0.0.0.0", 0, &error));
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "--insecure"));
  g_assert_nonnull (strstr (error->message, "0.0.0.0"));

  g_object_set (insecure, "insecure", TRUE, NULL);
  g_assert_true (em_rest_server_listen (insecure, "0.0.0.0", 0, NULL));
  em_rest_server_shutdown (insecure);
  g_object_set (with_token, "token", TOKEN, NULL);
  g_assert_true (em_rest_server_listen (with_token, "0.0.0.0", 0, NULL));
  em_rest_server_shutdown (with_token);
}

/* --- TLS --- */

typedef struct {
  char     *output;
  gboolean  done;
} Curl;

static void
curl_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Curl *curl = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &curl->output, NULL, &error);
  g_assert_no_error (error);
  curl->done = TRUE;
}

static void
test_tls (Fixture       *f,
          gconstpointer  data)
{
  g_autofree char *cert = g_build_filename (f->data_dir, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (f->data_dir, "key.pem", NULL);
  g_autofree char *other_key = g_build_filename (f->data_dir, "other-key.pem", NULL);
  g_autofree char *command = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GSubprocess) client = NULL;
  g_autoptr(GError) error = NULL;
  Curl curl = { NULL, FALSE };
  g_autoptr(EmRestServer) broken = em_rest_server_new (f->manager);
  g_autoptr(GString) plain = NULL;
  int status = -1;

  command = g_strdup_printf ("openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                             "-subj /CN=127.0.0.1 -keyout %s -out %s", key, cert);
  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));

  g_object_set (f->server, "tls-certificate-file", cert, "tls-key-file", key, NULL);
  fixture_listen (f, "127.0.0.1");
  g_assert_true (g_str_has_prefix (f->base_url, "https://"));

  /* a client the project did not write, trusting only the test's certificate */
  url = g_strconcat (f->base_url, "/health", NULL);
  client = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "curl", "-s",
                             "--cacert", cert, "-w", " %{http_code}", url, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (client, NULL, NULL, curl_done_cb, &curl);
  EM_TEST_WAIT_UNTIL (curl.done, TIMEOUT_MS);
  g_assert_nonnull (strstr (curl.output, "\"status\":\"ok\""));
  g_assert_true (g_str_has_suffix (curl.output, " 200"));
  g_free (curl.output);

  /* plain HTTP on the TLS port gets no answer */
  plain = raw_exchange (f, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  g_assert_false (g_str_has_prefix (plain->str, "HTTP/1.1 200"));

  /* a key without its certificate, or a file that is not one, stops startup */
  g_object_set (broken, "tls-certificate-file", key, "tls-key-file", key, NULL);
  g_clear_error (&error);
  g_assert_false (em_rest_server_listen (broken, "127.0.0.1", 0, &error));
  g_assert_nonnull (strstr (error->message, "tls-certificate"));

  /* so does the key of another certificate, which GIO loads without a word
   * and which would fail every handshake */
  g_clear_pointer (&command, g_free);
  command = g_strdup_printf ("openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                             "-subj /CN=127.0.0.1 -keyout %s -out %s/other-cert.pem",
                             other_key, f->data_dir);
  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, &status, &error));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_clear_object (&broken);
  broken = em_rest_server_new (f->manager);
  g_object_set (broken, "tls-certificate-file", cert, "tls-key-file", other_key, NULL);
  g_clear_error (&error);
  g_assert_false (em_rest_server_listen (broken, "127.0.0.1", 0, &error));
  g_assert_nonnull (strstr (error->message, "does not fit"));
}

/* --- CORS and the WebSocket Origin --- */

static void
test_cors_default (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GString) simple = NULL;
  g_autoptr(GString) preflight = NULL;
  g_autofree char *same = NULL;

  fixture_listen (f, "127.0.0.1");
  g_assert_cmpuint (raw_get (f, "/tasks", "Origin: http://evil.example\r\n", &simple), ==, 200);
  g_assert_false (raw_has_header (simple, "Access-Control-Allow-Origin"));
  g_assert_cmpuint (raw_method (f, "OPTIONS", "/tasks",
                                "Origin: http://evil.example\r\n"
                                "Access-Control-Request-Method: POST\r\n", NULL, &preflight), ==, 403);
  g_assert_false (raw_has_header (preflight, "Access-Control-Allow-Origin"));

  /* a page elsewhere cannot open the event stream; the service's own pages and
   * non-browser clients can */
  g_assert_cmpuint (raw_get (f, "/ws", WS_HANDSHAKE_HEADERS "Origin: http://evil.example\r\n", NULL),
                    ==, 403);
  g_assert_cmpuint (raw_get (f, "/ws", WS_HANDSHAKE_HEADERS, NULL), ==, 101);
  same = g_strdup_printf (WS_HANDSHAKE_HEADERS "Origin: http://127.0.0.1:%u\r\n", f->port);
  g_assert_cmpuint (raw_get (f, "/ws", same, NULL), ==, 101);
}

static void
test_cross_site_post (Fixture       *f,
                      gconstpointer  data)
{
  const char *body = "{\"name\": \"x\", \"action\": \"wait\"}";
  g_autofree char *own = NULL;

  fixture_listen (f, "127.0.0.1");
  /* a "simple" text/plain POST skips the preflight: it must still be refused */
  g_assert_cmpuint (raw_method (f, "POST", "/tasks",
                                "Origin: http://evil.example\r\nContent-Type: text/plain\r\n",
                                body, NULL), ==, 403);
  g_assert_cmpuint (raw_method (f, "POST", "/queue/pause", "Origin: http://evil.example\r\n",
                                NULL, NULL), ==, 403);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 0);
  g_assert_false (em_engine_manager_get_paused (f->manager));

  /* the service's own pages and non-browser clients may */
  own = g_strdup_printf ("Origin: http://127.0.0.1:%u\r\n", f->port);
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", own, body, NULL), ==, 201);
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", NULL, body, NULL), ==, 201);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 2);
}

/* a request under the name @host, from a page served under that name */
static guint
raw_named (Fixture    *f,
           const char *method,
           const char *path,
           const char *host,
           const char *extra,
           const char *body,
           GString   **out_response)
{
  g_autofree char *request =
    g_strdup_printf ("%s %s HTTP/1.1\r\nHost: %s:%u\r\nOrigin: http://%s:%u\r\n%s"
                     "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n%s",
                     method, path, host, f->port, host, f->port, extra != NULL ? extra : "",
                     body != NULL ? strlen (body) : 0, body != NULL ? body : "");
  return raw_answer (f, request, out_response);
}

/* DNS rebinding: a page at http://evil.example:PORT whose name the attacker
 * then points at 127.0.0.1 is same-origin with itself, so its requests pass
 * the Origin check. Without a token only names that cannot be rebound, IP
 * addresses and localhost, reach the service. */
static void
test_dns_rebinding (Fixture       *f,
                    gconstpointer  data)
{
  const char *body = "{\"name\": \"x\", \"action\": \"wait\"}";
  g_autoptr(GString) refused = NULL;

  fixture_listen (f, "127.0.0.1");
  g_assert_cmpuint (raw_named (f, "POST", "/tasks", "evil.example", "Content-Type: text/plain\r\n",
                               body, &refused), ==, 403);
  g_assert_nonnull (strstr (refused->str, "application/problem+json"));
  g_assert_nonnull (strstr (refused->str, "\"detail\":\"Host: "));
  g_assert_cmpuint (raw_named (f, "GET", "/tasks", "evil.example", NULL, NULL, NULL), ==, 403);
  g_assert_cmpuint (raw_named (f, "GET", "/ws", "evil.example", WS_HANDSHAKE_HEADERS, NULL, NULL),
                    ==, 403);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 0);
  /* a monitor may probe health under any name: it tells nothing */
  g_assert_cmpuint (raw_named (f, "GET", "/health", "evil.example", NULL, NULL, NULL), ==, 200);

  g_assert_cmpuint (raw_named (f, "POST", "/tasks", "localhost", NULL, body, NULL), ==, 201);
  g_assert_cmpuint (raw_named (f, "POST", "/tasks", "LocalHost", NULL, body, NULL), ==, 201);
  g_assert_cmpuint (raw_named (f, "POST", "/tasks", "127.0.0.1", NULL, body, NULL), ==, 201);
  g_assert_cmpuint (raw_named (f, "GET", "/tasks", "[::1]", NULL, NULL, NULL), ==, 200);
  g_assert_cmpuint (raw_named (f, "GET", "/ws", "localhost", WS_HANDSHAKE_HEADERS, NULL, NULL),
                    ==, 101);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 3);
}

/* with a token the name does not matter: a rebound page does not have it */
static void
test_dns_rebinding_token (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *authorization = g_strdup ("Authorization: Bearer secret\r\n");

  g_object_set (f->server, "token", "secret", NULL);
  fixture_listen (f, "127.0.0.1");
  g_assert_cmpuint (raw_named (f, "GET", "/tasks", "scope.lab.example", authorization, NULL, NULL),
                    ==, 200);
  g_assert_cmpuint (raw_named (f, "GET", "/tasks", "scope.lab.example", NULL, NULL, NULL), ==, 401);
}

static void
test_cors_allowed (Fixture       *f,
                   gconstpointer  data)
{
  const char *origins[] = { "https://lab.example", NULL };
  g_autoptr(GString) simple = NULL;
  g_autoptr(GString) preflight = NULL;
  g_autoptr(GString) other = NULL;
  g_autoptr(GString) none = NULL;
  g_autoptr(GString) missing = NULL;
  g_autofree char *vary = NULL;

  g_object_set (f->server, "cors-origins", origins, NULL);
  fixture_listen (f, "127.0.0.1");
  g_assert_cmpuint (raw_get (f, "/tasks", "Origin: https://lab.example\r\n", &simple), ==, 200);
  g_assert_true (raw_has_header (simple, "Access-Control-Allow-Origin: https://lab.example"));
  vary = raw_vary (simple);
  g_assert_cmpstr (vary, ==, "Origin");
  g_assert_cmpuint (raw_method (f, "OPTIONS", "/tasks",
                                "Origin: https://lab.example\r\n"
                                "Access-Control-Request-Method: POST\r\n", NULL, &preflight), ==, 204);
  g_assert_true (raw_has_header (preflight, "Access-Control-Allow-Methods: GET, HEAD, POST, DELETE"));
  g_assert_true (raw_has_header (preflight, "Authorization"));
  /* a page may revalidate an image it holds, and read the tag to do so */
  g_assert_true (raw_has_header (preflight, "Access-Control-Allow-Headers: Authorization, "
                                            "Content-Type, Accept-Language, If-None-Match, "
                                            "If-Modified-Since\r\n"));
  g_assert_true (raw_has_header (simple, "Access-Control-Expose-Headers: Location, Link, "
                                         "X-Total-Count, Retry-After, WWW-Authenticate, ETag\r\n"));
  g_clear_pointer (&vary, g_free);
  vary = raw_vary (preflight);
  g_assert_cmpstr (vary, ==, "Origin");
  /* each field once, whoever adds it: a problem document is translated */
  g_assert_cmpuint (raw_get (f, "/nowhere", "Origin: https://lab.example\r\n", &missing), ==, 404);
  g_clear_pointer (&vary, g_free);
  vary = raw_vary (missing);
  g_assert_cmpstr (vary, ==, "Origin, Accept-Language");
  /* an answer without the headers depends on the Origin too */
  g_assert_cmpuint (raw_get (f, "/tasks", "Origin: https://other.example\r\n", &other), ==, 200);
  g_assert_false (raw_has_header (other, "Access-Control-Allow-Origin"));
  g_assert_cmpuint (raw_get (f, "/tasks", NULL, &none), ==, 200);
  g_clear_pointer (&vary, g_free);
  vary = raw_vary (none);
  g_assert_cmpstr (vary, ==, "Origin");

  g_assert_cmpuint (raw_get (f, "/ws", WS_HANDSHAKE_HEADERS "Origin: https://lab.example\r\n", NULL),
                    ==, 101);
  g_assert_cmpuint (raw_get (f, "/ws", WS_HANDSHAKE_HEADERS "Origin: https://other.example\r\n", NULL),
                    ==, 403);
}

/* @request's final answer, past any "100 Continue": the loop turns, and the
 * rest of @request goes out, until its head has come or the server closes */
static GString *
raw_exchange_final (Fixture    *f,
                    const char *request,
                    gsize       length)
{
  g_autoptr(GSocket) socket = raw_connect (f);
  GString *response = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
  gsize sent = 0;

  while (g_get_monotonic_time () < deadline)
    {
      const char *end = strstr (response->str, "\r\n\r\n");

      if (end != NULL && g_str_has_prefix (response->str, "HTTP/1.1 1"))
        g_string_erase (response, 0, end + 4 - response->str);
      else if (end != NULL)
        break;
      if (!raw_step (socket, request, length, &sent, response))
        break;
    }
  g_socket_close (socket, NULL);
  return response;
}

/* a body refused as it comes (over the limit, or framed twice) is answered
 * like any other request: nosniff, and a listed origin's page may read why,
 * whether the head was checked first or not, and after "100 Continue" */
static void
test_cors_refused_body (Fixture       *f,
                        gconstpointer  data)
{
  const char *origins[] = { "https://lab.example", NULL };
  const char *heads[] = {
    "Content-Length: 2097152\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n",
    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
  };
  const guint statuses[] = { 413, 413, 413, 400 };
  g_autofree char *filler = g_strnfill (32768, ' ');

  g_object_set (f->server, "cors-origins", origins, NULL);
  fixture_listen (f, "127.0.0.1");
  for (guint i = 0; i < G_N_ELEMENTS (heads); i++)
    {
      g_autoptr(GString) request = g_string_new (NULL);
      g_autoptr(GString) response = NULL;
      g_autofree char *vary = NULL;

      g_string_printf (request, "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                       "Origin: https://lab.example\r\n%s\r\n", f->port, heads[i]);
      for (guint chunk = 0; chunk < 40; chunk++)
        g_string_append_printf (request, "8000\r\n%s\r\n", filler);
      g_string_append (request, "0\r\n\r\n");
      response = raw_exchange_final (f, request->str, request->len);
      g_test_message ("%s: %.*s", heads[i], (int) MIN (response->len, 400), response->str);
      g_assert_cmpuint (raw_status (response), ==, statuses[i]);
      g_assert_true (raw_has_header (response, "Connection: close"));
      g_assert_true (raw_has_header (response, "X-Content-Type-Options: nosniff"));
      g_assert_true (raw_has_header (response, "Access-Control-Allow-Origin: https://lab.example"));
      vary = raw_vary (response);
      g_assert_cmpstr (vary, ==, "Origin, Accept-Language");
    }
  g_assert_cmpuint (raw_get (f, "/health", NULL, NULL), ==, 200);
}

/* --- limits --- */

static void
test_max_pending (Fixture       *f,
                  gconstpointer  data)
{
  const char *body = "{\"name\":\"x\",\"action\":\"wait\"}";
  g_autoptr(GString) refused = NULL;

  g_object_set (f->manager, "max-pending", 3, NULL);
  fixture_listen (f, "127.0.0.1");
  em_engine_manager_pause (f->manager);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (raw_method (f, "POST", "/tasks", NULL, body, NULL), ==, 201);
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", NULL, body, &refused), ==, 429);
  g_assert_true (g_str_has_prefix (refused->str, "HTTP/1.1 429 Too Many Requests\r\n"));
  g_assert_true (raw_has_header (refused, "Retry-After: "));
  g_assert_true (raw_has_header (refused, "application/problem+json"));
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", NULL, "[{\"name\":\"a\",\"action\":\"wait\"}]", NULL),
                    ==, 429);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 3);

  /* room again once they run */
  em_engine_manager_resume (f->manager);
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (f->manager, &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) == 0,
                      TIMEOUT_MS);
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", NULL, body, NULL), ==, 201);
}

static void
test_ws_max_clients (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *request = NULL;
  g_autoptr(GString) refused = NULL;

  g_object_set (f->server, "ws-max-clients", 2, NULL);
  fixture_listen (f, "127.0.0.1");
  request = g_strdup_printf ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n" WS_HANDSHAKE_HEADERS "\r\n",
                             f->port);
  /* two clients that stay */
  for (guint i = 0; i < 2; i++)
    {
      GSocket *socket = raw_connect (f);

      g_assert_cmpint (g_socket_send (socket, request, strlen (request), NULL, NULL), ==, strlen (request));
      g_ptr_array_add (sockets, socket);
    }
  EM_TEST_WAIT_UNTIL (em_rest_server_get_n_websocket_clients (f->server) == 2, TIMEOUT_MS);
  g_assert_cmpuint (raw_get (f, "/ws", WS_HANDSHAKE_HEADERS, &refused), ==, 503);
  g_assert_nonnull (strstr (refused->str, "limit 2"));
  g_assert_cmpuint (raw_get (f, "/health", NULL, NULL), ==, 200);
}

static void
test_header_size (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *big = g_strnfill (2048, 'h');
  g_autofree char *line = g_strdup_printf ("X-Padding: %s\r\n", big);
  g_autofree char *huge = g_strnfill (256 * 1024, 'h');
  g_autofree char *huge_line = g_strdup_printf ("X-Padding: %s\r\n", huge);
  g_autoptr(GString) refused = NULL;
  g_autoptr(GString) huge_response = NULL;
  g_autofree char *huge_request = NULL;
  g_autofree char *host = NULL;
  g_autofree char *pad = NULL;
  g_autofree char *at_limit = NULL;
  g_autofree char *past_limit = NULL;
  gsize room;

  g_object_set (f->server, "max-header-size", 1024, NULL);
  fixture_listen (f, "127.0.0.1");
  g_assert_cmpuint (raw_get (f, "/health", "X-Small: 1\r\n", NULL), ==, 200);
  /* as the README counts: each line whole, its ": " and line end included */
  host = g_strdup_printf ("127.0.0.1:%u", f->port);
  room = 1024 - (strlen ("Host") + strlen (host) + 4) - (strlen ("X-Padding") + 4);
  pad = g_strnfill (room + 1, 'h');
  past_limit = g_strdup_printf ("X-Padding: %s\r\n", pad);
  pad[room] = '\0';
  at_limit = g_strdup_printf ("X-Padding: %s\r\n", pad);
  g_assert_cmpuint (raw_get (f, "/health", at_limit, NULL), ==, 200);
  g_assert_cmpuint (raw_get (f, "/health", past_limit, NULL), ==, 431);
  g_assert_cmpuint (raw_get (f, "/health", line, &refused), ==, 431);
  g_assert_true (g_str_has_prefix (refused->str, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  g_assert_nonnull (strstr (refused->str, "1024"));
  /* far beyond: refused too, whatever part refuses it, and the service goes on */
  huge_request = g_strdup_printf ("GET /health HTTP/1.1\r\nHost: x\r\n%s\r\n", huge_line);
  huge_response = raw_exchange (f, huge_request);
  g_assert_false (g_str_has_prefix (huge_response->str, "HTTP/1.1 200"));
  g_assert_cmpuint (raw_get (f, "/health", NULL, NULL), ==, 200);
}

static void
test_idle_timeout (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GSocket) silent = NULL;
  g_autoptr(GSocket) ws = NULL;
  g_autofree char *request = NULL;
  gint64 start;
  gboolean closed = FALSE;
  char buffer[4096];

  g_object_set (f->server, "idle-timeout", 1, NULL);
  fixture_listen (f, "127.0.0.1");

  /* a WebSocket client is exempt: quiet streams are normal */
  request = g_strdup_printf ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n" WS_HANDSHAKE_HEADERS "\r\n",
                             f->port);
  ws = raw_connect (f);
  g_assert_cmpint (g_socket_send (ws, request, strlen (request), NULL, NULL), ==, strlen (request));
  EM_TEST_WAIT_UNTIL (em_rest_server_get_n_websocket_clients (f->server) == 1, TIMEOUT_MS);

  silent = raw_connect (f);
  start = g_get_monotonic_time ();
  while (!closed && g_get_monotonic_time () - start < 5 * G_USEC_PER_SEC)
    {
      g_main_context_iteration (NULL, FALSE);
      closed = g_socket_receive (silent, buffer, sizeof buffer, NULL, NULL) == 0;
      g_usleep (1000);
    }
  g_assert_true (closed);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC / 2);
  em_test_run_for (500);
  g_assert_cmpuint (em_rest_server_get_n_websocket_clients (f->server), ==, 1);
}

/* slowloris: a byte now and then kept a request, and its connection, open for
 * good, as every byte restarted the socket's timeout */
static void
test_slow_request (Fixture       *f,
                   gconstpointer  data)
{
  const char *request = "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  g_autoptr(GSocket) slow = NULL;
  gint64 start;
  gint64 last_send = 0;
  gboolean closed = FALSE;
  gsize sent = 0;
  char buffer[4096];

  g_object_set (f->server, "idle-timeout", 1, NULL);
  fixture_listen (f, "127.0.0.1");

  slow = raw_connect (f);
  start = g_get_monotonic_time ();
  while (!closed && sent < strlen (request) && g_get_monotonic_time () - start < 8 * G_USEC_PER_SEC)
    {
      g_main_context_iteration (NULL, FALSE);
      /* a byte every 200 ms: never a second of silence */
      if (g_get_monotonic_time () - last_send > G_USEC_PER_SEC / 5)
        {
          closed = g_socket_send (slow, request + sent, 1, NULL, NULL) != 1;
          sent++;
          last_send = g_get_monotonic_time ();
        }
      closed = closed || g_socket_receive (slow, buffer, sizeof buffer, NULL, NULL) == 0;
      g_usleep (1000);
    }
  g_assert_true (closed);
  /* the request's whole head had the timeout, and a little more for the sweep */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
  g_assert_cmpuint (raw_get (f, "/health", NULL, NULL), ==, 200);
}

/* --- Expect: 100-continue --- */

/* reads until a whole head has come, or the end of the connection */
static void
raw_read_head (GSocket *socket,
               GString *response)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;

  while (g_get_monotonic_time () < deadline && strstr (response->str, "\r\n\r\n") == NULL)
    {
      char buffer[4096];
      gssize n;

      g_main_context_iteration (NULL, FALSE);
      n = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL);
      if (n > 0)
        g_string_append_len (response, buffer, n);
      else if (n == 0)
        break;
      else
        g_usleep (200);
    }
}

#define EXPECT_BODY "{\"name\":\"x\",\"action\":\"wait\"}"

/* what answers the head of a request with a body and Expect: 100-continue,
 * the body not sent: a refusal must come instead of 100, the connection
 * closed, since the client may send the body anyway (RFC 9110 §10.1.1) */
static guint
expect_refused (Fixture    *f,
                const char *method,
                const char *path,
                const char *host,
                const char *extra,
                guint64     length)
{
  g_autoptr(GSocket) socket = raw_connect (f);
  g_autoptr(GString) response = g_string_new (NULL);
  g_autofree char *head =
    g_strdup_printf ("%s %s HTTP/1.1\r\nHost: %s:%u\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: %" G_GUINT64_FORMAT "\r\nExpect: 100-continue\r\n\r\n",
                     method, path, host, f->port, extra != NULL ? extra : "", length);

  g_assert_cmpint (g_socket_send (socket, head, strlen (head), NULL, NULL), ==, strlen (head));
  raw_read_head (socket, response);
  g_test_message ("%s %s: %s", method, path, response->str);
  g_assert_cmpuint (raw_status (response), !=, 100);
  g_assert_true (raw_has_header (response, "Connection: close"));
  g_assert_true (raw_has_header (response, "application/problem+json"));
  g_socket_close (socket, NULL);
  return raw_status (response);
}

/* the status that follows the "100 Continue" a POST /tasks with a body and
 * Expect must get, the token given */
static guint
expect_accepted (Fixture *f)
{
  g_autoptr(GSocket) socket = raw_connect (f);
  g_autoptr(GString) response = g_string_new (NULL);
  g_autofree char *head =
    g_strdup_printf ("POST /tasks HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                     "Authorization: Bearer " TOKEN "\r\nContent-Type: application/json\r\n"
                     "Content-Length: %" G_GSIZE_FORMAT "\r\nExpect: 100-continue\r\n\r\n",
                     f->port, strlen (EXPECT_BODY));

  g_assert_cmpint (g_socket_send (socket, head, strlen (head), NULL, NULL), ==, strlen (head));
  raw_read_head (socket, response);
  g_assert_cmpuint (raw_status (response), ==, 100);
  g_string_truncate (response, 0);
  g_assert_cmpint (g_socket_send (socket, EXPECT_BODY, strlen (EXPECT_BODY), NULL, NULL), ==,
                   strlen (EXPECT_BODY));
  raw_read_head (socket, response);
  return raw_status (response);
}

static void
test_expect_token (Fixture       *f,
                   gconstpointer  data)
{
  gsize length = strlen (EXPECT_BODY);

  g_object_set (f->server, "token", TOKEN, NULL);
  fixture_listen (f, "127.0.0.1");

  g_assert_cmpuint (expect_refused (f, "POST", "/tasks", "127.0.0.1", NULL, length), ==, 401);
  g_assert_cmpuint (expect_refused (f, "POST", "/tasks", "127.0.0.1",
                                    "Authorization: Bearer nope\r\n", length), ==, 401);
  g_assert_cmpuint (expect_refused (f, "POST", "/nowhere", "127.0.0.1",
                                    "Authorization: Bearer " TOKEN "\r\n", length), ==, 404);
  g_assert_cmpuint (expect_refused (f, "PUT", "/tasks", "127.0.0.1",
                                    "Authorization: Bearer " TOKEN "\r\n", length), ==, 405);
  g_assert_cmpuint (expect_refused (f, "POST", "/tasks", "127.0.0.1",
                                    "Authorization: Bearer " TOKEN "\r\n"
                                    "Origin: http://evil.example\r\n", length), ==, 403);
  /* as a body too large for the limit is, before the token is looked at */
  g_assert_cmpuint (expect_refused (f, "POST", "/tasks", "127.0.0.1",
                                    "Authorization: Bearer " TOKEN "\r\n",
                                    G_GUINT64_CONSTANT (1) << 40), ==, 413);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 0);

  /* a request that will be taken gets its 100, then its answer */
  g_assert_cmpuint (expect_accepted (f), ==, 201);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 1);
}

/* without a token, the Host check refuses from the head too */
static void
test_expect_host (Fixture       *f,
                  gconstpointer  data)
{
  fixture_listen (f, "127.0.0.1");
  g_assert_cmpuint (expect_refused (f, "POST", "/tasks", "evil.example", NULL,
                                    strlen (EXPECT_BODY)), ==, 403);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 0);
}

/* the whole answer, head and body, as the client reads it until the end of
 * the connection, with the body sent at once after a head with Expect, as
 * curl does once it stops waiting for "100 Continue"; @sent: how much of the
 * request went out before the connection failed, if it did */
static GString *
expect_raced (Fixture    *f,
              const char *extra,
              gsize      *sent,
              gsize      *length)
{
  g_autoptr(GSocket) socket = raw_connect (f);
  GString *response = g_string_new (NULL);
  g_autofree char *body = g_strnfill (512 * 1024, ' ');
  g_autofree char *request =
    g_strdup_printf ("POST /tasks HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n"
                     "Expect: 100-continue\r\n\r\n%s",
                     f->port, extra, strlen (body), body);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
  gboolean send_failed = FALSE;
  gboolean read_all = FALSE;

  /* a small buffer: the client is still sending when the answer comes */
  g_socket_set_option (socket, SOL_SOCKET, SO_SNDBUF, 16 * 1024, NULL);
  *length = strlen (request);
  *sent = 0;
  while (g_get_monotonic_time () < deadline && !(read_all && (*sent == *length || send_failed)))
    {
      g_autoptr(GError) error = NULL;
      char buffer[4096];
      gssize n;

      gboolean moved = FALSE;

      g_main_context_iteration (NULL, FALSE);
      if (*sent < *length && !send_failed)
        {
          g_autoptr(GError) send_error = NULL;

          n = g_socket_send (socket, request + *sent, *length - *sent, NULL, &send_error);
          if (n > 0)
            {
              *sent += (gsize) n;
              moved = TRUE;
            }
          else if (!g_error_matches (send_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            send_failed = TRUE;
        }
      if (!read_all)
        {
          n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);
          if (n > 0)
            g_string_append_len (response, buffer, n);
          else if (n == 0 || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            read_all = TRUE;
          moved = moved || n >= 0;
        }
      if (!moved)
        g_usleep (100);
    }
  g_socket_close (socket, NULL);
  return response;
}

/* the refusal goes out while the body comes in: closing on unread input would
 * reset the connection, and the client lose the answer */
static void
test_expect_raced (Fixture       *f,
                   gconstpointer  data)
{
  /* a body larger than the socket buffers, which the client is still sending
   * when the answer comes */
  g_object_set (f->server, "token", TOKEN, NULL);
  fixture_listen (f, "127.0.0.1");

  for (guint i = 0; i < 20; i++)
    {
      gsize sent, length;
      g_autoptr(GString) response = expect_raced (f, "", &sent, &length);
      const char *body = strstr (response->str, "\r\n\r\n");

      /* as a client that stops at an error on sending would */
      g_assert_cmpuint (sent, ==, length);

      g_assert_true (g_str_has_prefix (response->str, "HTTP/1.1 401 Unauthorized\r\n"));
      g_assert_true (raw_has_header (response, "Connection: close"));
      g_assert_true (raw_has_header (response, "WWW-Authenticate: "));
      g_assert_nonnull (body);
      g_assert_true (g_str_has_prefix (body + 4, "{"));
      g_assert_true (g_str_has_suffix (body + 4, "}"));
      g_assert_nonnull (strstr (body, "\"status\":401"));
    }
}

/* a full queue refuses from the head too: the body would only be turned away,
 * with 429 and its Retry-After as the handler answers it */
static void
test_expect_max_pending (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GString) refused = NULL;
  gsize sent, length;

  g_object_set (f->manager, "max-pending", 1, NULL);
  fixture_listen (f, "127.0.0.1");
  em_engine_manager_pause (f->manager);
  g_assert_cmpuint (raw_method (f, "POST", "/tasks", NULL, EXPECT_BODY, NULL), ==, 201);

  g_assert_cmpuint (expect_refused (f, "POST", "/tasks", "127.0.0.1", NULL,
                                    strlen (EXPECT_BODY)), ==, 429);
  refused = expect_raced (f, "", &sent, &length);
  g_assert_cmpuint (sent, ==, length);
  g_assert_true (g_str_has_prefix (refused->str, "HTTP/1.1 429 Too Many Requests\r\n"));
  g_assert_true (raw_has_header (refused, "Retry-After: 1\r\n"));
  g_assert_nonnull (strstr (refused->str, "\"status\":429"));
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 1);

  /* room again: the 100, then the task */
  em_engine_manager_resume (f->manager);
  EM_TEST_WAIT_UNTIL (em_engine_manager_count_tasks (f->manager, &(EmTaskStatus) { EM_TASK_STATUS_PENDING }) == 0,
                      TIMEOUT_MS);
  g_assert_cmpuint (expect_accepted (f), ==, 201);
  g_assert_cmpuint (em_engine_manager_count_tasks (f->manager, NULL), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* idle worker threads, which did the TLS handshakes, end at once, so that
   * none is left with GnuTLS's thread-local storage for the leak checker to
   * walk at exit, where libasan 12 misreads it */
  g_thread_pool_set_max_unused_threads (0);
  gst_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/rest-auth/token", test_token);
  ADD ("/rest-auth/token-file-refused", test_token_file_refused);
  ADD ("/rest-auth/token-file-untrusted", test_token_file_untrusted);
  g_test_add_func ("/rest-auth/constant-time-equal", test_constant_time_equal);
  ADD ("/rest-auth/exposure", test_exposure);
  ADD ("/rest-auth/tls", test_tls);
  ADD ("/rest-auth/slow-request", test_slow_request);
  ADD ("/rest-auth/cors-default", test_cors_default);
  ADD ("/rest-auth/cors-allowed", test_cors_allowed);
  ADD ("/rest-auth/cors-refused-body", test_cors_refused_body);
  ADD ("/rest-auth/cross-site-post", test_cross_site_post);
  ADD ("/rest-auth/dns-rebinding", test_dns_rebinding);
  ADD ("/rest-auth/dns-rebinding-token", test_dns_rebinding_token);
  ADD ("/rest-auth/limits/max-pending", test_max_pending);
  ADD ("/rest-auth/limits/ws-max-clients", test_ws_max_clients);
  ADD ("/rest-auth/limits/header-size", test_header_size);
  ADD ("/rest-auth/limits/idle-timeout", test_idle_timeout);
  ADD ("/rest-auth/expect/token", test_expect_token);
  ADD ("/rest-auth/expect/host", test_expect_host);
  ADD ("/rest-auth/expect/raced", test_expect_raced);
  ADD ("/rest-auth/expect/max-pending", test_expect_max_pending);

  return g_test_run ();
}
