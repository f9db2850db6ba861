#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/em-json-writer.h"

/* g_string_append_len() without its general checks (overlap, position): most
 * appends here are a few bytes into a buffer already large enough */
static inline void
put (GString *out, const char *data, gsize length)
{
  if (G_LIKELY (out->len + length < out->allocated_len))
    {
      memcpy (out->str + out->len, data, length);
      out->len += length;
      out->str[out->len] = '\0';
    }
  else
    g_string_append_len (out, data, length);
}

/* what needs an escape: quote, backslash and the C0 controls */
static inline gboolean
needs_escape (guchar c)
{
  return c < 0x20 || c == '"' || c == '\\';
}

void
em_json_write_string (GString *out, const char *text)
{
  const char *run;
  const char *p;

  if (text == NULL)
    {
      put (out, "null", 4);
      return;
    }
  g_string_append_c (out, '"');
  run = text;
  for (p = text; *p != '\0'; p++)
    {
      guchar c = *p;

      if (!needs_escape (c))
        continue;
      /* plain text goes in runs, not a character at a time */
      put (out, run, p - run);
      run = p + 1;
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
      else
        g_string_append_printf (out, "\\u%04x", c);
    }
  put (out, run, p - run);
  g_string_append_c (out, '"');
}

void
em_json_write_key (GString *out, const char *key)
{
  char buffer[64];
  gsize length = strlen (key);
  char *p = buffer;

  /* keys are the engine's own ASCII names: `,"key":` goes in with one append */
  if (G_UNLIKELY (length > sizeof buffer - 4))
    {
      if (out->len > 1)
        g_string_append_c (out, ',');
      em_json_write_string (out, key);
      g_string_append_c (out, ':');
      return;
    }
  if (out->len > 1)
    *p++ = ',';
  *p++ = '"';
  memcpy (p, key, length);
  p += length;
  *p++ = '"';
  *p++ = ':';
  put (out, buffer, p - buffer);
}

/* decimal digits of @value, ending at @end; returns where they start */
static char *
put_unsigned (char *end, guint64 value)
{
  do
    {
      *--end = '0' + value % 10;
      value /= 10;
    }
  while (value != 0);
  return end;
}

void
em_json_write_uint64 (GString *out, guint64 value)
{
  char buffer[24];
  char *start = put_unsigned (buffer + sizeof buffer, value);

  put (out, start, buffer + sizeof buffer - start);
}

void
em_json_write_int64 (GString *out, gint64 value)
{
  char buffer[24];
  /* the magnitude as unsigned, so G_MININT64 needs no special case */
  char *start = put_unsigned (buffer + sizeof buffer,
                              value < 0 ? -(guint64) value : (guint64) value);

  if (value < 0)
    *--start = '-';
  put (out, start, buffer + sizeof buffer - start);
}

const char *
em_json_format_double (char buffer[G_ASCII_DTOSTR_BUF_SIZE], gdouble value)
{
  /* the fewest digits that read back as the same double, as most JSON writers
   * do: 0.3 rather than g_ascii_dtostr()'s 0.29999999999999999 */
  const char *text = g_ascii_formatd (buffer, G_ASCII_DTOSTR_BUF_SIZE, "%.15g", value);

  if (g_ascii_strtod (text, NULL) != value)
    text = g_ascii_formatd (buffer, G_ASCII_DTOSTR_BUF_SIZE, "%.16g", value);
  if (g_ascii_strtod (text, NULL) != value)
    text = g_ascii_dtostr (buffer, G_ASCII_DTOSTR_BUF_SIZE, value);
  return text;
}

