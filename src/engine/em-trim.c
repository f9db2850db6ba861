#define G_LOG_DOMAIN "em-trim"

#include "config.h"

#include <stdlib.h>  /* __GLIBC__ */

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "engine/em-trim.h"

static gsize freed;      /* under lock: since the last trim began */
static gboolean running; /* under lock */
static GMutex lock;

static gpointer
trim_main (gpointer user_data)
{
#ifdef __GLIBC__
  malloc_trim (0);
#endif
  g_mutex_lock (&lock);
  running = FALSE;
  g_mutex_unlock (&lock);
  return NULL;
}

void
em_trim_note_freed (gsize bytes)
{
  GThread *thread;

  g_mutex_lock (&lock);
  freed += bytes;
  if (running || freed < EM_TRIM_MIN_BYTES)
    {
      g_mutex_unlock (&lock);
      return;
    }
  freed = 0;
  running = TRUE;
  g_mutex_unlock (&lock);
  /* detached: it ends on its own, and nothing waits for it */
  thread = g_thread_try_new ("em-trim", trim_main, NULL, NULL);
  if (thread != NULL)
    g_thread_unref (thread);
  else
    {
      g_mutex_lock (&lock);
      running = FALSE;
      g_mutex_unlock (&lock);
    }
}
