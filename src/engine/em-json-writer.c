#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <string.h>

#include "engine/em-json-writer.h"

void
em_json_write_string (GString *out, const char *text)
{
  if (text == NULL)
    {
      g_string_append (out, "null");
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = *p;

      if (c == '"' || c == '\\')
        {
          g_string_append_c (out, '\\');
          g_string_append_c (out, c);
        }
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c == '\b')
        g_string_append (out, "\\b");
      else if (c == '\f')
        g_string_append (out, "\\f");
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, c);
    }
  g_string_append_c (out, '"');
}

void
em_json_write_key (GString *out, const char *key)
{
  if (out->len > 1)
    g_string_append_c (out, ',');
  em_json_write_string (out, key);
  g_string_append_c (out, ':');
}

void
em_json_write_double (GString *out, gdouble value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  const char *text = g_ascii_dtostr (buffer, sizeof buffer, value);

  g_string_append (out, text);
  /* a double stays a double when read back, as json-glib writes it */
  if (strpbrk (text, ".eEnN") == NULL)
    g_string_append (out, ".0");
}

static char *
put_digits (char *p, guint value, guint width)
{
  for (guint i = width; i > 0; i--)
    {
      p[i - 1] = '0' + value % 10;
      value /= 10;
    }
  return p + width;
}

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" and a nul into @buffer, without printf */
static void
format_time (char buffer[28], GDateTime *time)
{
  g_autoptr(GDateTime) utc = g_date_time_to_utc (time);
  gint year, month, day;
  char *p = buffer;

  g_date_time_get_ymd (utc, &year, &month, &day);
  p = put_digits (p, year, 4);
  *p++ = '-';
  p = put_digits (p, month, 2);
  *p++ = '-';
  p = put_digits (p, day, 2);
  *p++ = 'T';
  p = put_digits (p, g_date_time_get_hour (utc), 2);
  *p++ = ':';
  p = put_digits (p, g_date_time_get_minute (utc), 2);
  *p++ = ':';
  p = put_digits (p, g_date_time_get_second (utc), 2);
  *p++ = '.';
  p = put_digits (p, g_date_time_get_microsecond (utc), 6);
  *p++ = 'Z';
  *p = '\0';
}

void
em_json_write_time (GString *out, GDateTime *time)
{
  char buffer[28];

  if (time == NULL)
    {
      g_string_append (out, "null");
      return;
    }
  /* em_time_format()'s form */
  format_time (buffer, time);
  g_string_append_c (out, '"');
  g_string_append_len (out, buffer, 27);
  g_string_append_c (out, '"');
}

char *
em_json_format_time (GDateTime *time)
{
  char buffer[28];

  if (time == NULL)
    return NULL;
  format_time (buffer, time);
  return g_strdup (buffer);
}

void
em_json_write_object (GString *out, JsonObject *object)
{
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;

  if (object == NULL)
    {
      g_string_append (out, "null");
      return;
    }
  node = json_node_init_object (json_node_alloc (), object);
  text = json_to_string (node, FALSE);
  g_string_append (out, text);
}

void
em_json_write_strv (GString *out, char **strv)
{
  g_string_append_c (out, '[');
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      em_json_write_string (out, strv[i]);
    }
  g_string_append_c (out, ']');
}
