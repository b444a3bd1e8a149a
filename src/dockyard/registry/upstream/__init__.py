"""Other registries: the client that reads them, imports and pull-through caches."""
