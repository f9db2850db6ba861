#include "config.h"

#include <string.h>

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

static guint
two_digits (const char *p)
{
  return (p[0] - '0') * 10 + (p[1] - '0');
}

/* RFC 3339's date-time (§5.6), whose "T" and "Z" may be lowercase (and the
 * "T" a space, as its note allows). GLib reads all of ISO 8601, which is
 * more: week and ordinal dates, the basic format without separators, an
 * offset of hours only, a decimal comma; and it takes an offset of 24 hours
 * and a second of 61, where RFC 3339 ends at 23 and at 60 (a leap second,
 * which GLib reads as the start of second 59, "…:60.5" as "…:59.5"). */
static gboolean
is_rfc3339 (const char *text)
{
  /* 'd' stands for a digit and 'T' for the separator */
  static const char shape[] = "dddd-dd-ddTdd:dd:dd";
  const char *p = text;

  for (guint i = 0; shape[i] != '\0'; i++, p++)
    {
      gboolean fits;

      if (shape[i] == 'd')
        fits = g_ascii_isdigit (*p);
      else if (shape[i] == 'T')
        fits = *p == 'T' || *p == 't' || *p == ' ';
      else
        fits = *p == shape[i];
      if (!fits)
        return FALSE;
    }
  if (two_digits (text + 17) > 60)
    return FALSE;
  if (*p == '.')
    {
      if (!g_ascii_isdigit (*++p))
        return FALSE;
      while (g_ascii_isdigit (*p))
        p++;
    }
  if (*p == 'Z' || *p == 'z')
    return p[1] == '\0';
  if (*p != '+' && *p != '-')
    return FALSE;
  p++;
  return g_ascii_isdigit (p[0]) && g_ascii_isdigit (p[1]) && p[2] == ':' &&
         g_ascii_isdigit (p[3]) && g_ascii_isdigit (p[4]) && p[5] == '\0' &&
         two_digits (p) <= 23 && two_digits (p + 3) <= 59;
}

/* removes the fraction of a second from @text and returns it in microseconds.
 * GLib reads it through a double, which past six digits sometimes rounds up
 * and sometimes not; a time between two microseconds stands for the later
 * one, so that "at or after" (since, run_at) and "before" (until) hold for
 * the microseconds tasks are stamped with */
static gint64
take_fraction (char *text)
{
  char *dot = strchr (text, '.');
  const char *p;
  gint64 fraction_us = 0;
  gboolean beyond = FALSE;
  guint n = 0;

  if (dot == NULL)
    return 0;
  for (p = dot + 1; g_ascii_isdigit (*p); p++, n++)
    {
      if (n < 6)
        fraction_us = fraction_us * 10 + (*p - '0');
      else if (*p != '0')
        beyond = TRUE;
    }
  for (; n < 6; n++)
    fraction_us *= 10;
  memmove (dot, p, strlen (p) + 1);
  return fraction_us + (beyond ? 1 : 0);
}

GDateTime *
em_time_parse (const char *text)
{
  g_autoptr(GDateTime) time = NULL;
  g_autoptr(GDateTime) utc = NULL;
  g_autofree char *upper = NULL;
  gint64 fraction_us;

  /* no zone is no RFC 3339: a bare local time is ambiguous for a lab record */
  if (text == NULL || !is_rfc3339 (text))
    return NULL;

  /* GLib reads only an uppercase "T" and "Z"; it checks the ranges */
  upper = g_ascii_strup (text, -1);
  fraction_us = take_fraction (upper);
  time = g_date_time_new_from_iso8601 (upper, NULL);
  if (time != NULL && fraction_us > 0)
    {
      GDateTime *exact = g_date_time_add (time, fraction_us);

      g_date_time_unref (time);
      time = exact;
    }
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
