#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <math.h>
#include <string.h>

#include "rest/em-json-reader.h"

/* json-glib's GScanner costs most of a request's parsing; this reader builds the
 * same nodes directly */

typedef struct {
  const char *p;
  const char *end;
  guint       depth;
  guint       max_depth;
  GString    *text;            /* the last string read, unescaped */
} Reader;

static JsonNode *read_value (Reader *r);

int
em_json_hex4 (const char *p)
{
  int value = 0;

  for (int i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (p[i]);

      if (digit < 0)
        return -1;
      value = value * 16 + digit;
    }
  return value;
}

static inline void
skip_space (Reader *r)
{
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
    r->p++;
}

static inline gboolean
take (Reader *r, char c)
{
  skip_space (r);
  if (r->p >= r->end || *r->p != c)
    return FALSE;
  r->p++;
  return TRUE;
}

/* \uXXXX, or a surrogate pair of them, at r->p; NUL and lone surrogates decline */
static gboolean
read_unicode_escape (Reader *r)
{
  int unit = r->p + 6 <= r->end ? em_json_hex4 (r->p + 2) : -1;
  gunichar c;

  if (unit <= 0 || (unit >= 0xdc00 && unit <= 0xdfff))
    return FALSE;
  c = unit;
  r->p += 6;
  if (unit >= 0xd800 && unit <= 0xdbff)
    {
      int low = r->p + 6 <= r->end && r->p[0] == '\\' && r->p[1] == 'u' ? em_json_hex4 (r->p + 2) : -1;

      if (low < 0xdc00 || low > 0xdfff)
        return FALSE;
      r->p += 6;
      c = 0x10000 + (((gunichar) unit - 0xd800) << 10) + ((gunichar) low - 0xdc00);
    }
  g_string_append_unichar (r->text, c);
  return TRUE;
}

/* the string at the opening quote into r->text; the input is already UTF-8 */
static gboolean
read_string (Reader *r)
{
  const char *run = ++r->p;

  g_string_truncate (r->text, 0);
  while (r->p < r->end)
    {
      guchar c = *r->p;
      const char *escaped;

      if (c != '"' && c != '\\' && c >= 0x20)
        {
          r->p++;
          continue;
        }
      g_string_append_len (r->text, run, r->p - run);
      if (c == '"')
        {
          r->p++;
          return TRUE;
        }
      /* raw control characters are not JSON */
      if (c < 0x20 || r->p + 1 >= r->end)
        return FALSE;
      if (r->p[1] == 'u')
        {
          if (!read_unicode_escape (r))
            return FALSE;
        }
      else if (r->p[1] != '\0' && (escaped = strchr ("\"\\/bfnrt", r->p[1])) != NULL)
        {
          g_string_append_c (r->text, "\"\\/\b\f\n\r\t"[escaped - "\"\\/bfnrt"]);
          r->p += 2;
        }
      else
        return FALSE;
      run = r->p;
    }
  return FALSE;
}

static gboolean
read_digits (Reader *r)
{
  const char *start = r->p;

  while (r->p < r->end && g_ascii_isdigit (*r->p))
    r->p++;
  return r->p > start;
}

static JsonNode *
read_number (Reader *r)
{
  const char *start = r->p;
  gboolean negative = *r->p == '-';
  gboolean integer = TRUE;
  guint64 magnitude = 0;
  char buffer[64];
  gsize length;
  char *end = NULL;
  double value;

  if (negative)
    r->p++;
  if (r->p >= r->end || !g_ascii_isdigit (*r->p))
    return NULL;
  /* no leading zeros in JSON */
  if (*r->p == '0' && r->p + 1 < r->end && g_ascii_isdigit (r->p[1]))
    return NULL;
  for (; r->p < r->end && g_ascii_isdigit (*r->p); r->p++)
    {
      guint digit = *r->p - '0';

      /* past 64 bits the guard explains the refusal */
      if (magnitude > (G_MAXUINT64 - digit) / 10)
        return NULL;
      magnitude = magnitude * 10 + digit;
    }
  if (r->p < r->end && *r->p == '.')
    {
      integer = FALSE;
      r->p++;
      if (!read_digits (r))
        return NULL;
    }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E'))
    {
      integer = FALSE;
      r->p++;
      if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
        r->p++;
      if (!read_digits (r))
        return NULL;
    }

  if (integer)
    {
      if (magnitude > (guint64) G_MAXINT64 + (negative ? 1 : 0))
        return NULL;
      return json_node_init_int (json_node_alloc (),
                                 !negative ? (gint64) magnitude :
                                 magnitude == (guint64) G_MAXINT64 + 1 ? G_MININT64 :
                                 -(gint64) magnitude);
    }

  length = r->p - start;
  if (length >= sizeof buffer)
    return NULL;
  memcpy (buffer, start, length);
  buffer[length] = '\0';
  value = g_ascii_strtod (buffer, &end);
  if (end != buffer + length || !isfinite (value))
    return NULL;
  return json_node_init_double (json_node_alloc (), value);
}

