#pragma once

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* RFC 9457 problem documents, the one error format of the HTTP adapter */
char       *em_problem_to_string      (guint               status,
                                       const char         *title,
                                       const char         *detail);
const char *em_problem_default_title  (guint               status);
void        em_problem_respond        (SoupServerMessage  *msg,
                                       guint               status,
                                       const char         *title,
                                       const char         *detail);
void        em_problem_respond_printf (SoupServerMessage  *msg,
                                       guint               status,
                                       const char         *format,
                                       ...) G_GNUC_PRINTF (3, 4);
/* maps the EM_ERROR domain through em_error_to_http_status() */
void        em_problem_respond_error  (SoupServerMessage  *msg,
                                       const GError       *error);

/* a JSON success response; @node is not consumed */
void        em_rest_respond_json      (SoupServerMessage  *msg,
                                       guint               status,
                                       JsonNode           *node);
/* @body: (transfer full): JSON text already written */
void        em_rest_respond_json_text (SoupServerMessage  *msg,
                                       guint               status,
                                       char               *body);

G_END_DECLS
