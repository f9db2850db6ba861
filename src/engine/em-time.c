#include "config.h"

#include "engine/em-time.h"

/* RFC 3339 in UTC, always with microseconds, so strings sort like the times they name */
char *
em_time_format (GDateTime *time)
{
  g_autoptr(GDateTime) utc = NULL;

  if (time == NULL)
    return NULL;

  utc = g_date_time_to_utc (time);
  g_return_val_if_fail (utc != NULL, NULL);
  /* four-digit years: g_date_time_format's %Y writes year 1 as "1" */
  return g_strdup_printf ("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                          g_date_time_get_year (utc), g_date_time_get_month (utc),
                          g_date_time_get_day_of_month (utc), g_date_time_get_hour (utc),
                          g_date_time_get_minute (utc), g_date_time_get_second (utc),
                          g_date_time_get_microsecond (utc));
}

GDateTime *
em_time_parse (const char *text)
{
  g_autoptr(GDateTime) time = NULL;
  g_autoptr(GDateTime) utc = NULL;

  if (text == NULL)
    return NULL;

  /* no default zone: a bare local time is ambiguous for a lab record, so it fails */
  time = g_date_time_new_from_iso8601 (text, NULL);
  /* at the ends of the calendar a time may have no UTC form (9999-12-31T23:00-05:00);
   * everything is stored and compared in UTC, so such a time is refused */
  utc = time != NULL ? g_date_time_to_utc (time) : NULL;
  if (utc == NULL)
    return NULL;
  return g_steal_pointer (&time);
}

GDateTime *
em_time_now (void)
{
  return g_date_time_new_now_utc ();
}
