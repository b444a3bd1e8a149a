"""What a retention policy removes, decided on facts alone (no database): the same function
answers the simulation and the run, so what a run removes is what the simulation showed.

A policy's rules, with keep winning over remove:
- tags are *candidates* when older than `remove_older_than_days` (pushed, i.e. last moved,
  that long ago) or, without that rule, when beyond the `keep_last` most recently pushed;
  with neither rule no tag is a candidate (keep rules alone remove nothing);
- a candidate stays when it is immutable, matches a `keep_patterns` entry (a glob, or a
  regular expression written `re:<expression>`, matched against the whole name), was pulled
  within `keep_pulled_days`, or is among the `keep_last` most recently pushed;
- a signature, attestation or SBOM of an image that keeps a tag stays with it (a cosign
  `sha256-<hex>.sig` tag, or a manifest whose `subject` is that image);
- untagged manifests (no tag, no index listing them, no subject in the repository) go
  `remove_untagged_after_days` after they lost their last tag, or after their push.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.auth.errors import InvalidRequest
from dockyard.metadata.queries.retention import TagFacts, UntaggedFacts
from dockyard.registry.delete_plans import COSIGN_SUFFIXES

__all__ = ["Decision", "Rules", "decide_tags", "decide_untagged"]

_DAY = 86_400
_REGEX_PREFIX = "re:"
_MAX_DAYS = 36_500


@dataclass(frozen=True, slots=True)
class Rules:
    keep_last: int | None = None
    keep_patterns: tuple[str, ...] = ()
    keep_pulled_days: int | None = None
    remove_older_than_days: int | None = None
    remove_untagged_after_days: int | None = None

    def validate(self) -> None:
        """InvalidRequest naming the first rule that cannot work."""
        if self.keep_last is not None and not 0 <= self.keep_last <= 1_000_000:
            raise InvalidRequest("keep_last must be between 0 and 1000000")
        for name in ("keep_pulled_days", "remove_older_than_days", "remove_untagged_after_days"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= _MAX_DAYS:
                raise InvalidRequest(f"{name} must be between 0 and {_MAX_DAYS} days")
        for pattern in self.keep_patterns:
            if not pattern.strip():
                raise InvalidRequest("keep_patterns entries cannot be empty")
            _matcher(pattern)

    @property
    def removes_tags(self) -> bool:
        return self.keep_last is not None or self.remove_older_than_days is not None

    def describe(self) -> str:
        """The rules in one line, for audit records and pages."""
        parts: list[str] = []
        if self.keep_last is not None:
            parts.append(f"keep the {self.keep_last} most recently pushed")
        if self.keep_patterns:
            parts.append("keep " + ", ".join(self.keep_patterns))
        if self.keep_pulled_days is not None:
            parts.append(f"keep pulled within {self.keep_pulled_days} d")
        if self.remove_older_than_days is not None:
            parts.append(f"remove older than {self.remove_older_than_days} d")
        if self.remove_untagged_after_days is not None:
            parts.append(f"remove untagged after {self.remove_untagged_after_days} d")
        return "; ".join(parts) or "no rules"


def _matcher(pattern: str) -> re.Pattern[str]:
    if pattern.startswith(_REGEX_PREFIX):
        try:
            return re.compile(pattern[len(_REGEX_PREFIX) :])
        except re.error as err:
            raise InvalidRequest(f"keep pattern {pattern!r} is not a valid regex: {err}") from None
    return re.compile(fnmatch.translate(pattern))


@dataclass(frozen=True, slots=True)
class Decision:
    tag: TagFacts
    goes: bool
    rule: str  # the rule that removes it, or the one that keeps it


def _cosign_subject(name: str) -> str | None:
    """`sha256-<hex>.sig` → `sha256:<hex>`."""
    for suffix in COSIGN_SUFFIXES:
        if name.endswith(suffix):
            algorithm, dash, hexpart = name[: -len(suffix)].partition("-")
            if dash and algorithm and hexpart:
                return f"{algorithm}:{hexpart}"
    return None


def _candidate(rules: Rules, tag: TagFacts, newest: set[str], now: int) -> str | None:
    if rules.remove_older_than_days is not None:
        if tag.pushed_at <= now - rules.remove_older_than_days * _DAY:
            return f"older than {rules.remove_older_than_days} days"
        return None
    if rules.keep_last is not None and tag.name not in newest:
        return f"beyond the {rules.keep_last} most recently pushed"
    return None


def _kept_by(
    rules: Rules, matchers: Sequence[tuple[str, re.Pattern[str]]], tag: TagFacts,
    newest: set[str], now: int,
) -> str | None:  # fmt: skip
    if tag.immutable:
        return "immutable tag"
    for pattern, matcher in matchers:
        if matcher.fullmatch(tag.name):
            return f"matches {pattern}"
    days = rules.keep_pulled_days
    pulled = tag.last_pulled_at
    if days is not None and pulled is not None and pulled >= now - days * _DAY:
        return f"pulled within {days} days"
    if tag.name in newest:
        return f"among the {rules.keep_last} most recently pushed"
    return None


def decide_tags(rules: Rules, tags: Sequence[TagFacts], now: int) -> list[Decision]:
    """One decision per tag, in name order."""
    by_recency = sorted(tags, key=lambda t: (-t.pushed_at, -t.tag_id, t.name))
    newest = {t.name for t in by_recency[: rules.keep_last or 0]}
    matchers = [(p, _matcher(p)) for p in rules.keep_patterns]
    decisions: dict[str, Decision] = {}
    for tag in sorted(tags, key=lambda t: t.name):
        kept = _kept_by(rules, matchers, tag, newest, now)
        removed = _candidate(rules, tag, newest, now) if kept is None else None
        if removed is not None:
            decisions[tag.name] = Decision(tag, True, removed)
        else:
            decisions[tag.name] = Decision(tag, False, kept or "no remove rule matches")
    # Accessories of images that keep a tag stay with them, whatever their own age.
    while True:
        kept_digests = {d.tag.digest for d in decisions.values() if not d.goes}
        freed = [
            d for d in decisions.values()
            if d.goes and (
                _cosign_subject(d.tag.name) in kept_digests
                or (d.tag.subject_digest is not None and d.tag.subject_digest in kept_digests)
            )
        ]  # fmt: skip
        if not freed:
            break
        for d in freed:
            decisions[d.tag.name] = Decision(d.tag, False, "accessory of a kept image")
    return [decisions[t.name] for t in sorted(tags, key=lambda t: t.name)]


def decide_untagged(
    rules: Rules, manifests: Sequence[UntaggedFacts], now: int
) -> list[tuple[UntaggedFacts, str]]:
    """The untagged manifests that go, with the rule."""
    days = rules.remove_untagged_after_days
    if days is None:
        return []
    cutoff = now - days * _DAY
    return [(m, f"untagged for {days} days") for m in manifests if m.untagged_since <= cutoff]
