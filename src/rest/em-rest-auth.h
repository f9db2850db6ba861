#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* the bearer token every request but GET /health must carry, when one is set */

/* the first line of @path, trimmed; refuses an empty or unreadable file and one
 * that others can read, naming the file. Called once, before serving. */
char     *em_rest_auth_read_token_file (const char        *path,
                                        GError           **error);
/* whether @a and @b are equal, in time that depends only on their lengths */
gboolean  em_rest_auth_equal           (const char        *a,
                                        const char        *b);
/* the token of @msg: `Authorization: Bearer …`, or for a WebSocket upgrade
 * (@allow_query) the `access_token` query parameter; (nullable) */
const char *em_rest_auth_find_token    (SoupServerMessage *msg,
                                        GHashTable        *query,
                                        gboolean           allow_query);
/* answers 401 with `WWW-Authenticate: Bearer` when @msg lacks @token */
gboolean  em_rest_auth_check           (SoupServerMessage *msg,
                                        GHashTable        *query,
                                        const char        *token,
                                        gboolean           allow_query);

G_END_DECLS
