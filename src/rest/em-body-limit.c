#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-body-limit.h"
#include "rest/em-problem.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-linger.h"

typedef struct {
  guint64       max_bytes;
  guint64       received;
  gboolean      refused;
  EmBodyBudget *budget;  /* (nullable) */
  GCancellable *cancellable;
  void        (*add_headers) (SoupServerMessage *msg,
                              gpointer           user_data);
  gpointer      add_headers_data;
} Watch;

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  g_clear_object (&watch->cancellable);
  g_clear_pointer (&watch->budget, em_body_budget_unref);
  g_free (watch);
}

static void
refuse (SoupServerMessage *msg,
        Watch             *watch,
        guint              status,
        const char        *detail)
{
  watch->refused = TRUE;
  if (watch->add_headers != NULL)
    watch->add_headers (msg, watch->add_headers_data);
  em_problem_respond (msg, status, NULL, detail);
  if (em_rest_linger_respond_message (msg, watch->cancellable))
    g_debug ("refused a request body: %s", detail);
}

static void
refuse_too_large (SoupServerMessage *msg,
                  Watch             *watch)
{
  /* the number apart: a format macro would cut the msgid short */
  g_autofree char *max_bytes = g_strdup_printf ("%" G_GUINT64_FORMAT, watch->max_bytes);
  g_autofree char *detail = g_strdup_printf (_("body: larger than the limit of %s bytes"), max_bytes);

  refuse (msg, watch, 413, detail);
}

/* the body would fit its own limit, but not among the others being read */
static void
refuse_overbooked (SoupServerMessage *msg,
                   Watch             *watch)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Retry-After", "1");
  refuse (msg, watch, 503,
          _("body: the service is reading too many large request bodies at once; "
            "try again shortly"));
}

static void
got_chunk_cb (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  Watch *watch = user_data;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

  if (watch->refused)
    return;
  watch->received += g_bytes_get_size (chunk);
  if (watch->received <= watch->max_bytes &&
      (watch->budget == NULL ||
       em_body_budget_hold (watch->budget, G_OBJECT (msg), g_bytes_get_size (chunk))))
    return;
  /* before any handler: the answer speaks the client's language from here */
  em_rest_i18n_scope_enter_for_message (&scope, msg);
  if (watch->received > watch->max_bytes)
    refuse_too_large (msg, watch);
  else
    refuse_overbooked (msg, watch);
}

/* RFC 9110's 1*DIGIT, given once: libsoup reads "-5" and "+5" with strtoull,
 * the first as 2^64 - 5, and of two Content-Length headers believes the last */
static gboolean
is_one_length (const char *text)
{
  if (text == NULL || *text == '\0')
    return FALSE;
  for (; *text != '\0'; text++)
    if (!g_ascii_isdigit (*text))
      return FALSE;
  return TRUE;
}

/* headers of which libsoup believes one of several, and a proxy in front may
 * believe another: the request is not the same request to both */
static const char * const once_only[] = {
  "Host", "Authorization", "Transfer-Encoding", "Origin", "Sec-WebSocket-Key",
};

typedef struct {
  const char *twice;
  guint       seen;  /* a bit per once_only[] entry */
} Repeats;

static void
count_header_cb (const char *name,
                 const char *value,
                 gpointer    user_data)
{
  Repeats *repeats = user_data;

  for (guint i = 0; i < G_N_ELEMENTS (once_only) && repeats->twice == NULL; i++)
    if (g_ascii_strcasecmp (name, once_only[i]) == 0)
      {
        if (repeats->seen & (1u << i))
          repeats->twice = once_only[i];
        repeats->seen |= 1u << i;
      }
}

/* the name of a header given more than once that must be given once */
static const char *
header_given_twice (SoupMessageHeaders *headers)
{
  Repeats repeats = { NULL, 0 };

  soup_message_headers_foreach (headers, count_header_cb, &repeats);
  return repeats.twice;
}

/* libsoup reads a chunk's size with strtoul, which takes "0x1c", "+1c" and
 * " 1c", and "zz" for the last chunk, so a proxy in front and libsoup may
 * end the body in different places: nothing after a chunked body is read
 * as another request. Set once the body is in, as libsoup clears the
 * answer's headers when it sends "100 Continue" */
