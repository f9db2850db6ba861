#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "engine/em-error.h"
#include "rest/em-problem.h"
#include "rest/em-rest-auth.h"

char *
em_rest_auth_read_token_file (const char  *path,
                              GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *contents = NULL;
  GStatBuf info;
  char *newline;

  /* startup only, before the loop serves anyone */
  if (g_stat (path, &info) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("Cannot read the token file “%s”: %s"), path, g_strerror (saved_errno));
      return NULL;
    }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("The token file “%s” is readable by other users; make it "
                     "private with chmod 600"), path);
      return NULL;
    }
  if (!g_file_get_contents (path, &contents, NULL, &local_error))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("Cannot read the token file “%s”: %s"), path, local_error->message);
      return NULL;
    }
  newline = strpbrk (contents, "\r\n");
  if (newline != NULL)
    *newline = '\0';
  g_strstrip (contents);
  if (*contents == '\0')
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("The token file “%s” holds no token on its first line"), path);
      return NULL;
    }
  return g_steal_pointer (&contents);
}

gboolean
em_rest_auth_equal (const char *a,
                    const char *b)
{
  /* digests have one length, and every byte of them is compared: the time
   * tells nothing about the token, not even its length */
  g_autofree char *digest_a = g_compute_checksum_for_string (G_CHECKSUM_SHA256, a, -1);
  g_autofree char *digest_b = g_compute_checksum_for_string (G_CHECKSUM_SHA256, b, -1);
  gsize length = strlen (digest_a);
  volatile guint8 difference = 0;

  g_assert (strlen (digest_b) == length);
  for (gsize i = 0; i < length; i++)
    difference |= (guint8) (digest_a[i] ^ digest_b[i]);
  return difference == 0;
}

const char *
em_rest_auth_find_token (SoupServerMessage *msg,
                         GHashTable        *query,
                         gboolean           allow_query)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");

  if (header != NULL)
    {
      if (g_ascii_strncasecmp (header, "Bearer ", strlen ("Bearer ")) != 0)
        return NULL;
      header += strlen ("Bearer ");
      while (*header == ' ')
        header++;
      return header;
    }
  /* browsers cannot set headers on a WebSocket */
  if (allow_query && query != NULL)
    return g_hash_table_lookup (query, "access_token");
  return NULL;
}

gboolean
em_rest_auth_check (SoupServerMessage *msg,
                    GHashTable        *query,
                    const char        *token,
                    gboolean           allow_query)
{
  const char *given;
  SoupMessageHeaders *headers;

  if (token == NULL)
    return TRUE;
  given = em_rest_auth_find_token (msg, query, allow_query);
  if (given != NULL && em_rest_auth_equal (given, token))
    return TRUE;

  headers = soup_server_message_get_response_headers (msg);
  if (given == NULL)
    {
      soup_message_headers_replace (headers, "WWW-Authenticate", "Bearer realm=\"engine-manager\"");
      em_problem_respond (msg, 401, NULL,
                          _("Authorization: this service needs a bearer token "
                            "(Authorization: Bearer <token>)"));
    }
  else
    {
      soup_message_headers_replace (headers, "WWW-Authenticate",
                                    "Bearer realm=\"engine-manager\", error=\"invalid_token\"");
      em_problem_respond (msg, 401, NULL, _("Authorization: the bearer token is not valid"));
    }
  return FALSE;
}
