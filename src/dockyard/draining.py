"""Workers about to be replaced close their HTTP/1.1 connections after each response.

A graceful reload (Granian's SIGHUP respawn, used for certificate renewals) starts a new
worker, lets both serve for `reload_overlap_seconds`, then stops the old one. Stopping
closes the old worker's keep-alive connections, and a client that has just sent its next
request on one of them sees "connection closed without response" (measured: about one
failed request per reload at 150 requests/s). So `dockyard serve` numbers each reload in a
file of its own and hands the number and the file's path to the workers it starts (env
`DOCKYARD_RELOAD_GENERATION`, `DOCKYARD_RELOAD_GENERATION_FILE`). The file is in a private
temporary folder, not in the data directory: replicas sharing a data volume would otherwise
drain each other whenever one of them started. A worker that sees a newer number in the
file answers with `Connection: close` from then on, and its clients move to fresh
connections during the overlap instead of racing the stop. (HTTP/2 needs none of this:
GOAWAY says which streams were served.) The file is read at most twice a second, so the
hot path pays a clock read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "GENERATION_ENV",
    "GENERATION_FILE",
    "GENERATION_FILE_ENV",
    "DrainOnReload",
    "write_generation",
]

GENERATION_ENV = "DOCKYARD_RELOAD_GENERATION"
GENERATION_FILE_ENV = "DOCKYARD_RELOAD_GENERATION_FILE"
GENERATION_FILE = "reload-generation"  # in the serving process's own temporary folder
_CHECK_SECONDS = 0.5


def write_generation(path: Path) -> str:
    """Start a new reload generation: the number goes to `path` and to env for new workers."""
    generation = str(time.time_ns())
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(generation)
    temporary.replace(path)
    os.environ[GENERATION_ENV] = generation
    return generation


class DrainOnReload:
    def __init__(self, app: ASGIApp, path: Path, generation: str) -> None:
        self.app = app
        self._path = path
        self._generation = generation
        self._next_check = 0.0
        self._draining = False

    def _replaced(self) -> bool:
        if self._draining:
            return True
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + _CHECK_SECONDS
            try:
                self._draining = self._path.read_text().strip() != self._generation
            except OSError:  # no file: `dockyard serve` did not start this worker
                self._draining = False
        return self._draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._replaced():
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)
