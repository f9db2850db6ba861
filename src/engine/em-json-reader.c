#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-reader.h"

/* json-glib's GScanner costs most of a request's parsing, and reads more than
 * JSON (hexadecimal and octal numbers that wrap, single quotes, comments, C
 * escapes); this reader builds the same nodes directly and takes JSON only */

/* keys are echoed in messages up to this many bytes */
#define PATH_KEY_MAX 64

typedef struct {
  const char *start;
  const char *p;
  const char *end;
  guint       depth;
  guint       max_depth;
  GString    *text;            /* the last string read, unescaped */

  /* the first refusal: what, where, and the members and elements it is in,
   * outermost first, prepended as the reader unwinds */
  char       *what;
  gsize       offset;
  gboolean    syntax;
  GSList     *path;
} Reader;

static JsonNode *read_value (Reader *r);

/* records the first refusal; a syntax error is reported with its byte offset */
static void
fail (Reader     *r,
      gboolean    syntax,
      const char *what)
{
  if (r->what != NULL)
    return;
  r->what = g_strdup (what);
  r->offset = r->p - r->start;
  r->syntax = syntax;
}

static void
fail_syntax (Reader     *r,
             const char *what)
{
  fail (r, TRUE, r->p >= r->end ? _("the body ends before the JSON value does") : what);
}

/* on the way out of a failed member or element: where it was */
static void
path_prepend_key (Reader     *r,
                  const char *key,
                  gsize       length)
{
  const char *end;

  /* the key is UTF-8; cap what is echoed on a character boundary */
  g_utf8_validate_len (key, MIN (length, PATH_KEY_MAX), &end);
  r->path = g_slist_prepend (r->path, g_strndup (key, end - key));
}

static void
path_prepend_index (Reader *r,
                    guint   index)
{
  r->path = g_slist_prepend (r->path, g_strdup_printf ("[%u]", index));
}

static int
hex4 (const char *p)
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

/* \uXXXX, or a surrogate pair of them, at r->p */
static gboolean
read_unicode_escape (Reader *r)
{
  int unit = r->p + 6 <= r->end ? hex4 (r->p + 2) : -1;
  gunichar c;

  if (unit < 0)
    {
      fail (r, FALSE, _("\\u must be followed by four hexadecimal digits"));
      return FALSE;
    }
  /* a NUL would cut the string short wherever it is used as C text */
  if (unit == 0)
    {
      fail (r, FALSE, _("strings must not contain NUL characters"));
      return FALSE;
    }
  if (unit >= 0xdc00 && unit <= 0xdfff)
    {
      fail (r, FALSE, _("lone UTF-16 surrogate in a string"));
      return FALSE;
    }
  c = unit;
  if (unit >= 0xd800 && unit <= 0xdbff)
    {
      const char *low_at = r->p + 6;
      int low = low_at + 6 <= r->end && low_at[0] == '\\' && low_at[1] == 'u' ?
                hex4 (low_at + 2) : -1;

      if (low < 0xdc00 || low > 0xdfff)
        {
          fail (r, FALSE, _("lone UTF-16 surrogate in a string"));
          return FALSE;
        }
      r->p += 6;
      c = 0x10000 + (((gunichar) unit - 0xd800) << 10) + ((gunichar) low - 0xdc00);
    }
  r->p += 6;
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
      if (c < 0x20)
        {
          fail_syntax (r, _("control characters in a string must be escaped, e.g. as \\n or \\t"));
          return FALSE;
        }
      if (r->p + 1 >= r->end)
        break;
      /* JSON's own escapes only: json-glib would take C escapes such as
       * octal "\222", which make strings that are not UTF-8 */
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
        {
          fail (r, FALSE, _("invalid escape sequence in a string"));
          return FALSE;
        }
      run = r->p;
    }
  r->p = r->end;
  fail_syntax (r, NULL);
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

/* JSON's grammar for a number, from r->p; leaves r->p after it or where it
 * goes wrong */
