#include "config.h"

#include <string.h>

#include "engine/em-error.h"
#include "rest/em-json-guard.h"

typedef struct {
  const char *json;
  const char *error_part;  /* NULL when the text must pass */
} Case;

static void
check_cases (const Case *cases,
             guint       n_cases,
             guint       max_depth)
{
  for (guint i = 0; i < n_cases; i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = em_json_guard_check (cases[i].json, strlen (cases[i].json), max_depth, &error);

      g_test_message ("%s", cases[i].json);
      if (cases[i].error_part == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
          if (strstr (error->message, cases[i].error_part) == NULL)
            g_error ("“%s”: “%s” does not mention “%s”", cases[i].json, error->message,
                     cases[i].error_part);
        }
    }
}

static void
test_numbers (void)
{
  const Case cases[] = {
    { "{\"x\": 9223372036854775807}", NULL },
    { "{\"x\": -9223372036854775808}", NULL },
    { "{\"x\": 9223372036854775808}", "x: integer does not fit in 64 bits" },
    { "{\"x\": -9223372036854775809}", "x: integer" },
    { "{\"a\": {\"b\": [1, 2, 99999999999999999999]}}", "a.b[2]: integer" },
    { "{\"x\": 1e308}", NULL },
    { "{\"x\": -1.5e-320}", NULL },
    { "{\"x\": 1e309}", "x: number is too large" },
    { "{\"x\": -1E999}", "x: number" },
    { "[0.5, 12345678901234567890.0]", NULL },
    { "{\"name\": \"99999999999999999999999\"}", NULL },
  };

  check_cases (cases, G_N_ELEMENTS (cases), 64);
}

static void
test_depth (void)
{
  const Case cases[] = {
    { "[[[[]]]]", NULL },
    { "{\"a\":{\"b\":{\"c\":[]}}}", NULL },
    { "[[[[[]]]]]", "nested deeper than 4 levels" },
    { "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", "a.b.c.d: nested" },
    /* brackets inside strings are text */
    { "{\"s\": \"[[[[[[[[[[{{{{{{{{\"}", NULL },
    { "{\"s\": \"quote \\\" [[[[[[[\"}", NULL },
  };

  check_cases (cases, G_N_ELEMENTS (cases), 4);
}

static void
test_strings (void)
{
  const Case cases[] = {
    { "{\"name\": \"caf\xc3\xa9\"}", NULL },
    { "{\"name\": \"\\ud83d\\ude00\"}", NULL },
    { "{\"name\": \"\\u00e9\"}", NULL },
    { "{\"name\": \"caf\xe9\"}", "UTF-8" },
    { "{\"name\": \"\xed\xa0\x80\"}", "UTF-8" },
    { "{\"name\": \"a\\u0000b\"}", "name: strings must not contain NUL" },
    { "{\"name\": \"\\ud800\"}", "name: lone UTF-16 surrogate" },
    { "{\"name\": \"\\udc00\\ud800\"}", "name: lone" },
    { "{\"name\": \"\\ud800\\u0041\"}", "name: lone" },
  };

  check_cases (cases, G_N_ELEMENTS (cases), 64);
}

static void
test_parse (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GString) deep = g_string_new (NULL);

  node = em_json_guard_parse ("{\"name\":\"x\",\"n\":-42}", 20, 64, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (node), "n"), ==, -42);
  g_clear_pointer (&node, json_node_unref);

  /* what json-glib 1.6 would recurse into until the stack runs out */
  for (guint i = 0; i < 1000000; i++)
    g_string_append_c (deep, '[');
  node = em_json_guard_parse (deep->str, deep->len, 64, &error);
  g_assert_null (node);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  node = em_json_guard_parse ("", 0, 64, &error);
  g_assert_null (node);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  node = em_json_guard_parse ("{\"a\": ", 6, 64, &error);
  g_assert_null (node);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "not valid JSON"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rest/json-guard/numbers", test_numbers);
  g_test_add_func ("/rest/json-guard/depth", test_depth);
  g_test_add_func ("/rest/json-guard/strings", test_strings);
  g_test_add_func ("/rest/json-guard/parse", test_parse);

  return g_test_run ();
}