static void
close_after_chunked_cb (SoupServerMessage *msg,
                        gpointer           user_data)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
}

/* the answer in the client's language; a scope is entered only once */
static void
enter_once (EmRestI18nScope   *scope,
            SoupServerMessage *msg)
{
  if (scope->active == (locale_t) 0)
    em_rest_i18n_scope_enter_for_message (scope, msg);
}

gboolean
em_body_limit_check_head (SoupServerMessage *msg,
                          const EmBodyLimit *limit)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  g_autofree char *twice_detail = NULL;
  const char *detail = NULL;
  const char *twice = header_given_twice (headers);
  gboolean bad_length = FALSE;
  gboolean both = FALSE;
  gboolean overbooked = FALSE;
  Watch *watch;

  if (twice != NULL)
    {
      enter_once (&scope, msg);
      twice_detail = g_strdup_printf (_("%s: given more than once; send this header once"), twice);
      detail = twice_detail;
    }

  /* both framings: a proxy in front goes by the Transfer-Encoding (RFC 9112
   * §6.3), while libsoup lets a Content-Length read after one other than
   * chunked decide where the body ends; the two would read different requests
   * from the same bytes. Refused, and the connection closed */
  if (detail == NULL)
    switch (soup_message_headers_get_encoding (headers))
      {
      case SOUP_ENCODING_CONTENT_LENGTH:
        /* the common case costs a pass over the headers, three lookups and
         * nothing else */
        both = soup_message_headers_get_list (headers, "Transfer-Encoding") != NULL;
        bad_length = !is_one_length (soup_message_headers_get_list (headers, "Content-Length"));
        if (!both && !bad_length)
          {
            guint64 length = (guint64) soup_message_headers_get_content_length (headers);

            if (length <= limit->max_bytes &&
                (length < EM_BODY_BUDGET_MIN_BYTES || limit->budget == NULL ||
                 em_body_budget_hold (limit->budget, G_OBJECT (msg), length)))
              return TRUE;
            overbooked = length <= limit->max_bytes;
          }
        break;
      case SOUP_ENCODING_NONE:
        return TRUE;
      default:
        both = soup_message_headers_get_list (headers, "Content-Length") != NULL;
        enter_once (&scope, msg);
        /* RFC 9112 §6.1: HTTP/1.0 has no transfer codings */
        if (soup_server_message_get_http_version (msg) == SOUP_HTTP_1_0)
          detail = _("Transfer-Encoding: an HTTP/1.0 request has none");
        /* libsoup takes "chunked, identity" for chunked */
        else if (g_ascii_strcasecmp (soup_message_headers_get_list (headers, "Transfer-Encoding"),
                                     "chunked") != 0)
          detail = _("Transfer-Encoding: the only transfer coding this service reads is chunked");
        break;
      }

  watch = g_new0 (Watch, 1);
  watch->max_bytes = limit->max_bytes;
  watch->budget = limit->budget != NULL ? em_body_budget_ref (limit->budget) : NULL;
  watch->cancellable = limit->cancellable != NULL ? g_object_ref (limit->cancellable) : NULL;
  watch->add_headers = limit->add_headers;
  watch->add_headers_data = limit->add_headers_data;
  g_object_set_data_full (G_OBJECT (msg), "em-body-limit", watch, watch_free);
  enter_once (&scope, msg);
  /* where the body ends is unknown: answered, and the connection closed */
  if (detail != NULL)
    refuse (msg, watch, 400, detail);
  else if (both)
    refuse (msg, watch, 400,
            _("Transfer-Encoding and Content-Length: give one of them, not both"));
  else if (bad_length)
    refuse (msg, watch, 400,
            _("Content-Length: must be one number of bytes, in decimal digits"));
  else if (overbooked)
    refuse_overbooked (msg, watch);
  else if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH)
    refuse_too_large (msg, watch);
  else
    {
      g_signal_connect (msg, "got-chunk", G_CALLBACK (got_chunk_cb), watch);
      g_signal_connect (msg, "got-body", G_CALLBACK (close_after_chunked_cb), NULL);
      return TRUE;
    }
  return FALSE;
}
