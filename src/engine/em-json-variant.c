#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "engine/em-json-variant.h"

static GVariant *
array_to_variant (JsonArray *array)
{
  GVariantBuilder builder;
  guint n = json_array_get_length (array);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
  for (guint i = 0; i < n; i++)
    {
      GVariant *item = em_json_node_to_variant (json_array_get_element (array, i));

      /* null has no D-Bus form; inside an array an empty string keeps positions */
      if (item == NULL)
        item = g_variant_new_string ("");
      g_variant_builder_add (&builder, "v", item);
    }
  return g_variant_builder_end (&builder);
}

GVariant *
em_json_node_to_variant (JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      return em_json_object_to_variant (json_node_get_object (node));
    case JSON_NODE_ARRAY:
      return array_to_variant (json_node_get_array (node));
    case JSON_NODE_NULL:
      return NULL;
    case JSON_NODE_VALUE:
    default:
      break;
    }

  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      return g_variant_new_int64 (json_node_get_int (node));
    case G_TYPE_DOUBLE:
      return g_variant_new_double (json_node_get_double (node));
    case G_TYPE_BOOLEAN:
      return g_variant_new_boolean (json_node_get_boolean (node));
    case G_TYPE_STRING:
      return g_variant_new_string (json_node_get_string (node));
    default:
      return NULL;
    }
}

GVariant *
em_json_object_to_variant (JsonObject *object)
{
  GVariantBuilder builder;
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  if (object != NULL)
    {
      json_object_iter_init_ordered (&iter, object);
      while (json_object_iter_next_ordered (&iter, &key, &member))
        {
          GVariant *value = em_json_node_to_variant (member);

          if (value != NULL)
            g_variant_builder_add (&builder, "{sv}", key, value);
        }
    }
  return g_variant_builder_end (&builder);
}

#define STRING_KEYED_DICT G_VARIANT_TYPE ("a{s*}")

static JsonNode *
number_node (gint64 value)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_int (node, value);
  return node;
}

JsonNode *
em_variant_to_json_node (GVariant *value, const char *key, GError **error)
{
  JsonNode *node;

  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);

      return em_variant_to_json_node (inner, key, error);
    }
  /* any dictionary with string keys, a{ss} as a{sv}: a JSON object */
  if (g_variant_is_of_type (value, STRING_KEYED_DICT))
    {
      JsonObject *object = em_variant_to_json_object (value, error);

      /* a key inside names its whole path, "parameters.duration", as a
       * JSON body's refusal does */
      if (object == NULL)
        {
          g_prefix_error (error, "%s.", key);
          return NULL;
        }
      node = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (node, object);
      return node;
    }

  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      node = json_node_new (JSON_NODE_VALUE);
      json_node_set_boolean (node, g_variant_get_boolean (value));
      return node;
    case G_VARIANT_CLASS_BYTE:
      return number_node (g_variant_get_byte (value));
    case G_VARIANT_CLASS_INT16:
      return number_node (g_variant_get_int16 (value));
    case G_VARIANT_CLASS_UINT16:
      return number_node (g_variant_get_uint16 (value));
    case G_VARIANT_CLASS_INT32:
      return number_node (g_variant_get_int32 (value));
    case G_VARIANT_CLASS_UINT32:
      return number_node (g_variant_get_uint32 (value));
    case G_VARIANT_CLASS_INT64:
      return number_node (g_variant_get_int64 (value));
    case G_VARIANT_CLASS_UINT64:
      if (g_variant_get_uint64 (value) > G_MAXINT64)
        {
          /* the numbers apart: a format macro would cut the msgid short */
          g_autofree char *number = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                     g_variant_get_uint64 (value));
          g_autofree char *limit = g_strdup_printf ("%" G_GINT64_FORMAT, G_MAXINT64);

          /* a JSON body's integers stop there too; "type t has no JSON form"
           * read as if no uint64 were taken */
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: %s is out of range; integers go up to %s"), key, number, limit);
          return NULL;
        }
      return number_node ((gint64) g_variant_get_uint64 (value));
    case G_VARIANT_CLASS_DOUBLE:
      if (!isfinite (g_variant_get_double (value)))
        {
          char number[G_ASCII_DTOSTR_BUF_SIZE];

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: %s is not a finite number"), key,
                       g_ascii_dtostr (number, sizeof number, g_variant_get_double (value)));
          return NULL;
        }
      node = json_node_new (JSON_NODE_VALUE);
      json_node_set_double (node, g_variant_get_double (value));
      return node;
    case G_VARIANT_CLASS_STRING:
      node = json_node_new (JSON_NODE_VALUE);
      json_node_set_string (node, g_variant_get_string (value, NULL));
      return node;
    case G_VARIANT_CLASS_ARRAY:
      {
        JsonArray *array = json_array_new ();
        GVariantIter iter;
        GVariant *child;
        guint index = 0;

        g_variant_iter_init (&iter, value);
        while ((child = g_variant_iter_next_value (&iter)) != NULL)
          {
            g_autoptr(GVariant) owned = child;
            g_autofree char *item_key = g_strdup_printf ("%s[%u]", key, index++);
            JsonNode *item = em_variant_to_json_node (owned, item_key, error);

            if (item == NULL)
              {
                json_array_unref (array);
                return NULL;
              }
            json_array_add_element (array, item);
          }
        node = json_node_new (JSON_NODE_ARRAY);
        json_node_take_array (node, array);
        return node;
      }
    default:
      break;
    }

  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("%s: a value of D-Bus type “%s” has no JSON form"),
               key, g_variant_get_type_string (value));
  return NULL;
}

JsonObject *
em_variant_to_json_object (GVariant *dict, GError **error)
{
  g_autoptr(JsonObject) object = json_object_new ();
  gsize n;

  if (!g_variant_is_of_type (dict, STRING_KEYED_DICT))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("expected a dictionary of type a{sv}, got “%s”"),
                   g_variant_get_type_string (dict));
      return NULL;
    }

  n = g_variant_n_children (dict);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (dict, i);
      g_autoptr(GVariant) owned = g_variant_get_child_value (entry, 1);
      const char *key;

      g_variant_get_child (entry, 0, "&s", &key);
      /* the key as a refusal names it: a caller's key may be megabytes */
      g_autofree char *quoted = em_clip_member_name (key);
      JsonNode *member = em_variant_to_json_node (owned, quoted, error);

      if (member == NULL)
        return NULL;
      /* D-Bus allows a key twice; the last would win silently, and a JSON
       * body with a member twice is refused too */
      if (json_object_has_member (object, key))
        {
          json_node_unref (member);
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, "%s: %s", quoted,
                       _("member name appears more than once"));
          return NULL;
        }
      json_object_set_member (object, key, member);
    }
  return g_steal_pointer (&object);
}
