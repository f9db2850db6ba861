#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-json-guard.h"
#include "rest/em-json-reader.h"

/* one open object or array, so an error can name where it happened */
typedef struct {
  gboolean    is_object;
  gboolean    expect_key;
  guint       index;
  const char *key;
  gsize       key_length;
} Frame;

typedef struct {
  const char *data;
  gsize       length;
  gsize       pos;
  Frame      *frames;
  guint       depth;
  guint       max_depth;
} Scanner;

static char *
scanner_path (Scanner *s)
{
  GString *path = g_string_new (NULL);

  for (guint i = 0; i < s->depth; i++)
    {
      Frame *f = &s->frames[i];

      if (f->is_object && f->key != NULL)
        {
          const char *end;

          if (path->len > 0)
            g_string_append_c (path, '.');
          /* keys were checked as UTF-8 with the whole body; cap what is echoed,
           * on a character boundary so the message stays UTF-8 */
          g_utf8_validate_len (f->key, MIN (f->key_length, 64), &end);
          g_string_append_len (path, f->key, end - f->key);
        }
      else if (!f->is_object)
        g_string_append_printf (path, "[%u]", f->index);
    }
  if (path->len == 0)
    g_string_append (path, _("body"));
  return g_string_free (path, FALSE);
}

static gboolean
scanner_fail (Scanner    *s,
              GError    **error,
              const char *what)
{
  g_autofree char *path = scanner_path (s);

  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, "%s: %s", path, what);
  return FALSE;
}

/* a string starting at the quote; stops after the closing quote */
static gboolean
scan_string (Scanner     *s,
             const char **out_start,
             gsize       *out_length,
             GError     **error)
{
  gsize start = ++s->pos;

  while (s->pos < s->length)
    {
      char c = s->data[s->pos];

      if (c == '"')
        {
          *out_start = s->data + start;
          *out_length = s->pos - start;
          s->pos++;
          return TRUE;
        }
      if (c != '\\')
        {
          s->pos++;
          continue;
        }
      if (s->pos + 1 < s->length && s->data[s->pos + 1] == 'u')
        {
          int unit = s->pos + 6 <= s->length ? em_json_hex4 (s->data + s->pos + 2) : -1;

          /* json-glib turns these into invalid UTF-8 or truncated strings */
          if (unit == 0)
            return scanner_fail (s, error, _("strings must not contain NUL characters"));
          if (unit >= 0xdc00 && unit <= 0xdfff)
            return scanner_fail (s, error, _("lone UTF-16 surrogate in a string"));
          if (unit >= 0xd800 && unit <= 0xdbff)
            {
              int low = s->pos + 12 <= s->length && s->data[s->pos + 6] == '\\' &&
                        s->data[s->pos + 7] == 'u' ? em_json_hex4 (s->data + s->pos + 8) : -1;

              if (low < 0xdc00 || low > 0xdfff)
                return scanner_fail (s, error, _("lone UTF-16 surrogate in a string"));
              s->pos += 12;
              continue;
            }
          /* json-glib reads a short escape as if zero-padded, e.g. "\ud80" as a
           * lone surrogate, and echoes it, as invalid UTF-8, in its error */
          if (unit < 0)
            return scanner_fail (s, error, _("\\u must be followed by four hexadecimal digits"));
          s->pos += 6;
          continue;
        }
      /* json-glib also takes C escapes such as octal "\222", which make strings
       * that are not UTF-8: only JSON's own escapes pass */
      if (s->pos + 1 < s->length &&
          (s->data[s->pos + 1] == '\0' || strchr ("\"\\/bfnrt", s->data[s->pos + 1]) == NULL))
        return scanner_fail (s, error, _("invalid escape sequence in a string"));
      s->pos += 2;
    }
  /* unterminated: json-glib reports the syntax error */
  *out_start = NULL;
  *out_length = 0;
  return TRUE;
}

