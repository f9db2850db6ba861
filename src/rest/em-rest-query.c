#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>
#include <libsoup/soup.h>

#include "engine/em-error.h"
#include "engine/em-clip.h"
#include "engine/em-time.h"
#include "rest/em-rest-query.h"

static const char * const filter_names[] = { "status", "action", "since", "until", NULL };
static const char * const paging_names[] = { "limit", "offset", "cursor", NULL };

static gboolean
parse_uint (const char  *name,
            const char  *text,
            guint        minimum,
            guint        maximum,
            guint       *out,
            GError     **error)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, minimum, maximum, &value, NULL))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s: must be an integer from %u to %u"), name, minimum, maximum);
      return FALSE;
    }
  *out = (guint) value;
  return TRUE;
}

/* a cursor is the serial of the last task of a page; clients take it from
 * the Link header rather than make one */
static gboolean
parse_cursor (const char  *text,
              GHashTable  *params,
              guint64     *out,
              GError     **error)
{
  if (g_hash_table_contains (params, "offset"))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("cursor: give either cursor or offset, not both"));
      return FALSE;
    }
  if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT64, out, NULL))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("cursor: not a cursor of this service; take it from the "
                             "Link header of the page before"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_statuses (const char  *text,
                guint       *out,
                GError     **error)
{
  g_auto(GStrv) names = g_strsplit (text, ",", -1);
  guint mask = 0;

  /* no names at all would be no filter: every task */
  if (names[0] == NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("status: empty; use pending, running, completed, failed or "
                             "cancelled, or several separated by commas"));
      return FALSE;
    }
  for (guint i = 0; names[i] != NULL; i++)
    {
      EmTaskStatus status;

      if (!em_task_status_from_string (g_strstrip (names[i]), &status))
        {
          g_autofree char *quoted = em_clip_for_message (names[i]);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("status: unknown status “%s”; use pending, running, "
                         "completed, failed or cancelled, or several separated by commas"),
                       quoted);
          return FALSE;
        }
      mask |= EM_TASK_QUERY_STATUS (status);
    }
  *out = mask;
  return TRUE;
}

static gboolean
parse_time (const char  *name,
            const char  *text,
            GDateTime  **out,
            GError     **error)
{
  *out = em_time_parse (text);
  if (*out == NULL)
    {
      g_autofree char *quoted = em_clip_for_message (text);
      g_autofree char *plus = g_strdelimit (g_strdup (text), " ", '+');
      g_autoptr(GDateTime) with_plus = em_time_parse (plus);

      /* a query reads "+" as a space: the client sent a zone such as
       * +01:00 as it is, and would not recognise the value quoted back */
      if (with_plus != NULL)
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("%s: “%s” has a space where its time zone’s “+” belongs; a “+” "
                       "in a query reads as a space, so send it as %%2B"), name, quoted);
      else
        g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                     _("%s: “%s” is not an RFC 3339 time with a time zone, "
                       "e.g. 2026-01-01T12:00:00Z"), name, quoted);
      return FALSE;
    }
  return TRUE;
}

/* names and values are quoted back in messages, which must stay UTF-8 */
static gboolean
check_utf8 (GHashTable  *params,
            GError     **error)
{
  GHashTableIter iter;
  const char *key;
  const char *value;

  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, (gpointer *) &value))
    {
      if (!g_utf8_validate (key, -1, NULL) || (value != NULL && !g_utf8_validate (value, -1, NULL)))
        {
          g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("query: not valid UTF-8"));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_known (GHashTable        *params,
             EmRestQueryFlags   flags,
             GError           **error)
{
  GHashTableIter iter;
  const char *key;

  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    {
      g_autofree char *quoted = NULL;

      if ((flags & EM_REST_QUERY_FILTERS) && g_strv_contains (filter_names, key))
        continue;
      if ((flags & EM_REST_QUERY_PAGING) && g_strv_contains (paging_names, key))
        continue;
      quoted = em_clip_for_message (key);
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   (flags & EM_REST_QUERY_PAGING) ?
                   _("%s: unknown query parameter; use status, action, since, until, limit, "
                     "offset or cursor") :
                   _("%s: unknown query parameter; use status, action, since or until"),
                   quoted);
      return FALSE;
    }
  return TRUE;
}

