"""The gates into an environment (Settings.environments[].gates), decided on facts read
before a promotion: labels and annotations, referrer artifact types, how long the image
has been in the environment before, and approvals by a named group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.config import GateConfig

__all__ = ["GateFacts", "GateResult", "decide"]


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: str  # "label", "referrer", "time", "approval"
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"gate": self.gate, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class GateFacts:
    """What the gates look at, for one image (an index: every platform's labels)."""

    annotations: dict[str, str]
    labels: Sequence[dict[str, str]]  # one per platform image (one for an image)
    referrer_types: frozenset[str]
    hours_in_source: float
    approvers: Sequence[str]  # who of the approval group approved it for the target


def _has_label(facts: GateFacts, wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    if key in facts.annotations and (not sep or facts.annotations[key] == value):
        return True
    if not facts.labels:
        return False
    return all(key in labels and (not sep or labels[key] == value) for labels in facts.labels)


def decide(gates: GateConfig, facts: GateFacts, source_environment: str) -> list[GateResult]:
    """Every gate of the target environment, passed or not, in a fixed order."""
    results: list[GateResult] = []
    for wanted in gates.labels:
        ok = _has_label(facts, wanted)
        missing = "" if ok else " is missing"
        results.append(GateResult("label", ok, f"label or annotation {wanted}{missing}"))
    for artifact_type in gates.referrer_types:
        ok = artifact_type in facts.referrer_types
        missing = "" if ok else " is missing (sign it, or attach it)"
        results.append(GateResult("referrer", ok, f"a referrer of type {artifact_type}{missing}"))
    hours = gates.min_hours_in_previous
    if hours > 0:
        ok = facts.hours_in_source >= hours
        detail = f"{facts.hours_in_source:.1f} h in {source_environment}, {hours:g} h needed"
        results.append(GateResult("time", ok, detail))
    if gates.approval_group:
        group = gates.approval_group
        if facts.approvers:
            results.append(
                GateResult("approval", True, f"approved by {', '.join(facts.approvers)} ({group})")
            )
        else:
            results.append(
                GateResult("approval", False, f"not yet approved by a member of {group}")
            )
    return results
