"""Retention policies: which tags and untagged images go, simulated before they run, soft
deletes restorable for a window, runs on the server's schedule (docs/design.md). `rules`
decides, `policies` stores, `runs` simulates, applies and restores."""

from dockyard.registry.retention.policies import (
    Policy,
    Scope,
    delete_policy,
    get_policy,
    list_policies,
    set_policy,
)
from dockyard.registry.retention.rules import Rules
from dockyard.registry.retention.runs import (
    ApplyResult,
    Removal,
    RemovedTag,
    Simulation,
    apply,
    removals,
    restore,
    run_scheduled,
    simulate,
)

__all__ = [
    "ApplyResult",
    "Policy",
    "Removal",
    "RemovedTag",
    "Rules",
    "Scope",
    "Simulation",
    "apply",
    "delete_policy",
    "get_policy",
    "list_policies",
    "removals",
    "restore",
    "run_scheduled",
    "set_policy",
    "simulate",
]