static JsonNode *
read_literal (Reader *r, const char *word, gsize length)
{
  JsonNode *node;

  if ((gsize) (r->end - r->p) < length || memcmp (r->p, word, length) != 0)
    return NULL;
  r->p += length;
  node = json_node_alloc ();
  if (word[0] == 'n')
    return json_node_init_null (node);
  return json_node_init_boolean (node, word[0] == 't');
}

static JsonNode *
read_object (Reader *r)
{
  JsonObject *object = json_object_new ();
  JsonNode *node;

  r->p++;
  if (!take (r, '}'))
    {
      do
        {
          g_autofree char *key = NULL;
          JsonNode *member;

          skip_space (r);
          if (r->p >= r->end || *r->p != '"' || !read_string (r))
            goto fail;
          key = g_strndup (r->text->str, r->text->len);
          /* which duplicate json-glib keeps is its own business */
          if (json_object_has_member (object, key) || !take (r, ':'))
            goto fail;
          if ((member = read_value (r)) == NULL)
            goto fail;
          json_object_set_member (object, key, member);
        }
      while (take (r, ','));
      if (!take (r, '}'))
        goto fail;
    }
  node = json_node_init_object (json_node_alloc (), object);
  json_object_unref (object);
  return node;

fail:
  json_object_unref (object);
  return NULL;
}

static JsonNode *
read_array (Reader *r)
{
  JsonArray *array = json_array_new ();
  JsonNode *node;

  r->p++;
  if (!take (r, ']'))
    {
      do
        {
          JsonNode *element = read_value (r);

          if (element == NULL)
            goto fail;
          json_array_add_element (array, element);
        }
      while (take (r, ','));
      if (!take (r, ']'))
        goto fail;
    }
  node = json_node_init_array (json_node_alloc (), array);
  json_array_unref (array);
  return node;

fail:
  json_array_unref (array);
  return NULL;
}

static JsonNode *
read_value (Reader *r)
{
  JsonNode *node = NULL;

  skip_space (r);
  if (r->p >= r->end)
    return NULL;
  switch (*r->p)
    {
    case '{':
    case '[':
      /* the guard's limit: an opening bracket at max_depth is refused */
      if (r->depth >= r->max_depth)
        return NULL;
      r->depth++;
      node = *r->p == '{' ? read_object (r) : read_array (r);
      r->depth--;
      break;
    case '"':
      if (read_string (r))
        node = json_node_init_string (json_node_alloc (), r->text->str);
      break;
    case 't':
      node = read_literal (r, "true", 4);
      break;
    case 'f':
      node = read_literal (r, "false", 5);
      break;
    case 'n':
      node = read_literal (r, "null", 4);
      break;
    default:
      if (*r->p == '-' || g_ascii_isdigit (*r->p))
        node = read_number (r);
      break;
    }
  return node;
}

JsonNode *
em_json_reader_read (const char *data,
                     gsize       length,
                     guint       max_depth)
{
  Reader r = { data, data + length, 0, max_depth, NULL };
  JsonNode *root;

  /* also refuses NUL bytes */
  if (!g_utf8_validate_len (data, length, NULL))
    return NULL;
  r.text = g_string_sized_new (64);
  root = read_value (&r);
  g_string_free (r.text, TRUE);
  if (root == NULL)
    return NULL;
  skip_space (&r);
  if (r.p != r.end)
    {
      json_node_unref (root);
      return NULL;
    }
  json_node_seal (root);
  return root;
}
