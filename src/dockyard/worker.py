"""Granian's entry point in each worker process: the app, built once the worker can be
stopped while it builds it.

On Linux Granian forks its workers, and a forked worker inherits the handlers of Granian's
main process, which only set a flag in the parent's memory. A SIGTERM that reached a
worker while it was importing and building the app (seconds on a busy machine) was lost:
the worker started serving after its parent had begun to shut down, and `dockyard serve`
never exited. Until Granian installs the worker's own handlers, a stop simply ends the
process, which is not serving anything yet. This module imports nothing heavy for that
reason: the reset must come before the import of the app."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["create_app"]


def create_app() -> ASGIApp:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from dockyard.app import create_app_from_env

    return create_app_from_env()
