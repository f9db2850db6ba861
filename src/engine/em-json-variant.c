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

/* as deep as a REST body may nest; over the bus GDBus refuses a message
 * nested that deep before it is read, but a value built in-process is not
 * bounded, and each level is a stack frame here */
#define MAX_DEPTH 64

/* one walk of a value: the path of what is being converted, grown and cut
 * back as the walk goes, so an item's name is only written out when refused */
typedef struct {
  GString *path;
  guint    depth;
} Walk;

static JsonNode   *node_from_variant   (Walk *walk, GVariant *value, GError **error);
static JsonObject *object_from_variant (Walk *walk, GVariant *dict, GError **error);

static JsonNode *
number_node (gint64 value)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_int (node, value);
  return node;
}

/* whether a value of @type can have a JSON form, whatever it holds */
static gboolean
type_has_json_form (const GVariantType *type)
{
  const GVariantType *element;

  if (g_variant_type_is_variant (type))
    return TRUE;
  if (g_variant_type_is_basic (type))
    return !g_variant_type_equal (type, G_VARIANT_TYPE_OBJECT_PATH) &&
           !g_variant_type_equal (type, G_VARIANT_TYPE_SIGNATURE) &&
           !g_variant_type_equal (type, G_VARIANT_TYPE_HANDLE);
  if (!g_variant_type_is_array (type))
    return FALSE;
  element = g_variant_type_element (type);
  if (g_variant_type_is_dict_entry (element))
    return g_variant_type_equal (g_variant_type_key (element), G_VARIANT_TYPE_STRING) &&
           type_has_json_form (g_variant_type_value (element));
  return type_has_json_form (element);
}

/* a key of a dictionary whose keys are not strings, as a caller wrote it:
 * integers in decimal (a byte too), anything else in GVariant text */
static char *
key_for_message (GVariant *key)
{
  g_autofree char *printed = NULL;

  switch (g_variant_classify (key))
    {
    case G_VARIANT_CLASS_BYTE:
      return g_strdup_printf ("%u", g_variant_get_byte (key));
    case G_VARIANT_CLASS_INT16:
      return g_strdup_printf ("%d", g_variant_get_int16 (key));
    case G_VARIANT_CLASS_UINT16:
      return g_strdup_printf ("%u", g_variant_get_uint16 (key));
    case G_VARIANT_CLASS_INT32:
      return g_strdup_printf ("%" G_GINT32_FORMAT, g_variant_get_int32 (key));
    case G_VARIANT_CLASS_UINT32:
      return g_strdup_printf ("%" G_GUINT32_FORMAT, g_variant_get_uint32 (key));
    case G_VARIANT_CLASS_INT64:
      return g_strdup_printf ("%" G_GINT64_FORMAT, g_variant_get_int64 (key));
    case G_VARIANT_CLASS_UINT64:
      return g_strdup_printf ("%" G_GUINT64_FORMAT, g_variant_get_uint64 (key));
    default:
      /* an object path may be long: clipped as any quoted key is */
      printed = g_variant_print (key, FALSE);
      return em_clip_for_message (printed);
    }
}

static JsonNode *
array_from_variant (Walk      *walk,
                    GVariant  *value,
                    GError   **error)
{
  const GVariantType *element = g_variant_type_element (g_variant_get_type (value));
  JsonArray *array;
  JsonNode *node;
  GVariantIter iter;
  GVariant *child;
  guint index = 0;
  gsize len = walk->path->len;

  /* a dictionary with other keys (a{is}, a{ys}, …) would read as an array of
   * its entries; its first entry is named by its key, "x{3}", not by a
   * position that reads as an array item's, "x[0]" */
  if (g_variant_type_is_dict_entry (element) && g_variant_n_children (value) > 0)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (value, 0);
      g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
      g_autofree char *named = key_for_message (key);
      g_autofree char *key_type = g_variant_type_dup_string (g_variant_get_type (key));

      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s{%s}: a dictionary with keys of D-Bus type “%s” has no JSON form; "
                     "JSON object keys are strings"),
                   walk->path->str, named, key_type);
      return NULL;
    }

  array = json_array_new ();
  g_variant_iter_init (&iter, value);
  while ((child = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = child;
      JsonNode *item;

      g_string_append_printf (walk->path, "[%u]", index++);
      item = node_from_variant (walk, owned, error);
      if (item == NULL)
        {
          json_array_unref (array);
          return NULL;
        }
      g_string_truncate (walk->path, len);
      json_array_add_element (array, item);
    }
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, array);
  return node;
}

