#pragma once

#include <locale.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/**
 * EmRestI18nScope:
 *
 * Switches the calling thread's message language (uselocale(), never
 * setlocale()) to the best language of an Accept-Language header that has a
 * translation, so that _() and g_dgettext() in a request handler answer in the
 * client's language. English ("en") selects the untranslated messages. When no
 * language of the header is available nothing changes and messages stay in the
 * service's own language. A LANGUAGE environment variable, which gettext
 * prefers to any locale, disables the switch. GLib's _() translates only when
 * the service's own locale is C, English or has a translation (GLib decides
 * once per process); em_rest_i18n_translate() always does.
 *
 *   g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
 *
 *   em_rest_i18n_scope_enter_for_message (&scope, msg);
 *   ... _() strings here are in the client's language ...
 */
typedef struct {
  locale_t previous;
  locale_t active;
} EmRestI18nScope;

#define EM_REST_I18N_SCOPE_INIT { (locale_t) 0, (locale_t) 0 }

/* the language ranges of @header, best first (q=0 and malformed ones dropped);
 * "*" is kept */
GStrv    em_rest_i18n_parse_accept_language   (const char        *header);
/* @accept_language: (nullable); returns whether the language changed */
gboolean em_rest_i18n_scope_enter             (EmRestI18nScope   *scope,
                                               const char        *accept_language);
gboolean em_rest_i18n_scope_enter_for_message (EmRestI18nScope   *scope,
                                               SoupServerMessage *msg);
/* restores the thread's previous locale; safe to call on a scope never entered */
void     em_rest_i18n_scope_leave             (EmRestI18nScope   *scope);

/* @msgid translated (gettext domain of the service) into the best language of
 * @msg's Accept-Language; (transfer full) */
char    *em_rest_i18n_translate               (SoupServerMessage *msg,
                                               const char        *msgid);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EmRestI18nScope, em_rest_i18n_scope_leave)

G_END_DECLS
