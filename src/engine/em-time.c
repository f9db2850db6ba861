#include "config.h"

#include "engine/em-time.h"

/* RFC 3339 in UTC, always with microseconds, so strings sort like the times they name */
char *
em_time_format (GDateTime *time)
{
  g_autoptr(GDateTime) utc = NULL;
  g_autofree char *base = NULL;

  if (time == NULL)
    return NULL;

  utc = g_date_time_to_utc (time);
  base = g_date_time_format (utc, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%06dZ", base, g_date_time_get_microsecond (utc));
}

GDateTime *
em_time_parse (const char *text)
{
  if (text == NULL)
    return NULL;

  /* no default zone: a bare local time is ambiguous for a lab record, so it fails */
  return g_date_time_new_from_iso8601 (text, NULL);
}

GDateTime *
em_time_now (void)
{
  return g_date_time_new_now_utc ();
}
