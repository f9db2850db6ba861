#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* JSON objects map to a{sv}, arrays to av, integers to x, other numbers to d;
 * null has no D-Bus form, so object members that are null are left out */
GVariant   *em_json_object_to_variant (JsonObject  *object);
GVariant   *em_json_node_to_variant   (JsonNode    *node);

/* the reverse, for a{sv} arriving over D-Bus, where any dictionary with
 * string keys (a{ss}, a{sx}, …) is an object too; @error names the key whose
 * value has no JSON form (e.g. an object path or a file descriptor) */
JsonObject *em_variant_to_json_object (GVariant    *dict,
                                       GError     **error);
JsonNode   *em_variant_to_json_node   (GVariant    *value,
                                       const char  *key,
                                       GError     **error);

G_END_DECLS
