#include "config.h"

#include <string.h>

#include "engine/em-uuid.h"

char *
em_uuid_string_random (void)
{
  static const char hex[] = "0123456789abcdef";
  guint8 bytes[16];
  char *text = g_malloc (37);
  char *p = text;

  /* the same source g_uuid_string_random() draws from */
  for (guint i = 0; i < 4; i++)
    {
      guint32 r = g_random_int ();

      memcpy (bytes + 4 * i, &r, 4);
    }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;   /* version 4 */
  bytes[8] = (bytes[8] & 0x3f) | 0x80;   /* the RFC 4122 variant */

  for (guint i = 0; i < 16; i++)
    {
      if (i == 4 || i == 6 || i == 8 || i == 10)
        *p++ = '-';
      *p++ = hex[bytes[i] >> 4];
      *p++ = hex[bytes[i] & 0x0f];
    }
  *p = '\0';
  return text;
}
