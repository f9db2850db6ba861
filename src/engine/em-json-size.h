#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * About how many bytes of heap a json-glib tree takes, nodes, members and
 * strings with malloc's overhead: within 10 % for large results (a tile
 * scan's tiles take 13 times their JSON text), more for small objects. One
 * walk, no allocation.
 */
gsize em_json_node_size   (JsonNode   *node);
/* @object: (nullable): 0 for NULL */
gsize em_json_object_size (JsonObject *object);

G_END_DECLS
