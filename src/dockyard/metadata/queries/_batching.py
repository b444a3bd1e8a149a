"""Lists of ids and digests are sent in chunks: SQLite caps the parameters of one statement."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

_CHUNK = 500
_T = TypeVar("_T")


def chunks(values: Iterable[_T], size: int = _CHUNK) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