void
em_json_write_double (GString *out, gdouble value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  const char *text;

  /* JSON has no infinity and no NaN: bare inf or nan would make the whole
   * document unreadable, so they are written as JSON.stringify() does */
  if (!isfinite (value))
    {
      put (out, "null", 4);
      return;
    }
  /* whole numbers (progress 0 and 1, most delays) skip the shortest-form search */
  if (value >= -1e9 && value <= 1e9 && value == floor (value) && !(value == 0 && signbit (value)))
    {
      em_json_write_int64 (out, (gint64) value);
      put (out, ".0", 2);
      return;
    }
  text = em_json_format_double (buffer, value);
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

/* the proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
 * civil_from_days): no GDateTime is made for the UTC form */
static void
civil_from_days (gint64 days, gint *year, gint *month, gint *day)
{
  gint64 z = days + 719468;
  gint64 era = (z >= 0 ? z : z - 146096) / 146097;
  gint64 doe = z - era * 146097;
  gint64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  gint64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  gint64 mp = (5 * doy + 2) / 153;

  *day = (gint) (doy - (153 * mp + 2) / 5 + 1);
  *month = (gint) (mp < 10 ? mp + 3 : mp - 9);
  *year = (gint) (yoe + era * 400 + (*month <= 2));
}

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" and a nul into @buffer, without printf */
static void
format_time_us (char buffer[28], gint64 time_us)
{
  gint64 unix_seconds = time_us / G_USEC_PER_SEC;
  gint64 microsecond = time_us % G_USEC_PER_SEC;
  gint64 days, second_of_day;
  gint year, month, day;
  char *p = buffer;

  if (microsecond < 0)
    {
      microsecond += G_USEC_PER_SEC;
      unix_seconds--;
    }
  days = unix_seconds / 86400;
  second_of_day = unix_seconds % 86400;
  if (second_of_day < 0)
    {
      second_of_day += 86400;
      days--;
    }
  civil_from_days (days, &year, &month, &day);
  p = put_digits (p, year, 4);
  *p++ = '-';
  p = put_digits (p, month, 2);
  *p++ = '-';
  p = put_digits (p, day, 2);
  *p++ = 'T';
  p = put_digits (p, second_of_day / 3600, 2);
  *p++ = ':';
  p = put_digits (p, second_of_day / 60 % 60, 2);
  *p++ = ':';
  p = put_digits (p, second_of_day % 60, 2);
  *p++ = '.';
  p = put_digits (p, microsecond, 6);
  *p++ = 'Z';
  *p = '\0';
}

static void
format_time (char buffer[28], GDateTime *time)
{
  format_time_us (buffer, g_date_time_to_unix (time) * G_USEC_PER_SEC +
                          g_date_time_get_microsecond (time));
}

void
em_json_write_time_us (GString *out, gint64 time_us)
{
  char buffer[29 + 1];

  /* em_time_format()'s form */
  buffer[0] = '"';
  format_time_us (buffer + 1, time_us);
  buffer[28] = '"';
  put (out, buffer, 29);
}

void
em_json_write_time (GString *out, GDateTime *time)
{
  if (time == NULL)
    {
      put (out, "null", 4);
      return;
    }
  em_json_write_time_us (out, g_date_time_to_unix (time) * G_USEC_PER_SEC +
                              g_date_time_get_microsecond (time));
}

void
em_json_format_time_into (GDateTime *time, char buffer[EM_JSON_TIME_SIZE])
{
  format_time (buffer, time);
}

void
em_json_format_time_us_into (gint64 time_us, char buffer[EM_JSON_TIME_SIZE])
{
  format_time_us (buffer, time_us);
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

static void write_node (GString *out, JsonNode *node, gint depth);

/* @depth < 0: the compact form; otherwise a new line indented for @depth */
static void
break_line (GString *out, gint depth)
{
  if (depth < 0)
    return;
  g_string_append_c (out, '\n');
  for (gint i = 0; i < depth; i++)
    put (out, "  ", 2);
}

static gint
inner (gint depth)
{
  return depth < 0 ? depth : depth + 1;
}

static void
write_members (GString *out, JsonObject *object, gint depth)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;
  gboolean first = TRUE;

  g_string_append_c (out, '{');
  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
      break_line (out, inner (depth));
      em_json_write_string (out, name);
      if (depth < 0)
        g_string_append_c (out, ':');
      else
        put (out, " : ", 3);
      write_node (out, member, inner (depth));
    }
  if (!first)
    break_line (out, depth);
  g_string_append_c (out, '}');
}

static void
write_elements (GString *out, JsonArray *array, gint depth)
{
  guint length = array != NULL ? json_array_get_length (array) : 0;

  g_string_append_c (out, '[');
  for (guint i = 0; i < length; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      break_line (out, inner (depth));
      write_node (out, json_array_get_element (array, i), inner (depth));
    }
  if (length > 0)
    break_line (out, depth);
  g_string_append_c (out, ']');
}

static void
write_node (GString *out, JsonNode *node, gint depth)
{
  switch (node != NULL ? JSON_NODE_TYPE (node) : JSON_NODE_NULL)
    {
    case JSON_NODE_OBJECT:
      if (json_node_get_object (node) == NULL)
        put (out, "null", 4);
      else
        write_members (out, json_node_get_object (node), depth);
      break;
    case JSON_NODE_ARRAY:
      write_elements (out, json_node_get_array (node), depth);
      break;
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_INT64:
          em_json_write_int64 (out, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          em_json_write_double (out, json_node_get_double (node));
          break;
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_STRING:
          em_json_write_string (out, json_node_get_string (node));
          break;
        default:
          put (out, "null", 4);
        }
      break;
    case JSON_NODE_NULL:
    default:
      put (out, "null", 4);
    }
}

/* the generator's compact form, without building a generator per call */
void
em_json_write_object (GString *out, JsonObject *object)
{
  if (object == NULL)
    put (out, "null", 4);
  else
    write_members (out, object, -1);
}

void
em_json_write_node (GString *out, JsonNode *node)
{
  write_node (out, node, -1);
}

/* for people: the generator's pretty layout, two spaces a level, with the
 * same numbers as the compact form */
void
em_json_write_node_pretty (GString *out, JsonNode *node)
{
  write_node (out, node, 0);
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

/* less is left: cutting it would cost a realloc() per small text */
#define TEXT_SLACK_MAX 4096

char *
em_json_text_free (GString *out, gsize *length)
{
  gsize used = out->len + 1, allocated = out->allocated_len;
  char *text;

  *length = out->len;
  text = g_string_free (out, FALSE);
  /* in place: the end of the block goes back to malloc, nothing is copied */
  if (allocated - used >= TEXT_SLACK_MAX)
    text = g_realloc (text, used);
  return text;
}

GBytes *
em_json_text_free_to_bytes (GString *out)
{
  gsize length;
  char *text = em_json_text_free (out, &length);

  return g_bytes_new_take (text, length);
}
