"""Where webhooks may go (pitfalls §30) and the signature's contract: pure functions, no
network (literal addresses and `localhost` resolve locally)."""

from __future__ import annotations

import anyio
import pytest

from dockyard.registry.webhooks.signing import sign, verify
from dockyard.registry.webhooks.targets import TargetRefused, networks, resolve

pytestmark = pytest.mark.metadata_neutral


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
def test_local_and_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        anyio.run(resolve, url, ())


def test_an_allowed_network_is_reached_at_the_checked_address() -> None:
    allowed = networks(["127.0.0.0/8"])
    target = anyio.run(resolve, "http://127.0.0.1:8080/a/b?x=1", allowed)
    assert (target.url, target.host_header) == ("http://127.0.0.1:8080/a/b?x=1", "127.0.0.1:8080")
    public = anyio.run(resolve, "https://93.184.215.14/hook", ())
    assert (public.url, public.server_name) == ("https://93.184.215.14:443/hook", "93.184.215.14")


def test_a_signature_is_checked_over_the_exact_bytes_and_time() -> None:
    header = sign("s" * 20, 1_000, b'{"events":[]}')
    assert verify("s" * 20, header, b'{"events":[]}', now=1_100)
    assert not verify("s" * 20, header, b'{"events": []}', now=1_100)  # one byte differs
    assert not verify("t" * 20, header, b'{"events":[]}', now=1_100)  # another secret
    assert not verify("s" * 20, header, b'{"events":[]}', now=1_400)  # replayed later