gboolean
em_rest_query_parse (GHashTable        *params,
                     EmRestQueryFlags   flags,
                     guint              page_default,
                     guint              page_max,
                     EmTaskQuery       *query,
                     GError           **error)
{
  const char *text;

  em_task_query_init (query);
  query->limit = (flags & EM_REST_QUERY_PAGING) ? page_default : 0;
  if (params == NULL)
    return TRUE;
  if (!check_utf8 (params, error) || !check_known (params, flags, error))
    return FALSE;

  if ((text = g_hash_table_lookup (params, "status")) != NULL &&
      !parse_statuses (text, &query->statuses, error))
    return FALSE;
  if ((text = g_hash_table_lookup (params, "action")) != NULL)
    {
      if (*text == '\0' || !g_utf8_validate (text, -1, NULL))
        {
          g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                               _("action: must be an action name"));
          return FALSE;
        }
      query->action = g_strdup (text);
    }
  if ((text = g_hash_table_lookup (params, "since")) != NULL &&
      !parse_time ("since", text, &query->since, error))
    return FALSE;
  if ((text = g_hash_table_lookup (params, "until")) != NULL &&
      !parse_time ("until", text, &query->until, error))
    return FALSE;
  /* swapped bounds would match nothing, and a DELETE would say it deleted 0 */
  if (query->since != NULL && query->until != NULL &&
      g_date_time_compare (query->until, query->since) < 0)
    {
      /* a time may have any number of digits after its second */
      g_autofree char *until = em_clip_for_message (g_hash_table_lookup (params, "until"));
      g_autofree char *since = em_clip_for_message (g_hash_table_lookup (params, "since"));

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("until: %s is before since (%s); since is the start of the "
                     "window, until its end"),
                   until, since);
      return FALSE;
    }
  if ((text = g_hash_table_lookup (params, "limit")) != NULL &&
      !parse_uint ("limit", text, 1, page_max, &query->limit, error))
    return FALSE;
  if ((text = g_hash_table_lookup (params, "offset")) != NULL &&
      !parse_uint ("offset", text, 0, G_MAXUINT, &query->offset, error))
    return FALSE;
  if ((text = g_hash_table_lookup (params, "cursor")) != NULL &&
      !parse_cursor (text, params, &query->after, error))
    return FALSE;
  return TRUE;
}

GHashTable *
em_rest_query_decode (const char  *encoded,
                      GError     **error)
{
  g_auto(GStrv) pairs = NULL;
  g_autoptr(GHashTable) params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  if (encoded == NULL)
    return g_steal_pointer (&params);
  /* refused whole before decoding: a decoded NUL would end a name or value
   * early and hide what follows it, which may not even be UTF-8 */
  if (!g_utf8_validate (encoded, -1, NULL))
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, _("query: not valid UTF-8"));
      return NULL;
    }
  if (g_strstr_len (encoded, -1, "%00") != NULL)
    {
      g_set_error_literal (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                           _("query: holds a NUL byte once percent-decoded"));
      return NULL;
    }
  /* pair by pair, each decoded as libsoup decodes a query: the whole at once
   * would keep only the last value of a name given twice */
  pairs = g_strsplit (encoded, "&", -1);
  for (guint i = 0; pairs[i] != NULL; i++)
    {
      g_autofree char *valued = NULL;
      g_autoptr(GHashTable) pair = NULL;
      GHashTableIter iter;
      char *key;
      char *value;

      /* nothing between two '&' is no parameter */
      if (*pairs[i] == '\0')
        continue;
      /* a name alone is a name with nothing for its value */
      if (strchr (pairs[i], '=') == NULL)
        valued = g_strconcat (pairs[i], "=", NULL);
      pair = soup_form_decode (valued != NULL ? valued : pairs[i]);
      if (!check_utf8 (pair, error))
        return NULL;
      g_hash_table_iter_init (&iter, pair);
      if (!g_hash_table_iter_next (&iter, (gpointer *) &key, (gpointer *) &value))
        continue;
      if (*key == '\0')
        {
          g_autofree char *quoted = em_clip_for_message (pairs[i]);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("query: “%s” has no parameter name"), quoted);
          return NULL;
        }
      if (g_hash_table_contains (params, key))
        {
          g_autofree char *quoted = em_clip_for_message (key);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: given more than once; give each query parameter once"), quoted);
          return NULL;
        }
      g_hash_table_insert (params, g_strdup (key), g_strdup (value));
    }
  return g_steal_pointer (&params);
}

gboolean
em_rest_query_has_filter (GHashTable *params)
{
  if (params == NULL)
    return FALSE;
  for (guint i = 0; filter_names[i] != NULL; i++)
    if (g_hash_table_contains (params, filter_names[i]))
      return TRUE;
  return FALSE;
}

char *
em_rest_query_next_link (GHashTable *params,
                         guint       limit,
                         guint64     cursor)
{
  GString *link = g_string_new ("</tasks?");

  /* in a fixed order, so the same query always links the same way */
  for (guint i = 0; params != NULL && filter_names[i] != NULL; i++)
    {
      const char *value = g_hash_table_lookup (params, filter_names[i]);

      if (value == NULL)
        continue;
      g_string_append_printf (link, "%s=", filter_names[i]);
      g_string_append_uri_escaped (link, value, NULL, FALSE);
      g_string_append_c (link, '&');
    }
  g_string_append_printf (link, "limit=%u&cursor=%" G_GUINT64_FORMAT ">; rel=\"next\"", limit, cursor);
  return g_string_free (link, FALSE);
}