static gboolean
scan_number (Reader   *r,
             gboolean *out_integer)
{
  *out_integer = TRUE;
  if (r->p < r->end && *r->p == '-')
    r->p++;
  if (r->p >= r->end || !g_ascii_isdigit (*r->p))
    return FALSE;
  /* no leading zeros: 010 is not octal here */
  if (*r->p == '0' && r->p + 1 < r->end && g_ascii_isdigit (r->p[1]))
    return FALSE;
  read_digits (r);
  if (r->p < r->end && *r->p == '.')
    {
      *out_integer = FALSE;
      r->p++;
      if (!read_digits (r))
        return FALSE;
    }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E'))
    {
      *out_integer = FALSE;
      r->p++;
      if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
        r->p++;
      if (!read_digits (r))
        return FALSE;
    }
  /* what json-glib would read on with: 0x10, 1.5.2, 12abc */
  return r->p >= r->end || !(g_ascii_isalnum (*r->p) || *r->p == '.' || *r->p == '_');
}

static JsonNode *
read_integer (Reader     *r,
              const char *start)
{
  gboolean negative = *start == '-';
  guint64 magnitude = 0;

  for (const char *p = start + negative; p < r->p; p++)
    {
      guint digit = *p - '0';

      if (magnitude > (G_MAXUINT64 - digit) / 10)
        {
          fail (r, FALSE, _("integer does not fit in 64 bits"));
          return NULL;
        }
      magnitude = magnitude * 10 + digit;
    }
  if (magnitude > (guint64) G_MAXINT64 + (negative ? 1 : 0))
    {
      fail (r, FALSE, _("integer does not fit in 64 bits"));
      return NULL;
    }
  return json_node_init_int (json_node_alloc (),
                             !negative ? (gint64) magnitude :
                             magnitude == (guint64) G_MAXINT64 + 1 ? G_MININT64 :
                             -(gint64) magnitude);
}

static JsonNode *
read_double (Reader     *r,
             const char *start)
{
  gsize length = r->p - start;
  char buffer[64];
  g_autofree char *long_text = NULL;
  const char *text = buffer;
  char *end = NULL;
  double value;

  /* most numbers fit the buffer; a long one is still a number */
  if (length < sizeof buffer)
    {
      memcpy (buffer, start, length);
      buffer[length] = '\0';
    }
  else
    text = long_text = g_strndup (start, length);
  /* the grammar was checked, so strtod reads it all */
  value = g_ascii_strtod (text, &end);
  if (!isfinite (value) || end != text + length)
    {
      fail (r, FALSE, _("number is too large"));
      return NULL;
    }
  return json_node_init_double (json_node_alloc (), value);
}

static JsonNode *
read_number (Reader *r)
{
  const char *start = r->p;
  gboolean integer;

  if (!scan_number (r, &integer))
    {
      fail_syntax (r, _("invalid number; JSON numbers are decimal, with no leading zeros, "
                        "e.g. 12, -0.5 or 1e3"));
      return NULL;
    }
  return integer ? read_integer (r, start) : read_double (r, start);
}

static JsonNode *
read_literal (Reader *r, const char *word, gsize length)
{
  JsonNode *node;

  if ((gsize) (r->end - r->p) < length || memcmp (r->p, word, length) != 0)
    {
      fail_syntax (r, _("expected a value: an object, array, string, number, true, false or null"));
      return NULL;
    }
  r->p += length;
  node = json_node_alloc ();
  if (word[0] == 'n')
    return json_node_init_null (node);
  return json_node_init_boolean (node, word[0] == 't');
}

static JsonNode *
read_object (Reader *r)
{
  g_autoptr(JsonObject) object = json_object_new ();

  r->p++;
  if (take (r, '}'))
    return json_node_init_object (json_node_alloc (), object);
  do
    {
      g_autofree char *key = NULL;
      gsize key_length;
      JsonNode *member;

      skip_space (r);
      if (r->p >= r->end || *r->p != '"')
        {
          fail_syntax (r, _("expected a member name in double quotes"));
          return NULL;
        }
      if (!read_string (r))
        return NULL;
      key_length = r->text->len;
      key = g_strndup (r->text->str, key_length);
      /* json-glib would keep one of them without a word */
      if (json_object_has_member (object, key))
        fail (r, FALSE, _("member name appears more than once"));
      else if (!take (r, ':'))
        fail_syntax (r, _("expected “:” after the member name"));
      else if ((member = read_value (r)) != NULL)
        {
          json_object_set_member (object, key, member);
          continue;
        }
      path_prepend_key (r, key, key_length);
      return NULL;
    }
  while (take (r, ','));
  if (!take (r, '}'))
    {
      fail_syntax (r, _("expected “,” or “}” after a member"));
      return NULL;
    }
  return json_node_init_object (json_node_alloc (), object);
}

