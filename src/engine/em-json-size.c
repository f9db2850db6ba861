#include "config.h"

#include <string.h>

#include "engine/em-json-size.h"

/* measured with glibc's malloc on x86_64: a JsonNode; a JsonValue; a
 * JsonObject with its hash table; a member's link, table slots and key
 * block; a JsonArray with its GPtrArray; an element's slot; a block's header */
#define NODE_COST    48
#define VALUE_COST   32
#define OBJECT_COST  192
#define MEMBER_COST  80
#define ARRAY_COST   80
#define ELEMENT_COST 16
#define BLOCK_COST   17

gsize
em_json_object_size (JsonObject *object)
{
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;
  gsize size = OBJECT_COST;

  if (object == NULL)
    return 0;
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &key, &member))
    size += MEMBER_COST + strlen (key) + em_json_node_size (member);
  return size;
}

gsize
em_json_node_size (JsonNode *node)
{
  gsize size = NODE_COST;

  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      size += em_json_object_size (json_node_get_object (node));
      break;
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint length = json_array_get_length (array);

        size += ARRAY_COST;
        for (guint i = 0; i < length; i++)
          size += ELEMENT_COST + em_json_node_size (json_array_get_element (array, i));
      }
      break;
    case JSON_NODE_VALUE:
      size += VALUE_COST;
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        size += strlen (json_node_get_string (node)) + BLOCK_COST;
      break;
    case JSON_NODE_NULL:
    default:
      break;
    }
  return size;
}
