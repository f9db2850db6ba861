#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "engine/em-error.h"
#include "rest/em-problem.h"
#include "rest/em-rest-auth.h"

static char *
read_all (int      fd,
          GError **error)
{
  g_autoptr(GString) contents = g_string_new (NULL);
  char buffer[4096];

  for (;;)
    {
      gssize n = read (fd, buffer, sizeof buffer);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          g_set_error_literal (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                               g_strerror (saved_errno));
          return NULL;
        }
      if (n == 0)
        return g_string_free (g_steal_pointer (&contents), FALSE);
      g_string_append_len (contents, buffer, n);
    }
}

/* opened once and checked through that descriptor: a path checked and then
 * opened again could be swapped in between */
char *
em_rest_auth_read_token_file (const char  *path,
                              GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *contents = NULL;
  struct stat info;
  char *newline;
  int fd;

  /* startup only, before the loop serves anyone */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ELOOP)
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("The token file “%s” is a symbolic link; give the path of the "
                       "file itself"), path);
      else
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("Cannot read the token file “%s”: %s"), path, g_strerror (saved_errno));
      return NULL;
    }
  if (fstat (fd, &info) != 0)
    {
      int saved_errno = errno;

      g_close (fd, NULL);
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("Cannot read the token file “%s”: %s"), path, g_strerror (saved_errno));
      return NULL;
    }
  /* a FIFO or a device would hold startup, or hand out something else */
  if (!S_ISREG (info.st_mode))
    {
      g_close (fd, NULL);
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("The token file “%s” is not a regular file"), path);
      return NULL;
    }
  /* another user could rewrite it, or loosen its mode later; root's files
   * are as trusted as the system itself */
  if (info.st_uid != geteuid () && info.st_uid != 0)
    {
      g_close (fd, NULL);
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("The token file “%s” belongs to another user (uid %u); it must be "
                     "the service's user's or root's"), path, (guint) info.st_uid);
      return NULL;
    }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
      g_close (fd, NULL);
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("The token file “%s” is readable by other users; make it "
                     "private with chmod 600"), path);
      return NULL;
    }
  contents = read_all (fd, &local_error);
  g_close (fd, NULL);
  if (contents == NULL)
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
