"""What garbage collection removes: one set of rules. The dry run applies them to what it
would remove; the real run applies the manifest rules to its candidates, then has each
delete re-check them in SQL, and states the blob rules in SQL alone
(`collect._remove_in`).

A manifest goes when no tag names it, no index that stays lists it, its subject (if in the
repository) goes too, it became unreachable at least `grace` ago, no client touched it
within `max(grace, in-flight)`, and no delete of it may still be undone. A link goes when
no manifest that stays uses the blob in that repository and no client was told of it within
`max(grace, in-flight)`; a blob goes with its last link.
"""

from __future__ import annotations

import enum
from collections.abc import Container
from dataclasses import dataclass

from dockyard.config import GcSettings
from dockyard.metadata.queries.gc_review import BlobFacts, LinkFacts, ManifestFacts

__all__ = ["Cutoffs", "Verdict", "blob_verdicts", "manifest_verdict"]


class Verdict(enum.Enum):
    REMOVE = "remove"
    """Unreachable, old enough, untouched: it goes."""
    REACHABLE = "reachable"
    """Something keeps it: it leaves the queue (whatever releases it enqueues it again)."""
    WAIT = "wait"
    """Unreachable but touched recently, or a delete of it may be undone: it stays queued."""


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """The instants a run compares with, fixed when it starts."""

    now: int
    unreachable_by: int  # now - grace: unreachable at or before this, it may go
    touched_by: int  # now - max(grace, in-flight window): touched after this, it stays
    undo_after: int  # delete records at or after this may still be undone
    uploads_by: int  # upload sessions idle since this (or earlier) have expired
    untagged: bool

    @classmethod
    def at(cls, now: int, grace: int, settings: GcSettings, undo_seconds: int) -> Cutoffs:
        return cls(
            now=now,
            unreachable_by=now - grace,
            touched_by=now - max(grace, settings.in_flight_seconds),
            undo_after=now - undo_seconds,
            uploads_by=now - settings.upload_expiry_seconds,
            untagged=settings.untagged,
        )


def manifest_verdict(
    facts: ManifestFacts, since: int, touched: int, doomed: Container[int], cut: Cutoffs
) -> Verdict:
    """`since`/`touched`: the queue row's times (a dry run's cascade supplies its own);
    `doomed`: manifests that go in this run."""
    if facts.tagged or any(parent not in doomed for parent in facts.parents):
        return Verdict.REACHABLE
    if facts.subject_id is not None and facts.subject_id not in doomed:
        return Verdict.REACHABLE
    if since > cut.unreachable_by or touched > cut.touched_by or facts.undo_pending:
        return Verdict.WAIT
    return Verdict.REMOVE


def _link_verdict(link: LinkFacts, doomed: Container[int], cut: Cutoffs) -> Verdict:
    if any(user not in doomed for user in link.users):
        return Verdict.REACHABLE
    if link.linked_at > cut.touched_by:
        return Verdict.WAIT
    return Verdict.REMOVE


@dataclass(frozen=True, slots=True)
class BlobVerdict:
    links: tuple[tuple[LinkFacts, Verdict], ...]
    remove_blob: bool  # every link goes (or there was none) and a row exists
    keep_queued: bool  # an unused link waits out the in-flight window


def blob_verdicts(facts: BlobFacts, doomed: Container[int], cut: Cutoffs) -> BlobVerdict:
    links = tuple((link, _link_verdict(link, doomed, cut)) for link in facts.links)
    every_link_goes = all(verdict is Verdict.REMOVE for _, verdict in links)
    return BlobVerdict(
        links=links,
        remove_blob=every_link_goes and facts.size is not None,
        keep_queued=any(verdict is Verdict.WAIT for _, verdict in links),
    )


def parents_first(doomed: dict[int, ManifestFacts]) -> list[int]:
    """Doomed manifests ordered so that an index comes before what it lists and a subject
    before its referrers: each delete then finds nothing left holding its manifest."""
    order: list[int] = []
    placed: set[int] = set()
    remaining = dict(doomed)
    while remaining:
        ready = sorted(
            i
            for i, f in remaining.items()
            if all(p in placed or p not in doomed for p in f.parents)
            and (f.subject_id is None or f.subject_id in placed or f.subject_id not in doomed)
        )
        if not ready:  # cannot happen with content-addressed references; stay safe
            ready = sorted(remaining)
        for i in ready:
            order.append(i)
            placed.add(i)
            del remaining[i]
    return order