static JsonNode *
read_array (Reader *r)
{
  g_autoptr(JsonArray) array = json_array_new ();
  guint index = 0;

  r->p++;
  if (take (r, ']'))
    return json_node_init_array (json_node_alloc (), array);
  do
    {
      JsonNode *element = read_value (r);

      if (element == NULL)
        {
          path_prepend_index (r, index);
          return NULL;
        }
      json_array_add_element (array, element);
      index++;
    }
  while (take (r, ','));
  if (!take (r, ']'))
    {
      fail_syntax (r, _("expected “,” or “]” after an element"));
      return NULL;
    }
  return json_node_init_array (json_node_alloc (), array);
}

static JsonNode *
read_value (Reader *r)
{
  JsonNode *node = NULL;

  skip_space (r);
  if (r->p >= r->end)
    {
      fail_syntax (r, NULL);
      return NULL;
    }
  switch (*r->p)
    {
    case '{':
    case '[':
      /* an opening bracket at max_depth is refused */
      if (r->depth >= r->max_depth)
        {
          g_autofree char *what = g_strdup_printf (_("nested deeper than %u levels"), r->max_depth);

          fail (r, FALSE, what);
          return NULL;
        }
      r->depth++;
      node = *r->p == '{' ? read_object (r) : read_array (r);
      r->depth--;
      return node;
    case '"':
      if (!read_string (r))
        return NULL;
      return json_node_init_string (json_node_alloc (), r->text->str);
    case 't':
      return read_literal (r, "true", 4);
    case 'f':
      return read_literal (r, "false", 5);
    case 'n':
      return read_literal (r, "null", 4);
    case '\'':
      fail_syntax (r, _("strings must be in double quotes"));
      return NULL;
    case '/':
      fail_syntax (r, _("comments are not allowed in JSON"));
      return NULL;
    case '-': case '+': case '.':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
      /* "+1" and ".5" too, to say what is wrong with them */
      return read_number (r);
    default:
      fail_syntax (r, _("expected a value: an object, array, string, number, true, false or null"));
      return NULL;
    }
}

static void
set_error (Reader  *r,
           GError **error)
{
  g_autoptr(GString) path = g_string_new (NULL);
  g_autofree char *what = NULL;

  for (GSList *link = r->path; link != NULL; link = link->next)
    {
      const char *part = link->data;

      if (part[0] != '[' && path->len > 0)
        g_string_append_c (path, '.');
      g_string_append (path, part);
    }
  if (path->len == 0)
    g_string_append (path, _("body"));
  /* a syntax error may be anywhere in a member; the offset says where */
  if (r->syntax)
    what = g_strdup_printf (_("not valid JSON at byte %lu: %s"), (gulong) r->offset,
                            r->what != NULL ? r->what : "");
  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, "%s: %s", path->str,
               what != NULL ? what : r->what);
}

JsonNode *
em_json_reader_read (const char  *data,
                     gsize        length,
                     guint        max_depth,
                     GError     **error)
{
  Reader r = { data, data, data + length, 0, max_depth, NULL, NULL, 0, FALSE, NULL };
  const char *invalid = NULL;
  JsonNode *root;

  /* also refuses NUL bytes */
  if (!g_utf8_validate_len (data, length, &invalid))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("body: not valid UTF-8 at byte %lu"), (gulong) (invalid - data));
      return NULL;
    }
  r.text = g_string_sized_new (64);
  root = read_value (&r);
  g_string_free (r.text, TRUE);
  if (root != NULL)
    {
      skip_space (&r);
      if (r.p != r.end)
        {
          fail_syntax (&r, _("unexpected text after the JSON value"));
          g_clear_pointer (&root, json_node_unref);
        }
    }
  if (root == NULL)
    {
      set_error (&r, error);
      g_free (r.what);
      g_slist_free_full (r.path, g_free);
      return NULL;
    }
  json_node_seal (root);
  return root;
}
