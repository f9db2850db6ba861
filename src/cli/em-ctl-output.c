#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/em-ctl-output.h"

static gboolean
is_control (gunichar c)
{
  return (c < 0x20 && c != '\n') || (c >= 0x7f && c <= 0x9f);
}

char *
em_ctl_escape_controls (const char *text)
{
  GString *escaped = g_string_sized_new (strlen (text));
  const char *p = text;

  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);
      const char *next;

      /* D-Bus strings are UTF-8; a stray byte is shown, not passed on */
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (escaped, "\\x%02x", (guchar) *p);
          p++;
          continue;
        }
      next = g_utf8_next_char (p);
      if (is_control (c))
        g_string_append_printf (escaped, "\\u%04x", c);
      else
        g_string_append_len (escaped, p, next - p);
      p = next;
    }
  return g_string_free (escaped, FALSE);
}

char *
em_ctl_one_line (const char *text)
{
  GString *line = g_string_new (text);

  g_string_replace (line, "\n", "\\u000a", 0);
  return g_string_free (line, FALSE);
}

void
em_ctl_print_fields (GPtrArray *fields,
                     guint      min_width)
{
  glong width = min_width;

  for (guint i = 0; i + 1 < fields->len; i += 2)
    width = MAX (width, g_utf8_strlen (g_ptr_array_index (fields, i), -1));
  for (guint i = 0; i + 1 < fields->len; i += 2)
    {
      const char *label = g_ptr_array_index (fields, i);
      g_autoptr(GString) line = g_string_new (label);

      for (glong n = g_utf8_strlen (label, -1); n < width; n++)
        g_string_append_c (line, ' ');
      g_print ("%s %s\n", line->str, (const char *) g_ptr_array_index (fields, i + 1));
    }
}

static void
write_escaped (FILE *stream, const char *string)
{
  g_autofree char *escaped = em_ctl_escape_controls (string);
  const char *charset;

  if (g_get_console_charset (&charset))
    fputs (escaped, stream);
  else
    {
      g_autofree char *converted = g_convert_with_fallback (escaped, -1, charset, "UTF-8", "?",
                                                            NULL, NULL, NULL);

      fputs (converted != NULL ? converted : escaped, stream);
    }
  fflush (stream);
}

static void
print_cb (const char *string)
{
  write_escaped (stdout, string);
}

static void
printerr_cb (const char *string)
{
  write_escaped (stderr, string);
}

void
em_ctl_install_safe_output (void)
{
  g_set_print_handler (print_cb);
  g_set_printerr_handler (printerr_cb);
}
