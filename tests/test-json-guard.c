#include "config.h"

#include <string.h>

#include "engine/em-error.h"
#include "rest/em-json-guard.h"
#include "engine/em-json-reader.h"

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
      g_autoptr(JsonNode) node = em_json_guard_parse (cases[i].json, strlen (cases[i].json),
                                                      max_depth, &error);

      g_test_message ("%s", cases[i].json);
      if (cases[i].error_part == NULL)
        {
          g_assert_no_error (error);
          g_assert_nonnull (node);
        }
      else
        {
          g_assert_null (node);
          g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
          g_assert_true (g_utf8_validate (error->message, -1, NULL));
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
    /* what json-glib would read as hexadecimal or octal, and wrap */
    { "{\"position\": 0x1000000000000000A}", "position: not valid JSON at byte 14: invalid number" },
    { "{\"x\": 0xFFFFFFFFFFFFFFFFFF}", "x: not valid JSON at byte 7: invalid number" },
    { "{\"x\": 0x10}", "x: not valid JSON at byte 7: invalid number" },
    { "{\"x\": 010}", "x: not valid JSON at byte 6: invalid number" },
    { "{\"x\": -010}", "x: not valid JSON at byte 7: invalid number" },
    { "{\"x\": .5}", "x: not valid JSON at byte 6: invalid number" },
    { "{\"x\": +1}", "x: not valid JSON at byte 6: invalid number" },
    { "{\"x\": 1.}", "x: not valid JSON at byte 8: invalid number" },
    { "{\"x\": 1.5.2}", "x: not valid JSON at byte 9: invalid number" },
    { "{\"x\": 1e}", "x: not valid JSON at byte 8: invalid number" },
    { "{\"x\": 12abc}", "x: not valid JSON at byte 8: invalid number" },
    { "{\"x\": -}", "x: not valid JSON at byte 7: invalid number" },
    { "{\"x\": NaN}", "x: not valid JSON at byte 6: expected a value" },
    { "{\"x\": Infinity}", "x: not valid JSON at byte 6: expected a value" },
    { "{\"x\": 0e5, \"y\": -0.0E-0, \"z\": 0}", NULL },
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
    { "{\"name\": \"\\ud800\"}", "name: lone" },
    { "{\"name\": \"\\u12\"}", "name: \\u must be followed by four hexadecimal digits" },
    { "{\"name\": \"\\222\"}", "name: invalid escape sequence" },
    { "{\"name\": \"\\x41\"}", "name: invalid escape sequence" },
    { "{\"name\": \"\\'\"}", "name: invalid escape sequence" },
    { "{\"name\": \"raw\ttab\"}", "name: not valid JSON at byte 13: control characters" },
    { "{\"name\": 'x'}", "name: not valid JSON at byte 9: strings must be in double quotes" },
    { "{'name': \"x\"}", "body: not valid JSON at byte 1: expected a member name in double quotes" },
    { "{name: \"x\"}", "body: not valid JSON at byte 1: expected a member name" },
    { "{\"name\": \"unterminated}", "name: not valid JSON at byte 23: the body ends" },
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

  node = em_json_guard_parse (" \r\n\t", 4, 64, &error);
  g_assert_null (node);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "body: empty"));
  g_clear_error (&error);

  node = em_json_guard_parse ("{\"a\": ", 6, 64, &error);
  g_assert_null (node);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "a: not valid JSON at byte 6: the body ends before the JSON value does");
  g_clear_error (&error);

  /* what some editors and Windows tools write first, and no one sees: the
   * refusal names it rather than a value missing at byte 0 */
  node = em_json_guard_parse ("\xef\xbb\xbf{\"a\": 1}", 11, 64, &error);
  g_assert_null (node);
  g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "body: starts with a byte order mark (bytes EF BB BF), "
                                       "which JSON sent over a network must not have; "
                                       "send the body without it");
}

/* what is not JSON is refused however json-glib would read it, and the message
 * says where */
