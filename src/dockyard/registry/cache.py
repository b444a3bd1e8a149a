"""A per-worker cache that is emptied whenever the database changed (pitfalls §19).

Entries are stored with the generation observed *before* the query that produced them; a
value read before a concurrent commit can therefore never outlive that commit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["GenerationCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Generation = int


class GenerationCache(Generic[K, V]):
    def __init__(self, current: Callable[[], Generation], max_entries: int = 65536) -> None:
        self._current = current
        self._max = max_entries
        self._generation: Generation | None = None
        self._entries: dict[K, V] = {}

    def observe(self) -> Generation:
        """The generation now; drops every entry if it moved."""
        generation = self._current()
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        return generation

    async def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or `load()` run in a worker thread and remembered."""
        generation = self.observe()
        value = self._entries.get(key)
        if value is None:
            value = await anyio.to_thread.run_sync(load)
            self.put(generation, key, value)
        return value

    def put(self, generation: Generation, key: K, value: V) -> None:
        if generation != self._generation:
            return  # the database moved while the value was being read
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = value