static JsonNode *
node_from_variant (Walk      *walk,
                   GVariant  *value,
                   GError   **error)
{
  JsonNode *node;

  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);

      /* a variant around a value is no level, as a{sv} holds each member in
       * one; a variant around a variant is, or a chain of them built
       * in-process would recurse without bound */
      if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_VARIANT))
        return node_from_variant (walk, inner, error);
      if (walk->depth >= MAX_DEPTH)
        {
          g_autofree char *what = g_strdup_printf (_("nested deeper than %u levels"), MAX_DEPTH);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, "%s: %s",
                       walk->path->str, what);
          return NULL;
        }
      walk->depth++;
      node = node_from_variant (walk, inner, error);
      walk->depth--;
      return node;
    }

  if (g_variant_is_container (value))
    {
      /* an empty container is refused by its type as a full one is by its
       * first item: an empty a{is} or ao is no more a JSON value than a
       * full one */
      if (g_variant_n_children (value) == 0 &&
          !type_has_json_form (g_variant_get_type (value)))
        {
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: a value of D-Bus type “%s” has no JSON form"),
                       walk->path->str, g_variant_get_type_string (value));
          return NULL;
        }
      if (walk->depth >= MAX_DEPTH)
        {
          g_autofree char *what = g_strdup_printf (_("nested deeper than %u levels"), MAX_DEPTH);

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, "%s: %s",
                       walk->path->str, what);
          return NULL;
        }
    }

  /* any dictionary with string keys, a{ss} as a{sv}: a JSON object */
  if (g_variant_is_of_type (value, STRING_KEYED_DICT))
    {
      JsonObject *object;

      walk->depth++;
      object = object_from_variant (walk, value, error);
      walk->depth--;
      if (object == NULL)
        return NULL;
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
                       _("%s: %s is out of range; integers go up to %s"),
                       walk->path->str, number, limit);
          return NULL;
        }
      return number_node ((gint64) g_variant_get_uint64 (value));
    case G_VARIANT_CLASS_DOUBLE:
      if (!isfinite (g_variant_get_double (value)))
        {
          char number[G_ASCII_DTOSTR_BUF_SIZE];

          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                       _("%s: %s is not a finite number"), walk->path->str,
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
      walk->depth++;
      node = array_from_variant (walk, value, error);
      walk->depth--;
      return node;
    default:
      break;
    }

  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("%s: a value of D-Bus type “%s” has no JSON form"),
               walk->path->str, g_variant_get_type_string (value));
  return NULL;
}

/* @dict is known to be an a{s*}; its members are named under the walk's
 * path, "parameters.duration", as a JSON body's refusal names them */
static JsonObject *
object_from_variant (Walk      *walk,
                     GVariant  *dict,
                     GError   **error)
{
  g_autoptr(JsonObject) object = json_object_new ();
  gsize len = walk->path->len;
  gsize n = g_variant_n_children (dict);

  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (dict, i);
      g_autoptr(GVariant) owned = g_variant_get_child_value (entry, 1);
      const char *key;
      /* the key as a refusal names it: a caller's key may be megabytes */
      g_autofree char *quoted = NULL;
      JsonNode *member;

      g_variant_get_child (entry, 0, "&s", &key);
      quoted = em_clip_member_name (key);
      if (len > 0)
        g_string_append_c (walk->path, '.');
      g_string_append (walk->path, quoted);

      member = node_from_variant (walk, owned, error);
      if (member == NULL)
        return NULL;
      /* D-Bus allows a key twice; the last would win silently, and a JSON
       * body with a member twice is refused too */
      if (json_object_has_member (object, key))
        {
          json_node_unref (member);
          g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT, "%s: %s", walk->path->str,
                       _("member name appears more than once"));
          return NULL;
        }
      g_string_truncate (walk->path, len);
      json_object_set_member (object, key, member);
    }
  return g_steal_pointer (&object);
}

JsonNode *
em_variant_to_json_node (GVariant *value, const char *key, GError **error)
{
  g_autoptr(GString) path = g_string_new (key);
  Walk walk = { path, 0 };

  return node_from_variant (&walk, value, error);
}

JsonObject *
em_variant_to_json_object (GVariant *dict, GError **error)
{
  g_autoptr(GString) path = NULL;
  Walk walk = { NULL, 1 };

  if (!g_variant_is_of_type (dict, STRING_KEYED_DICT))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("expected a dictionary of type a{sv}, got “%s”"),
                   g_variant_get_type_string (dict));
      return NULL;
    }

  path = g_string_new (NULL);
  walk.path = path;
  return object_from_variant (&walk, dict, error);
}
