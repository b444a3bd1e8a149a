"""What every management service needs: the database, this process's access cache, the
configured directories (to find people and groups who have not signed in yet) and who may
create namespaces."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dockyard.auth.ldap import Directory
from dockyard.auth.snapshot import AccessCache, AccessSnapshot
from dockyard.config import Settings
from dockyard.metadata.db import Database

__all__ = ["ManageContext"]


@dataclass(frozen=True)
class ManageContext:
    db: Database
    access: AccessCache
    directories: Sequence[Directory] = ()
    namespace_creation: Literal["everyone", "admins"] = "everyone"
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def from_settings(
        cls,
        db: Database,
        settings: Settings,
        *,
        access: AccessCache | None = None,
        directories: Sequence[Directory] | None = None,
    ) -> ManageContext:
        """A context on `db`; pass the worker's own cache and directories where they exist."""
        return cls(
            db=db,
            access=access if access is not None else AccessCache(db),
            directories=(
                directories
                if directories is not None
                else [Directory(config) for config in settings.directories]
            ),
            namespace_creation=settings.namespace_creation,
        )

    def now(self) -> int:
        return int(self.clock())

    def snapshot(self) -> AccessSnapshot:
        """Who may do what as of now (blocking): the access generation is checked on every
        call, so decisions never rest on a stale snapshot, which is reused while current."""
        return self.access.fresh()
