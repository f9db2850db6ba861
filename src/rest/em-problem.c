#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-writer.h"
#include "rest/em-problem.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-status.h"
#include "rest/em-rest-vary.h"

#define PROBLEM_CONTENT_TYPE "application/problem+json"
#define JSON_CONTENT_TYPE "application/json"

/* untranslated: the title is translated for each request's language */
static const char *
default_title_msgid (guint status)
{
  switch (status)
    {
    case 400:
      return N_("Invalid request");
    case 401:
      return N_("Unauthorized");
    case 403:
      return N_("Forbidden");
    case 404:
      return N_("Not found");
    case 405:
      return N_("Method not allowed");
    case 409:
      return N_("Conflict");
    case 413:
      return N_("Request body too large");
    case 415:
      return N_("Unsupported media type");
    case 417:
      return N_("Expectation failed");
    case 429:
      return N_("Too many requests");
    case 431:
      return N_("Request header fields too large");
    case 501:
      return N_("Not implemented");
    case 503:
      return N_("Service unavailable");
    case 505:
      return N_("HTTP version not supported");
    default:
      return N_("Internal error");
    }
}

const char *
em_problem_default_title (guint status)
{
  return _(default_title_msgid (status));
}

char *
em_problem_to_string (guint       status,
                      const char *title,
                      const char *detail)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *valid_title = NULL;
  g_autofree char *valid_detail = NULL;

  /* json-glib writes strings' bytes as they are: a message quoting the client's
   * input that is not UTF-8 would make the whole document invalid JSON */
  if (title != NULL && !g_utf8_validate (title, -1, NULL))
    title = valid_title = g_utf8_make_valid (title, -1);
  if (detail != NULL && !g_utf8_validate (detail, -1, NULL))
    detail = valid_detail = g_utf8_make_valid (detail, -1);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "about:blank");
  json_builder_set_member_name (builder, "title");
  json_builder_add_string_value (builder, title != NULL ? title : em_problem_default_title (status));
  json_builder_set_member_name (builder, "status");
  json_builder_add_int_value (builder, status);
  if (detail != NULL)
    {
      json_builder_set_member_name (builder, "detail");
      json_builder_add_string_value (builder, detail);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

void
em_problem_respond (SoupServerMessage *msg,
                    guint              status,
                    const char        *title,
                    const char        *detail)
{
  /* in the language the client asked for (Accept-Language); details are
   * formatted by the handlers, which run in that language */
  g_autofree char *translated = title == NULL ?
                                em_rest_i18n_translate (msg, default_title_msgid (status)) : NULL;
  char *body = em_problem_to_string (status, title != NULL ? title : translated, detail);

  em_rest_set_status (msg, status);
  em_rest_vary (msg, "Accept-Language");
  soup_server_message_set_response (msg, PROBLEM_CONTENT_TYPE, SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}

void
em_problem_respond_printf (SoupServerMessage *msg,
                           guint              status,
                           const char        *format,
                           ...)
{
  g_autofree char *detail = NULL;
  va_list args;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);

  em_problem_respond (msg, status, NULL, detail);
}

void
em_problem_respond_error (SoupServerMessage *msg,
                          const GError      *error)
{
  guint status = em_error_to_http_status (error);

  em_problem_respond (msg, status, NULL, error != NULL ? error->message : NULL);
}

void
em_rest_respond_json (SoupServerMessage *msg,
                      guint              status,
                      JsonNode          *node)
{
  GString *body = g_string_sized_new (1024);

  /* the engine's writer, so that numbers read the same in every answer */
  em_json_write_node (body, node);
  em_rest_respond_json_text (msg, status, g_string_free (body, FALSE));
}

void
em_rest_respond_json_text (SoupServerMessage *msg,
                           guint              status,
                           char              *body)
{
  em_rest_set_status (msg, status);
  soup_server_message_set_response (msg, JSON_CONTENT_TYPE, SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}