static gboolean
scan_number (Scanner  *s,
             GError  **error)
{
  gsize start = s->pos;
  gboolean is_integer = TRUE;
  g_autofree char *text = NULL;

  while (s->pos < s->length && strchr ("0123456789+-.eE", s->data[s->pos]) != NULL)
    {
      if (strchr (".eE", s->data[s->pos]) != NULL)
        is_integer = FALSE;
      s->pos++;
    }
  text = g_strndup (s->data + start, s->pos - start);

  if (is_integer)
    {
      g_autoptr(GError) local_error = NULL;
      gint64 value;

      if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, &local_error) &&
          g_error_matches (local_error, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS))
        return scanner_fail (s, error, _("integer does not fit in 64 bits"));
    }
  else
    {
      char *end = NULL;
      double value = g_ascii_strtod (text, &end);

      if (end != NULL && *end == '\0' && !isfinite (value))
        return scanner_fail (s, error, _("number is too large"));
    }
  return TRUE;
}

static gboolean
scan (Scanner  *s,
      GError  **error)
{
  while (s->pos < s->length)
    {
      char c = s->data[s->pos];
      Frame *top = s->depth > 0 ? &s->frames[s->depth - 1] : NULL;

      switch (c)
        {
        case '{':
        case '[':
          if (s->depth >= s->max_depth)
            {
              g_autofree char *what = g_strdup_printf (_("nested deeper than %u levels"),
                                                       s->max_depth);
              return scanner_fail (s, error, what);
            }
          s->frames[s->depth++] = (Frame) { .is_object = c == '{', .expect_key = c == '{' };
          s->pos++;
          break;

        case '}':
        case ']':
          if (top == NULL)
            return TRUE;
          s->depth--;
          s->pos++;
          break;

        case ',':
          if (top != NULL)
            {
              top->expect_key = top->is_object;
              top->index++;
            }
          s->pos++;
          break;

        case ':':
          if (top != NULL)
            top->expect_key = FALSE;
          s->pos++;
          break;

        case '"':
          {
            const char *start;
            gsize length;

            if (!scan_string (s, &start, &length, error))
              return FALSE;
            if (start == NULL)
              return TRUE;
            if (top != NULL && top->is_object && top->expect_key)
              {
                top->key = start;
                top->key_length = length;
              }
          }
          break;

        case '-':
        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
          if (!scan_number (s, error))
            return FALSE;
          break;

        default:
          s->pos++;
          break;
        }
    }
  return TRUE;
}

gboolean
em_json_guard_check (const char  *data,
                     gsize        length,
                     guint        max_depth,
                     GError     **error)
{
  g_autofree Frame *frames = g_new0 (Frame, max_depth + 1);
  Scanner s = { data, length, 0, frames, 0, max_depth };
  const char *end = NULL;

  if (!g_utf8_validate_len (data, length, &end))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("body: not valid UTF-8 at byte %" G_GSIZE_FORMAT),
                   (gsize) (end - data));
      return FALSE;
    }
  return scan (&s, error);
}

JsonNode *
em_json_guard_parse (const char  *data,
                     gsize        length,
                     guint        max_depth,
                     GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (length == 0)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("body: empty; expected a JSON object"));
      return NULL;
    }
  root = em_json_reader_read (data, length, max_depth);
  if (root != NULL)
    return root;
  /* declined: json-glib behind the guard, which names what is wrong */
  if (!em_json_guard_check (data, length, max_depth, error))
    return NULL;

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize) length, &local_error))
    {
      /* the parser quotes the input back: keep the message valid UTF-8 */
      g_autofree char *detail = g_utf8_make_valid (local_error->message, -1);

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("body: not valid JSON: %s"), detail);
      return NULL;
    }
  if (json_parser_get_root (parser) == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("body: empty; expected a JSON object"));
      return NULL;
    }
  return json_parser_steal_root (parser);
}