static void
test_syntax (void)
{
  const Case cases[] = {
    { "{\"name\": \"x\", \"action\": \"wait\"}", NULL },
    { "{", "body: not valid JSON at byte 1: the body ends" },
    { "{\"a\": }", "a: not valid JSON at byte 6: expected a value" },
    { "{\"a\" 1}", "a: not valid JSON at byte 5: expected “:”" },
    { "{\"a\": 1,}", "body: not valid JSON at byte 8: expected a member name" },
    { "{\"a\": 1 \"b\": 2}", "body: not valid JSON at byte 8: expected “,” or “}”" },
    { "[1,]", "[1]: not valid JSON at byte 3: expected a value" },
    { "[1 2]", "body: not valid JSON at byte 3: expected “,” or “]”" },
    { "{} x", "body: not valid JSON at byte 3: unexpected text after the JSON value" },
    { "not json", "body: not valid JSON at byte 0: expected a value" },
    { "tru", "body: not valid JSON at byte 0: expected a value" },
    { "True", "body: not valid JSON at byte 0: expected a value" },
    { "/* comment */ {}", "body: not valid JSON at byte 0: comments are not allowed" },
    { "{\"a\": /* comment */ 1}", "a: not valid JSON at byte 6: comments" },
    { "{'name': 'x', 'action': 'wait'}", "body: not valid JSON at byte 1: expected a member name in double quotes" },
    { "{\"a\": {\"b\": [0, {\"c\": 'x'}]}}", "a.b[1].c: not valid JSON at byte 22: strings must be in double quotes" },
    /* json-glib keeps one of them */
    { "{\"a\": 1, \"a\": 2}", "a: member name appears more than once" },
    { "{\"p\": {\"d\": 1, \"e\": 2, \"d\": 1}}", "p.d: member name appears more than once" },
    { "[{\"a\": 1}, {\"a\": 1, \"\\u0061\": 1}]", "[1].a: member name appears" },
    { "{\"a\": 1, \"A\": 2}", NULL },
  };

  check_cases (cases, G_N_ELEMENTS (cases), 64);
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
  g_autofree char *long_zeros = g_strnfill (80, '0');
  g_autofree char *long_fraction = g_strdup_printf ("[0.1%s1, -1%s.5e-80]", long_zeros, long_zeros + 1);
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
    /* numbers longer than 64 bits or 64 bytes that are still doubles */
    "[12345678901234567890123.5, 99999999999999999999e0]",
    "[3.14159265358979323846264338327950288419716939937510582097494459230781640628620899]",
    long_fraction,
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = em_json_reader_read (cases[i], strlen (cases[i]), 64, &error);
      g_autofree char *ours = NULL;
      g_autofree char *theirs = json_glib_text (cases[i]);

      g_test_message ("%s", cases[i]);
      g_assert_no_error (error);
      g_assert_nonnull (node);
      g_assert_true (json_node_is_immutable (node));
      ours = json_to_string (node, FALSE);
      g_assert_cmpstr (ours, ==, theirs);
    }

  /* and the long ones are read as what they say */
  {
    g_autoptr(JsonNode) node = em_json_reader_read (long_fraction, strlen (long_fraction), 64, NULL);
    JsonArray *array = json_node_get_array (node);

    g_assert_cmpfloat (json_array_get_double_element (array, 0), ==, 0.1);
    g_assert_cmpfloat (json_array_get_double_element (array, 1), ==, -0.1);
  }
}

/* the reader alone: everything it refuses is explained, in UTF-8 */
static void
test_reader_refuses (void)
{
  const Case cases[] = {
    { "", "body: not valid JSON at byte 0" },
    { "   ", "body: not valid JSON at byte 3" },
    { "nul", "expected a value" },
    { "01", "invalid number" },
    { "-01", "invalid number" },
    { "1e+", "at byte 3" },
    { "{\"x\": 9223372036854775808}", "x: integer does not fit in 64 bits" },
    { "{\"x\": -9223372036854775809}", "x: integer does not fit in 64 bits" },
    { "{\"x\": 1e309}", "x: number is too large" },
    { "[[[[[]]]]]", "[0][0][0][0]: nested deeper than 4 levels" },
    { "{\"s\": \"a\\u0000b\"}", "s: strings must not contain NUL characters" },
    { "{\"s\": \"\\udc00\"}", "s: lone UTF-16 surrogate" },
    { "{\"s\": \"caf\xe9\"}", "body: not valid UTF-8 at byte 10" },
    /* a key is echoed only so far, and whole characters of it */
    { "{\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9z\xc3\xa9\": x}", "\xc3\xa9z: not valid JSON" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = em_json_reader_read (cases[i].json, strlen (cases[i].json), 4, &error);

      g_test_message ("%s", cases[i].json);
      g_assert_null (node);
      g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      if (strstr (error->message, cases[i].error_part) == NULL)
        g_error ("“%s”: “%s” does not mention “%s”", cases[i].json, error->message,
                 cases[i].error_part);
    }

  /* a NUL byte inside the length */
  {
    g_autoptr(GError) error = NULL;

    g_assert_null (em_json_reader_read ("{\"s\": \"a\0b\"}", 12, 4, &error));
    g_assert_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr (error->message, ==, "body: not valid UTF-8 at byte 8");
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rest/json-guard/numbers", test_numbers);
  g_test_add_func ("/rest/json-guard/depth", test_depth);
  g_test_add_func ("/rest/json-guard/strings", test_strings);
  g_test_add_func ("/rest/json-guard/parse", test_parse);
  g_test_add_func ("/rest/json-guard/syntax", test_syntax);
  g_test_add_func ("/rest/json-reader/agrees-with-json-glib", test_reader_agrees);
  g_test_add_func ("/rest/json-reader/refuses", test_reader_refuses);

  return g_test_run ();
}
