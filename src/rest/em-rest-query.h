#pragma once

#include <glib.h>

#include "engine/em-task-query.h"

G_BEGIN_DECLS

/* which query parameters a /tasks request may carry */
typedef enum {
  EM_REST_QUERY_FILTERS = 1 << 0,  /* status, action, since, until */
  EM_REST_QUERY_PAGING  = 1 << 1,  /* limit, offset, cursor */
} EmRestQueryFlags;

/**
 * em_rest_query_parse:
 * @params: (nullable): the decoded query string
 * @page_default: `limit` when none is given
 * @page_max: the largest `limit` accepted
 * @query: (out caller-allocates): initialized here, cleared by the caller
 *
 * `status` takes one status or a comma-separated list; `since` and `until` are
 * RFC 3339 times with a zone; `cursor` (not with `offset`) sets the query's
 * `after`. Errors are EM_ERROR_INVALID_ARGUMENT and start
 * with the parameter's name.
 */
gboolean em_rest_query_parse     (GHashTable        *params,
                                  EmRestQueryFlags   flags,
                                  guint              page_default,
                                  guint              page_max,
                                  EmTaskQuery       *query,
                                  GError           **error);
/* what any request's query must be, whatever the path: names and values that
 * decode to UTF-8, and no name twice. @encoded is the query as it came,
 * percent-encoded. Returns the decoded names and values, where a name given
 * without `=` has the empty value (libsoup would leave it out, so that
 * `limit` alone would not be refused as `limit=` is). */
GHashTable *em_rest_query_decode (const char    *encoded,
                                  GError       **error);
/* whether any of status, action, since, until is present */
gboolean em_rest_query_has_filter (GHashTable       *params);
/* `</tasks?…&limit=M&cursor=C>; rel="next"`, keeping every filter of @params;
 * @cursor is the serial of the page's last task */
char    *em_rest_query_next_link (GHashTable        *params,
                                  guint              limit,
                                  guint64            cursor);

G_END_DECLS
