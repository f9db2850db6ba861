#include "config.h"

#include "engine/em-rate-limit.h"
#include "em-test-util.h"

#define INTERVAL_MS 50

typedef struct {
  guint  calls;
  gint64 last_call_us;
} Counter;

static void
count_cb (gpointer user_data)
{
  Counter *counter = user_data;

  counter->calls++;
  counter->last_call_us = g_get_monotonic_time ();
}

/* the first change goes out at once, a burst after it once, at the end of
 * the interval */
static void
test_burst (void)
{
  Counter counter = { 0, };
  EmRateLimit limit;
  gint64 first_us;

  em_rate_limit_init (&limit, INTERVAL_MS * G_TIME_SPAN_MILLISECOND, "test", count_cb, &counter);
  em_rate_limit_poke (&limit);
  g_assert_cmpuint (counter.calls, ==, 1);
  first_us = counter.last_call_us;

  for (guint i = 0; i < 10; i++)
    em_rate_limit_poke (&limit);
  g_assert_cmpuint (counter.calls, ==, 1);
  /* a timer's call, as late as a loaded machine makes it */
  EM_TEST_WAIT_UNTIL (counter.calls == 2, 5000);
  g_assert_cmpint (counter.last_call_us - first_us, >=, INTERVAL_MS * G_TIME_SPAN_MILLISECOND);
  /* and the only one of the burst */
  em_test_run_for (INTERVAL_MS * 3);
  g_assert_cmpuint (counter.calls, ==, 2);

  /* quiet for longer than the interval: at once again */
  em_rate_limit_poke (&limit);
  g_assert_cmpuint (counter.calls, ==, 3);
  em_rate_limit_clear (&limit);
}

/* flush publishes a waiting change now; with nothing waiting it does nothing */
static void
test_flush (void)
{
  Counter counter = { 0, };
  EmRateLimit limit;

  em_rate_limit_init (&limit, INTERVAL_MS * G_TIME_SPAN_MILLISECOND, "test", count_cb, &counter);
  em_rate_limit_flush (&limit);
  g_assert_cmpuint (counter.calls, ==, 0);
  em_rate_limit_poke (&limit);
  em_rate_limit_poke (&limit);
  g_assert_cmpuint (counter.calls, ==, 1);
  em_rate_limit_flush (&limit);
  g_assert_cmpuint (counter.calls, ==, 2);
  em_test_run_for (INTERVAL_MS * 3);
  g_assert_cmpuint (counter.calls, ==, 2);
}

/* clear drops a waiting change */
static void
test_clear (void)
{
  Counter counter = { 0, };
  EmRateLimit limit;

  em_rate_limit_init (&limit, INTERVAL_MS * G_TIME_SPAN_MILLISECOND, "test", count_cb, &counter);
  em_rate_limit_poke (&limit);
  em_rate_limit_poke (&limit);
  em_rate_limit_clear (&limit);
  em_test_run_for (INTERVAL_MS * 3);
  g_assert_cmpuint (counter.calls, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/rate-limit/burst", test_burst);
  g_test_add_func ("/engine/rate-limit/flush", test_flush);
  g_test_add_func ("/engine/rate-limit/clear", test_clear);

  return g_test_run ();
}
