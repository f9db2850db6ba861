#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-problem.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-unparsed.h"

/* Until the head is read libsoup gives no hook: a head it cannot parse skips
 * got-headers and goes straight to writing its status. So every request
 * starts out set for that answer, a body delimited by the end of the
 * connection (which libsoup closes after such a request), whose text is
 * written once the status is known, after the head; got-headers, which
 * every readable request sees, puts the default back for the handlers. */

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

static void
wrote_headers_cb (SoupServerMessage *msg,
                  gpointer           user_data)
{
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  guint status = soup_server_message_get_status (msg);
  char *problem;

  /* what headers libsoup did read may ask for a language */
  em_rest_i18n_scope_enter_for_message (&scope, msg);
  problem = em_problem_to_string (status, NULL, detail_for (status));
  soup_message_body_append (body, SOUP_MEMORY_TAKE, problem, strlen (problem));
  soup_message_body_complete (body);
}

static void
got_headers_cb (SoupServerMessage *msg,
                gpointer           user_data)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  guint status = soup_server_message_get_status (msg);

  g_signal_handlers_disconnect_by_func (msg, wrote_headers_cb, NULL);
  soup_message_headers_remove (headers, "Content-Type");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CONTENT_LENGTH);
  /* refused by libsoup's own check of the head (a URI of another scheme) */
  if (status != 0)
    {
      g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

      em_rest_i18n_scope_enter_for_message (&scope, msg);
      em_problem_respond (msg, status, NULL, detail_for (status));
    }
  /* "OPTIONS *" reaches no handler, and libsoup would answer an empty 404 */
  else if (soup_server_message_is_options_ping (msg))
    {
      g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

      em_rest_i18n_scope_enter_for_message (&scope, msg);
      em_problem_respond_printf (msg, 404, _("path: no resource at “%s”"), "*");
    }
}

void
em_rest_unparsed_watch (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "Content-Type", "application/problem+json");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_EOF);
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers_cb), NULL);
  g_signal_connect (msg, "wrote-headers", G_CALLBACK (wrote_headers_cb), NULL);
}
