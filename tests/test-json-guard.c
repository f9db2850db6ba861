#include "config.h"

#include <string.h>

#include "engine/em-error.h"
#include "rest/em-json-guard.h"
#include "rest/em-json-reader.h"

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

/* json-glib's own tree for @json, as text */
static char *
json_glib_text (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return json_to_string (json_parser_get_root (parser), FALSE);
}

static void
test_reader_agrees (void)
{
  const char *cases[] = {
    "{\"name\": \"bench\", \"action\": \"wait\", \"parameters\": {\"duration\": 0}}",
    " {\"a\":[1,-2,3.5,-0.25e-3,1E+2,0,-0,-0.0,true,false,null,\"\",[],{}]}\r\n\t",
    "{\"x\": 9223372036854775807, \"y\": -9223372036854775808}",
    "{\"x\": 1e308, \"y\": -1.5e-320, \"z\": 123456789.123456789}",
    "{\"s\": \"quote \\\" back \\\\ slash \\/ \\b\\f\\n\\r\\t end\"}",
    "{\"s\": \"caf\xc3\xa9 \\u00e9 \\u20AC \\ud83d\\ude00\"}",
    "{\"\\u006bey\": {\"nested\": {\"deeper\": [[[\"x\"]]]}}}",
    "[1, \"two\", {\"three\": 3}]",
    "\"just a string\"",
    "42",
    "{\"order\": 1, \"of\": 2, \"members\": 3, \"kept\": 4}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonNode) node = em_json_reader_read (cases[i], strlen (cases[i]), 64);
      g_autofree char *ours = NULL;
      g_autofree char *theirs = json_glib_text (cases[i]);

      g_test_message ("%s", cases[i]);
      g_assert_nonnull (node);
      g_assert_true (json_node_is_immutable (node));
      ours = json_to_string (node, FALSE);
      g_assert_cmpstr (ours, ==, theirs);
    }
}

static void
test_reader_declines (void)
{
  /* each is left to the guard and json-glib, which explain or accept it */
  const char *cases[] = {
    "", "   ", "{", "{\"a\": }", "{\"a\" 1}", "{\"a\": 1,}", "[1,]", "[1 2]", "{} x",
    "{'a': 1}", "{a: 1}", "tru", "nul", "-", "01", "-01", "1.", ".5", "1e", "1e+", "+1",
    "{\"x\": 9223372036854775808}", "{\"x\": -9223372036854775809}", "{\"x\": 1e309}",
    "[12345678901234567890123.5]",
    "[[[[[]]]]]",
    "{\"s\": \"a\\u0000b\"}", "{\"s\": \"\\ud800\"}", "{\"s\": \"\\udc00\"}",
    "{\"s\": \"\\ud800\\u0041\"}", "{\"s\": \"\\u12\"}", "{\"s\": \"\\222\"}",
    "{\"s\": \"\\x41\"}", "{\"s\": \"raw\ttab\"}", "{\"s\": \"unterminated}",
    "{\"s\": \"caf\xe9\"}", "{\"a\": 1, \"a\": 2}", "/* comment */ {}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonNode) node = em_json_reader_read (cases[i], strlen (cases[i]), 4);

      g_test_message ("%s", cases[i]);
      g_assert_null (node);
    }
  /* a NUL byte inside the length */
  g_assert_null (em_json_reader_read ("{\"s\": \"a\0b\"}", 12, 4));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rest/json-guard/numbers", test_numbers);
  g_test_add_func ("/rest/json-guard/depth", test_depth);
  g_test_add_func ("/rest/json-guard/strings", test_strings);
  g_test_add_func ("/rest/json-guard/parse", test_parse);
  g_test_add_func ("/rest/json-reader/agrees-with-json-glib", test_reader_agrees);
  g_test_add_func ("/rest/json-reader/declines", test_reader_declines);

  return g_test_run ();
}
