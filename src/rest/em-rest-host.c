#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "rest/em-rest-host.h"

/* nothing, or ":" and the port's digits */
static gboolean
is_port_suffix (const char *text)
{
  if (*text == '\0')
    return TRUE;
  if (*text++ != ':' || *text == '\0')
    return FALSE;
  for (; *text != '\0'; text++)
    if (!g_ascii_isdigit (*text))
      return FALSE;
  return TRUE;
}

gboolean
em_rest_host_is_fixed (const char *host)
{
  g_autofree char *name = NULL;
  const char *end;

  if (host == NULL)
    return FALSE;
  if (*host == '[')
    {
      end = strchr (host, ']');
      if (end == NULL || !is_port_suffix (end + 1))
        return FALSE;
      name = g_strndup (host + 1, end - host - 1);
      return strchr (name, ':') != NULL && g_hostname_is_ip_address (name);
    }

  end = strchr (host, ':');
  if (end == NULL)
    end = host + strlen (host);
  if (!is_port_suffix (end))
    return FALSE;
  name = g_strndup (host, end - host);
  return g_ascii_strcasecmp (name, "localhost") == 0 || g_hostname_is_ip_address (name);
}
