"""One attempt at one delivery: an HTTPS (or HTTP) POST of the stored envelope, signed,
to the checked address of the endpoint's host (targets.py), within bounded timeouts.

Success is any 2xx answer. Anything else is a failure to retry: another status (a 3xx
too: redirects are not followed), a refused or unresolvable target, a timeout, a
connection or TLS error. The error kept for the log names what happened, never the secret
or the request's headers; a receiver's answer body contributes at most 200 characters.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from dockyard import __version__
from dockyard.metadata.outbox import EVENTS_MEDIA_TYPE
from dockyard.metadata.queries.webhooks import Claimed
from dockyard.registry.webhooks.signing import SIGNATURE_HEADER, sign
from dockyard.registry.webhooks.targets import Network, TargetRefused, resolve

__all__ = ["Clients", "Outcome", "attempt"]

_ANSWER_CHARS = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    http_status: int | None
    error: str | None  # None: delivered


class Clients:
    """Two HTTP clients, one checking TLS certificates (the default) and one that does not
    (an endpoint saved with verify_tls off). No proxies from the environment: the address
    checked must be the address connected to."""

    def __init__(self, timeout_seconds: float) -> None:
        timeout = httpx.Timeout(timeout_seconds)
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=8)
        self._checked = httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)
        self._unchecked = httpx.AsyncClient(
            # S501: only for endpoints an admin saved with verify_tls off, on purpose
            timeout=timeout,
            limits=limits,
            trust_env=False,
            verify=False,  # noqa: S501
        )

    def get(self, verify_tls: bool) -> httpx.AsyncClient:
        return self._checked if verify_tls else self._unchecked

    async def aclose(self) -> None:
        await self._checked.aclose()
        await self._unchecked.aclose()


def _answer(response: httpx.Response) -> str:
    text = response.text[:_ANSWER_CHARS].strip()
    reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return f"{reason}: {text}" if text else reason


async def attempt(
    clients: Clients, delivery: Claimed, allowed: Sequence[Network], delivery_ref: str
) -> Outcome:
    """POST the delivery once; never raises for what the receiver or the network did."""
    try:
        target = await resolve(delivery.url, allowed)
    except TargetRefused as refused:
        return Outcome(None, str(refused))
    headers = {
        "Host": target.host_header,
        "Content-Type": EVENTS_MEDIA_TYPE,
        "User-Agent": f"dockyard/{__version__}",
        SIGNATURE_HEADER: sign(delivery.secret, int(time.time()), delivery.body),
        "Dockyard-Delivery": delivery_ref,
        "Dockyard-Event": delivery.event_id,
    }
    extensions = {"sni_hostname": target.server_name} if target.url.startswith("https") else {}
    try:
        response = await clients.get(delivery.verify_tls).post(
            target.url, content=delivery.body, headers=headers, extensions=extensions
        )
    except httpx.TimeoutException as exc:
        return Outcome(None, f"timed out: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[: _ANSWER_CHARS * 2])
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(response.status_code, _answer(response))
