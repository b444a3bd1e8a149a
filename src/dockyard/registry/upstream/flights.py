"""One upstream fetch per blob, however many clients ask for it at once (in this process).

The first client's request starts a flight: the upstream's bytes go to a spool file on
local disk through a sha256, and every client that asks meanwhile, the first included,
reads the spool as it grows, so each is served while the bytes are being cached. When
the bytes are all there and match the digest, the flight stores them as a blob
(`store`: the same upload path a push takes, which checks the digest again and links the
blob). The flight runs as a task of its own: a client that goes away stops reading, never
the caching. A flight that fails cuts off its readers (their clients retry) and leaves
nothing stored. Across processes and replicas two flights for one blob may run; the
blob store keeps one copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio

from dockyard.registry.errors import DigestInvalid

__all__ = ["BlobFlights", "Flight", "Opener", "Storer"]

_log = logging.getLogger("dockyard.registry")
_READ_CHUNK = 1024 * 1024

Opener = Callable[[], Awaitable[tuple[int | None, AsyncIterator[bytes]]]]
Storer = Callable[[Path, int], Awaitable[None]]


@dataclass(eq=False)
class Flight:
    """A blob on its way from the upstream; `size` is known once `opened` is set."""

    digest: str
    spool: Path
    size: int | None = None
    written: int = 0
    complete: bool = False  # every byte is in the spool and matched the digest
    error: BaseException | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    stored: asyncio.Event = field(default_factory=asyncio.Event)  # stored, or failed
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    def _advance(self) -> None:
        previous, self._progress = self._progress, asyncio.Event()
        previous.set()


class BlobFlights:
    def __init__(self, spool_dir: Path) -> None:
        self._spool_dir = spool_dir
        self._flights: dict[tuple[str, str], Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self, key: tuple[str, str], open_bytes: Opener, store: Storer) -> Flight:
        """The flight for `key` (repository, digest), started if none is under way;
        returns once the upstream answered (raises what it raised if it refused)."""
        flight = self._flights.get(key)
        if flight is None:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
            flight = Flight(key[1], self._spool_dir / f"{uuid.uuid4().hex}.part")
            self._flights[key] = flight
            task = asyncio.create_task(self._fly(key, flight, open_bytes, store))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await flight.opened.wait()
        if flight.error is not None and not flight.complete:
            raise flight.error
        return flight

    def read(self, flight: Flight) -> AsyncIterator[bytes]:
        """The flight's bytes from the first, as they arrive. Opened before this returns
        (no await between the caller's `join` and here), so the spool is still there."""
        handle = flight.spool.open("rb")
        return self._follow(flight, handle)

    async def _follow(self, flight: Flight, handle: BinaryIO) -> AsyncIterator[bytes]:
        position = 0
        try:
            while True:
                progress = flight._progress
                if position < flight.written:
                    want = min(_READ_CHUNK, flight.written - position)
                    chunk = await anyio.to_thread.run_sync(handle.read, want)
                    position += len(chunk)
                    yield chunk
                    continue
                if flight.complete:
                    return
                if flight.error is not None:
                    raise flight.error
                await progress.wait()
        finally:
            handle.close()

    async def _fly(
        self, key: tuple[str, str], flight: Flight, open_bytes: Opener, store: Storer
    ) -> None:
        try:
            handle = flight.spool.open("wb")
            try:
                flight.size, chunks = await open_bytes()
                flight.opened.set()
                hasher = hashlib.sha256()
                async for chunk in chunks:
                    await anyio.to_thread.run_sync(handle.write, chunk)
                    await anyio.to_thread.run_sync(handle.flush)
                    hasher.update(chunk)
                    flight.written += len(chunk)
                    flight._advance()
            finally:
                handle.close()
            actual = f"sha256:{hasher.hexdigest()}"
            if actual != flight.digest:
                raise DigestInvalid(f"the upstream sent bytes of {actual}, not {flight.digest}")
            if flight.size is not None and flight.size != flight.written:
                raise DigestInvalid(f"the upstream announced {flight.size} bytes, sent fewer")
            flight.size = flight.written
            flight.complete = True
            flight._advance()
            await store(flight.spool, flight.written)
        except BaseException as exc:
            flight.error = exc
            if not isinstance(exc, asyncio.CancelledError):
                _log.warning(
                    "pull-through fetch failed",
                    extra={"fields": {"repository": key[0], "digest": key[1], "error": str(exc)}},
                )
        finally:
            flight.opened.set()
            flight.stored.set()
            flight._advance()
            del self._flights[key]
            flight.spool.unlink(missing_ok=True)  # open readers keep reading (POSIX)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
