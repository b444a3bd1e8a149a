"""Names, tags, digests and Accept parsing per the distribution spec grammar."""

from __future__ import annotations

import pytest

from dockyard.registry import mediatypes as mt
from dockyard.registry.digests import compute, parse_digest
from dockyard.registry.errors import DigestInvalid, NameInvalid
from dockyard.registry.names import is_tag, namespace_of, validate_name


@pytest.mark.parametrize("name", ["a", "dev/team/app", "a.b_c__d-e--f/x0", "x/manifests/y"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "A", "a//b", "a/../b", "..", "a/", "/a", "a_", "-a", "a%2Fb", "a" * 256]
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


def test_tags() -> None:
    for good in ["latest", "_x", "v1.0-rc_1", "a" * 128]:
        assert is_tag(good)
    for bad in ["", ".x", "-x", "a" * 129]:
        assert not is_tag(bad)


def test_namespace_is_first_component() -> None:
    assert namespace_of("dev/team/app") == "dev"


def test_digests() -> None:
    assert parse_digest(compute(b"x")) == compute(b"x")
    assert compute(b"", "sha512").startswith("sha512:")
    for bad in ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256", "totallywrong"]:
        with pytest.raises(DigestInvalid):
            parse_digest(bad)


def test_accept_lines_are_split_and_wildcards_mean_anything() -> None:
    lines = [mt.OCI_MANIFEST, f"{mt.DOCKER_MANIFEST}; q=0.5, {mt.OCI_INDEX}"]
    assert mt.parse_accept(lines) == frozenset({mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.OCI_INDEX})
    assert mt.parse_accept([f"{mt.OCI_MANIFEST}, */*"]) is None
    assert mt.parse_accept([]) is None


def test_negotiation_by_tag() -> None:
    only_docker = frozenset({mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST})
    assert not mt.acceptable(mt.OCI_INDEX, only_docker)
    assert mt.acceptable(mt.DOCKER_MANIFEST, only_docker)
    assert mt.acceptable(mt.OCI_INDEX, None)
