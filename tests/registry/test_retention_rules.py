"""Retention rules on facts alone: which tags are candidates, which keep rule wins."""

from __future__ import annotations

import pytest

from dockyard.auth.errors import InvalidRequest
from dockyard.metadata.queries.retention import TagFacts, UntaggedFacts
from dockyard.registry.retention.rules import Rules, decide_tags, decide_untagged

NOW = 1_000 * 86_400
DAY = 86_400


def _tag(
    name: str, age_days: float, *, pulled_days_ago: float | None = None, **kw: object
) -> TagFacts:
    digest = kw.pop("digest", f"sha256:{abs(hash(name)):064x}"[:71])
    return TagFacts(
        name=name,
        manifest_id=abs(hash(name)) % 10_000,
        digest=str(digest),
        media_type="application/vnd.oci.image.manifest.v1+json",
        subject_digest=kw.get("subject"),  # type: ignore[arg-type]
        pushed_at=int(NOW - age_days * DAY),
        last_pulled_at=None if pulled_days_ago is None else int(NOW - pulled_days_ago * DAY),
        immutable=bool(kw.get("immutable", False)),
        listed_by_index=False,
    )


def _gone(rules: Rules, tags: list[TagFacts]) -> dict[str, str]:
    return {d.tag.name: d.rule for d in decide_tags(rules, tags, NOW) if d.goes}


def test_keep_rules_alone_remove_nothing() -> None:
    tags = [_tag(f"t{i}", i) for i in range(10)]
    assert _gone(Rules(keep_patterns=("t1*",), keep_pulled_days=3), tags) == {}


def test_keep_last_alone_removes_all_but_the_newest() -> None:
    tags = [_tag(f"t{i}", i) for i in range(5)]
    assert _gone(Rules(keep_last=2), tags) == {
        f"t{i}": "beyond the 2 most recently pushed" for i in (2, 3, 4)
    }


def test_older_than_with_keep_last_keeps_the_newest_even_when_old() -> None:
    tags = [_tag("new", 1), _tag("old-a", 40), _tag("old-b", 50), _tag("old-c", 60)]
    gone = _gone(Rules(keep_last=2, remove_older_than_days=30), tags)
    assert gone == {"old-b": "older than 30 days", "old-c": "older than 30 days"}


def test_keep_wins_pattern_regex_pull_and_immutable() -> None:
    tags = [
        _tag("release-1", 90),
        _tag("v2.0", 90),
        _tag("v2.1", 90),
        _tag("pulled", 90, pulled_days_ago=2),
        _tag("stale-pull", 90, pulled_days_ago=20),
        _tag("pinned", 90, immutable=True),
    ]
    rules = Rules(
        keep_patterns=("release-*", r"re:v\d+\.0"),
        keep_pulled_days=7,
        remove_older_than_days=30,
    )
    decisions = {d.tag.name: d for d in decide_tags(rules, tags, NOW)}
    assert {n for n, d in decisions.items() if d.goes} == {"v2.1", "stale-pull"}
    assert decisions["release-1"].rule == "matches release-*"
    assert decisions["v2.0"].rule == r"matches re:v\d+\.0"
    assert decisions["pulled"].rule == "pulled within 7 days"
    assert decisions["pinned"].rule == "immutable tag"


def test_a_regex_matches_the_whole_name() -> None:
    tags = [_tag("v1-rc", 90), _tag("v1", 90)]
    assert set(_gone(Rules(keep_patterns=("re:v[0-9]+",), remove_older_than_days=1), tags)) == {
        "v1-rc"
    }


def test_signatures_of_kept_images_stay() -> None:
    image = _tag("app", 1, digest="sha256:" + "a" * 64)
    signature = _tag("sha256-" + "a" * 64 + ".sig", 90)
    referrer = _tag("sbom", 90, subject="sha256:" + "a" * 64)
    orphan = _tag("sha256-" + "b" * 64 + ".sig", 90)
    decisions = {
        d.tag.name: d
        for d in decide_tags(
            Rules(remove_older_than_days=30), [image, signature, referrer, orphan], NOW
        )
    }
    assert not decisions[signature.name].goes
    assert decisions[signature.name].rule == "accessory of a kept image"
    assert not decisions["sbom"].goes
    assert decisions[orphan.name].goes


def test_untagged_after_days() -> None:
    manifests = [
        UntaggedFacts(1, "sha256:" + "1" * 64, "m", NOW - 11 * DAY),
        UntaggedFacts(2, "sha256:" + "2" * 64, "m", NOW - 9 * DAY),
    ]
    assert [m.manifest_id for m, _ in decide_untagged(Rules(), manifests, NOW)] == []
    gone = decide_untagged(Rules(remove_untagged_after_days=10), manifests, NOW)
    assert [(m.manifest_id, rule) for m, rule in gone] == [(1, "untagged for 10 days")]


@pytest.mark.parametrize(
    "rules",
    [
        Rules(keep_patterns=("re:(",)),
        Rules(keep_patterns=("",)),
        Rules(keep_last=-1),
        Rules(remove_older_than_days=-3),
    ],
)
def test_invalid_rules_are_refused(rules: Rules) -> None:
    with pytest.raises(InvalidRequest):
        rules.validate()
