"""Who is asking: a signed-in identity or nobody."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller. `subject` is stable across renames and qualified by source (`local:3`)."""

    subject: str
    name: str
    is_admin: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.subject == ""


ANONYMOUS = Principal(subject="", name="")
