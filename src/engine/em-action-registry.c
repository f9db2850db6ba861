#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include "engine/em-action-registry.h"

struct _EmActionRegistry
{
  GObject     parent_instance;
  GHashTable *actions; /* name → EmAction */
};

G_DEFINE_FINAL_TYPE (EmActionRegistry, em_action_registry, G_TYPE_OBJECT)

static void
em_action_registry_finalize (GObject *object)
{
  EmActionRegistry *self = EM_ACTION_REGISTRY (object);

  g_hash_table_unref (self->actions);

  G_OBJECT_CLASS (em_action_registry_parent_class)->finalize (object);
}

static void
em_action_registry_class_init (EmActionRegistryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = em_action_registry_finalize;
}

static void
em_action_registry_init (EmActionRegistry *self)
{
  self->actions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
}

EmActionRegistry *
em_action_registry_new (void)
{
  return g_object_new (EM_TYPE_ACTION_REGISTRY, NULL);
}

void
em_action_registry_add (EmActionRegistry *self, EmAction *action)
{
  const char *name;

  g_return_if_fail (EM_IS_ACTION_REGISTRY (self));
  g_return_if_fail (EM_IS_ACTION (action));

  name = em_action_get_name (action);
  g_return_if_fail (name != NULL);
  g_return_if_fail (!g_hash_table_contains (self->actions, name));

  /* the key points into the action, which the table owns */
  g_hash_table_insert (self->actions, (gpointer) name, g_object_ref (action));
}

EmAction *
em_action_registry_lookup (EmActionRegistry *self, const char *name)
{
  g_return_val_if_fail (EM_IS_ACTION_REGISTRY (self), NULL);

  if (name == NULL)
    return NULL;
  return g_hash_table_lookup (self->actions, name);
}

static gint
compare_by_name (gconstpointer a, gconstpointer b)
{
  EmAction *action_a = *(EmAction **) a;
  EmAction *action_b = *(EmAction **) b;

  return g_strcmp0 (em_action_get_name (action_a), em_action_get_name (action_b));
}

GPtrArray *
em_action_registry_list (EmActionRegistry *self)
{
  GPtrArray *list;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (EM_IS_ACTION_REGISTRY (self), NULL);

  list = g_ptr_array_new_full (g_hash_table_size (self->actions), NULL);
  g_hash_table_iter_init (&iter, self->actions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, compare_by_name);
  return list;
}

char **
em_action_registry_get_names (EmActionRegistry *self)
{
  g_autoptr(GPtrArray) list = em_action_registry_list (self);
  GStrvBuilder *builder = g_strv_builder_new ();
  char **names;

  for (guint i = 0; i < list->len; i++)
    g_strv_builder_add (builder, em_action_get_name (g_ptr_array_index (list, i)));
  names = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return names;
}
