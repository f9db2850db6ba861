#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-problem.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-server.h"
#include "rest/em-rest-unparsed.h"

/* Until the head is read libsoup gives no hook: a head it cannot parse skips
 * got-headers and goes straight to writing its status. So every request
 * starts out set for that answer, a body delimited by the end of the
 * connection (which libsoup closes after such a request), whose text is
 * written once the status is known, after the head; got-headers, which
 * every readable request sees, puts the default back for the handlers. The
 * text is written from an emission hook, installed once, since a handler
 * connected to each request costs more than the rest of the request's check. */

static const char *
detail_for (guint status)
{
  switch (status)
    {
    case SOUP_STATUS_EXPECTATION_FAILED:
      return _("Expect: the only expectation this service knows is 100-continue");
    case SOUP_STATUS_NOT_IMPLEMENTED:
      return _("Transfer-Encoding: the only transfer coding this service reads is chunked");
    case SOUP_STATUS_HTTP_VERSION_NOT_SUPPORTED:
      return _("request line: the HTTP version is not supported; use HTTP/1.1");
    case SOUP_STATUS_BAD_REQUEST:
      return _("request: not a well-formed HTTP/1.1 request (request line, header "
               "fields, Host or URI)");
    default:
      return NULL;
    }
}

/* wrote-headers of every server message: only one whose head libsoup could
 * not read is still set up as em_rest_unparsed_watch() left it */
static gboolean
wrote_headers_hook (GSignalInvocationHint *hint,
                    guint                  n_values,
                    const GValue          *values,
                    gpointer               user_data)
{
  SoupServerMessage *msg = g_value_get_object (&values[0]);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  guint status = soup_server_message_get_status (msg);
  char *problem;

  if (soup_message_headers_get_encoding (headers) != SOUP_ENCODING_EOF || body->length > 0 ||
      g_strcmp0 (soup_message_headers_get_content_type (headers, NULL),
                 "application/problem+json") != 0)
    return TRUE;
  /* what headers libsoup did read may ask for a language */
  em_rest_i18n_scope_enter_for_message (&scope, msg);
  problem = em_problem_to_string (status, NULL, detail_for (status));
  soup_message_body_append (body, SOUP_MEMORY_TAKE, problem, strlen (problem));
  soup_message_body_complete (body);
  return TRUE;
}

static gpointer
install_hook (gpointer data)
{
  g_signal_add_emission_hook (g_signal_lookup ("wrote-headers", SOUP_TYPE_SERVER_MESSAGE), 0,
                              wrote_headers_hook, NULL, NULL);
  return NULL;
}

void
em_rest_unparsed_watch (SoupServerMessage *msg)
{
  static GOnce once = G_ONCE_INIT;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  g_once (&once, install_hook, NULL);
  /* a new response has no Content-Type to replace; nosniff stays for the
   * handlers' answers, as check_head() would set it anyway */
  soup_message_headers_append (headers, "Content-Type", "application/problem+json");
  soup_message_headers_append (headers, "X-Content-Type-Options", "nosniff");
  /* the text follows Accept-Language, when libsoup read one */
  soup_message_headers_append (headers, "Vary", "Accept-Language");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_EOF);
}

void
em_rest_unparsed_head_read (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  guint status = soup_server_message_get_status (msg);

  soup_message_headers_remove (headers, "Content-Type");
  soup_message_headers_remove (headers, "Vary");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CONTENT_LENGTH);
  /* refused by libsoup's own check of the head (a URI of another scheme) */
  if (status != 0)
    {
      g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

      em_rest_i18n_scope_enter_for_message (&scope, msg);
      em_problem_respond (msg, status, NULL, detail_for (status));
    }
  /* "OPTIONS *" asks about the server as a whole (RFC 9110 §9.3.7) and
   * reaches no handler, where libsoup would answer an empty 404: the methods
   * some resource takes, as each path's OPTIONS gives its own */
  else if (soup_server_message_is_options_ping (msg))
    {
      g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

      /* libsoup takes the "*" target with any method (RFC 9112 §3.2.4: only
       * OPTIONS has it) */
      if (soup_server_message_get_method (msg) != SOUP_METHOD_OPTIONS)
        {
          em_rest_i18n_scope_enter_for_message (&scope, msg);
          /* a body it has would otherwise be read as the next request */
          soup_message_headers_replace (headers, "Connection", "close");
          em_problem_respond (msg, SOUP_STATUS_BAD_REQUEST, NULL,
                              _("request line: the target “*” is only for OPTIONS"));
          return;
        }
      soup_message_headers_replace (headers, "Allow", EM_REST_SERVER_METHODS);
      soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
    }
}
