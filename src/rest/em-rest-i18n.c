#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <libintl.h>
#include <glib/gi18n.h>

#include "rest/em-rest-i18n.h"

/* more than any client sends; bounds the work a hostile header can cause */
#define MAX_RANGES 16

typedef struct {
  char   *tag;
  gdouble q;
  guint   index;
} Range;

static void
range_clear (gpointer data)
{
  g_free (((Range *) data)->tag);
}

static gint
range_compare (gconstpointer a,
               gconstpointer b)
{
  const Range *ra = a;
  const Range *rb = b;

  if (ra->q != rb->q)
    return ra->q > rb->q ? -1 : 1;
  return ra->index < rb->index ? -1 : (ra->index > rb->index);
}

static gboolean
valid_tag (const char *tag)
{
  if (g_str_equal (tag, "*"))
    return TRUE;
  if (*tag == '\0' || strlen (tag) > 35)
    return FALSE;
  for (const char *p = tag; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return g_ascii_isalpha (*tag);
}

static gboolean
parse_q (const char *params,
         gdouble    *out_q)
{
  g_auto(GStrv) parts = g_strsplit (params, ";", -1);

  *out_q = 1.0;
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *param = g_strstrip (parts[i]);
      char *end = NULL;

      if (!g_str_has_prefix (param, "q=") && !g_str_has_prefix (param, "Q="))
        continue;
      *out_q = g_ascii_strtod (param + 2, &end);
      if (end == param + 2 || *end != '\0' || *out_q < 0.0 || *out_q > 1.0)
        return FALSE;
    }
  return TRUE;
}

GStrv
em_rest_i18n_parse_accept_language (const char *header)
{
  g_autoptr(GArray) ranges = g_array_new (FALSE, TRUE, sizeof (Range));
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) items = NULL;

  g_array_set_clear_func (ranges, range_clear);
  if (header == NULL)
    return g_strv_builder_end (builder);

  items = g_strsplit (header, ",", MAX_RANGES + 1);
  for (guint i = 0; items[i] != NULL && i < MAX_RANGES; i++)
    {
      char *item = g_strstrip (items[i]);
      char *semicolon = strchr (item, ';');
      Range range = { NULL, 1.0, i };

      if (semicolon != NULL)
        {
          *semicolon = '\0';
          if (!parse_q (semicolon + 1, &range.q))
            continue;
        }
      g_strstrip (item);
      if (range.q <= 0.0 || !valid_tag (item))
        continue;
      range.tag = g_strdup (item);
      g_array_append_val (ranges, range);
    }
  g_array_sort (ranges, range_compare);
  for (guint i = 0; i < ranges->len; i++)
    g_strv_builder_add (builder, g_array_index (ranges, Range, i).tag);
  return g_strv_builder_end (builder);
}

/* a locale whose messages are @tag's language, or 0 when the system has none */
static locale_t
messages_locale_for (const char *tag)
{
  g_auto(GStrv) subtags = g_strsplit_set (tag, "-_", 3);
  g_autofree char *lang = g_ascii_strdown (subtags[0], -1);
  g_autofree char *region = subtags[1] != NULL && strlen (subtags[1]) == 2 ?
                            g_ascii_strup (subtags[1], -1) : NULL;
  g_autofree char *own_region = g_ascii_strup (lang, -1);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  if (region != NULL)
    {
      g_ptr_array_add (names, g_strdup_printf ("%s_%s.UTF-8", lang, region));
      g_ptr_array_add (names, g_strdup_printf ("%s_%s", lang, region));
    }
  /* "de" most often exists as de_DE */
  g_ptr_array_add (names, g_strdup_printf ("%s_%s.UTF-8", lang, own_region));
  g_ptr_array_add (names, g_strdup_printf ("%s.UTF-8", lang));
  g_ptr_array_add (names, g_strdup (lang));

  for (guint i = 0; i < names->len; i++)
    {
      locale_t base = duplocale (LC_GLOBAL_LOCALE);
      locale_t result;

      if (base == (locale_t) 0)
        return (locale_t) 0;
      result = newlocale (LC_MESSAGES_MASK, g_ptr_array_index (names, i), base);
      if (result != (locale_t) 0)
        return result;
      freelocale (base);
    }
  return (locale_t) 0;
}

/* messages in the source language: the C locale's */
static locale_t
untranslated_locale (void)
{
  locale_t base = duplocale (LC_GLOBAL_LOCALE);
  locale_t result;

  if (base == (locale_t) 0)
    return (locale_t) 0;
  result = newlocale (LC_MESSAGES_MASK, "C", base);
  if (result == (locale_t) 0)
    freelocale (base);
  return result;
}

/* a catalogue was found when the empty msgid gives its header */
static gboolean
has_catalogue (locale_t locale)
{
  locale_t previous = uselocale (locale);
  gboolean found = *dgettext (GETTEXT_PACKAGE, "") != '\0';

  uselocale (previous);
  return found;
}

gboolean
em_rest_i18n_scope_enter (EmRestI18nScope *scope,
                          const char      *accept_language)
{
  g_auto(GStrv) tags = NULL;

  g_return_val_if_fail (scope != NULL, FALSE);
  g_return_val_if_fail (scope->active == (locale_t) 0, FALSE);

  if (accept_language == NULL || g_getenv ("LANGUAGE") != NULL)
    return FALSE;

  tags = em_rest_i18n_parse_accept_language (accept_language);
  for (guint i = 0; tags[i] != NULL; i++)
    {
      locale_t locale;

      if (g_str_equal (tags[i], "*"))
        return FALSE;
      if (g_ascii_strncasecmp (tags[i], "en", 2) == 0 && (tags[i][2] == '\0' || tags[i][2] == '-'))
        locale = untranslated_locale ();
      else
        {
          locale = messages_locale_for (tags[i]);
          if (locale != (locale_t) 0 && !has_catalogue (locale))
            {
              freelocale (locale);
              locale = (locale_t) 0;
            }
        }
      if (locale == (locale_t) 0)
        continue;

      scope->active = locale;
      scope->previous = uselocale (locale);
      return TRUE;
    }
  return FALSE;
}

gboolean
em_rest_i18n_scope_enter_for_message (EmRestI18nScope   *scope,
                                      SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  return em_rest_i18n_scope_enter (scope,
                                   soup_message_headers_get_list (headers, "Accept-Language"));
}

void
em_rest_i18n_scope_leave (EmRestI18nScope *scope)
{
  if (scope->active == (locale_t) 0)
    return;
  uselocale (scope->previous);
  freelocale (scope->active);
  scope->active = (locale_t) 0;
  scope->previous = (locale_t) 0;
}

char *
em_rest_i18n_translate (SoupServerMessage *msg,
                        const char        *msgid)
{
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

  /* libc's dgettext: g_dgettext() decides once, from the process locale,
   * whether to translate at all */
  em_rest_i18n_scope_enter_for_message (&scope, msg);
  return g_strdup (dgettext (GETTEXT_PACKAGE, msgid));
}
