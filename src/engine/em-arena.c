#include "config.h"

#include <string.h>

#include "engine/em-arena.h"

/* the first chunk holds the arena itself; later ones double up to the
 * largest, and an allocation too big for a chunk gets one of its own */
#define FIRST_CHUNK_SIZE   4096
#define LARGEST_CHUNK_SIZE (64 * 1024)
#define ALIGNMENT          16

typedef struct _Chunk Chunk;
struct _Chunk
{
  Chunk *next;
};

struct _EmArena
{
  Chunk *chunks;     /* the one being filled first; the arena lives in one of them */
  char  *at;         /* the free space in the newest chunk */
  char  *end;
  gsize  next_size;
};

#define HEADER_SIZE (((sizeof (Chunk) + ALIGNMENT - 1) / ALIGNMENT) * ALIGNMENT)
#define ARENA_SIZE  (((sizeof (EmArena) + ALIGNMENT - 1) / ALIGNMENT) * ALIGNMENT)

static gsize
align_up (gsize size)
{
  return (size + ALIGNMENT - 1) & ~(gsize) (ALIGNMENT - 1);
}

EmArena *
em_arena_new (void)
{
  Chunk *chunk = g_malloc (FIRST_CHUNK_SIZE);
  EmArena *self = (EmArena *) ((char *) chunk + HEADER_SIZE);

  chunk->next = NULL;
  self->chunks = chunk;
  self->at = (char *) self + ARENA_SIZE;
  self->end = (char *) chunk + FIRST_CHUNK_SIZE;
  self->next_size = 2 * FIRST_CHUNK_SIZE;
  return self;
}

static gpointer
alloc_in_new_chunk (EmArena *self, gsize size)
{
  gsize chunk_size = self->next_size;
  Chunk *chunk;

  if (HEADER_SIZE + size > chunk_size / 2)
    {
      /* its own chunk, behind the newest so that the newest's space is kept */
      chunk = g_malloc (HEADER_SIZE + size);
      chunk->next = self->chunks->next;
      self->chunks->next = chunk;
      return (char *) chunk + HEADER_SIZE;
    }
  chunk = g_malloc (chunk_size);
  chunk->next = self->chunks;
  self->chunks = chunk;
  self->at = (char *) chunk + HEADER_SIZE + size;
  self->end = (char *) chunk + chunk_size;
  self->next_size = MIN (2 * chunk_size, LARGEST_CHUNK_SIZE);
  return (char *) chunk + HEADER_SIZE;
}

gpointer
em_arena_alloc (EmArena *self, gsize size)
{
  gpointer memory;

  size = align_up (MAX (size, 1));
  if (size > (gsize) (self->end - self->at))
    return alloc_in_new_chunk (self, size);
  memory = self->at;
  self->at += size;
  return memory;
}

gpointer
em_arena_alloc0 (EmArena *self, gsize size)
{
  return memset (em_arena_alloc (self, size), 0, size);
}

gpointer
em_arena_memdup (EmArena *self, gconstpointer data, gsize size)
{
  return memcpy (em_arena_alloc (self, size), data, size);
}

char *
em_arena_strdup (EmArena *self, const char *text)
{
  return text != NULL ? em_arena_memdup (self, text, strlen (text) + 1) : NULL;
}

char **
em_arena_strdupv (EmArena *self, char **strv)
{
  guint length = strv != NULL ? g_strv_length (strv) : 0;
  char **copy;

  if (length == 0)
    return NULL;
  copy = em_arena_alloc (self, (length + 1) * sizeof (char *));
  for (guint i = 0; i < length; i++)
    copy[i] = em_arena_strdup (self, strv[i]);
  copy[length] = NULL;
  return copy;
}

void
em_arena_free (EmArena *self)
{
  Chunk *chunk;

  if (self == NULL)
    return;
  chunk = self->chunks;
  /* the arena lives in one of the chunks: nothing of it is read past here */
  while (chunk != NULL)
    {
      Chunk *next = chunk->next;

      g_free (chunk);
      chunk = next;
    }
}
