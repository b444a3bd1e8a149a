"""Docker token scopes: `type[(class)]:name:action,action` (distribution's scope.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ALL_ACTIONS", "MAX_SCOPES", "Scope", "parse_scopes"]

ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})
MAX_SCOPES = 32  # pitfalls §8: bound what one token request may ask for


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: frozenset[str]

    def render(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def _parse_one(text: str) -> Scope | None:
    # The name may hold host:port, so the type ends at the first colon and the actions
    # start after the last one.
    first, last = text.find(":"), text.rfind(":")
    if first <= 0 or last == first:
        return None
    scope_type = text[:first].split("(", 1)[0]  # "(class)" is deprecated and ignored
    name = text[first + 1 : last]
    actions = frozenset(a for a in text[last + 1 :].split(",") if a)
    if not name or not actions:
        return None
    return Scope(scope_type, name, actions)


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes from repeated `scope` parameters, each possibly holding several separated by
    spaces (the conformance suite sends two in one). Unparseable entries are ignored, as
    the token spec grants the intersection of what is asked and what is allowed."""
    scopes: list[Scope] = []
    for value in values:
        for item in value.split():
            scope = _parse_one(item)
            if scope is not None:
                scopes.append(scope)
    return scopes[:MAX_SCOPES]
