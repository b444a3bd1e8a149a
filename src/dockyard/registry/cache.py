"""A per-worker cache that is emptied whenever the database changed (pitfalls §19).

Entries are stored with the generation observed *before* the query that produced them; a
value read before a concurrent commit can therefore never outlive that commit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, generation: Generation, key: K, value: V) -> None:
        if generation != self._generation:
            return  # the database moved while the value was being read
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = value
