#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* adds @field to @msg's Vary response header unless it is there already, so
 * that every part of the service can say what its answer depends on */
void em_rest_vary (SoupServerMessage *msg,
                   const char        *field);

G_END_DECLS
