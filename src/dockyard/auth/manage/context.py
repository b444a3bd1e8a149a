"""What every management service needs: the database, this process's access cache, the
blob store (image configs to show, layers to purge), the configured directories (to find
people and groups who have not signed in yet) and who may create namespaces."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dockyard.auth.ldap import Directory
from dockyard.auth.maintenance import refuse_if_read_only
from dockyard.auth.snapshot import AccessCache, AccessSnapshot
from dockyard.config import EnvironmentConfig, GcSettings, Settings
from dockyard.metadata.db import Database
from dockyard.storage.base import BlobStore
from dockyard.storage.configured import configured_store

__all__ = ["ManageContext"]


@dataclass(frozen=True)
class ManageContext:
    db: Database
    access: AccessCache
    store: BlobStore | None = None  # None only in tests that never read blobs
    directories: Sequence[Directory] = ()
    namespace_creation: Literal["everyone", "admins"] = "everyone"
    clock: Callable[[], float] = field(default=time.time)
    undo_seconds: int = 600  # how long a delete may be undone (Settings.undo_seconds)
    gc: GcSettings = field(default_factory=GcSettings)
    retention_restore_seconds: int = 14 * 86_400  # a retention removal may be restored
    retention_interval_seconds: int = 86_400  # enabled policies run this often (0: never)
    # Told about every finished garbage collection run (mode, figures, seconds): metrics.
    gc_observer: Callable[[str, dict[str, int], float], None] | None = None
    read_only: bool = False  # the `read_only` setting: maintenance mode whatever the switch
    environments: tuple[EnvironmentConfig, ...] = field(  # the release flow, in order
        default_factory=lambda: tuple(
            Settings.model_fields["environments"].get_default(call_default_factory=True)
        )
    )
    webhook_retry_seconds: int = 86_400  # a redelivery is retried this long (webhook_max_age)

    @classmethod
    def from_settings(
        cls,
        db: Database,
        settings: Settings,
        *,
        access: AccessCache | None = None,
        store: BlobStore | None = None,
        directories: Sequence[Directory] | None = None,
        gc_observer: Callable[[str, dict[str, int], float], None] | None = None,
    ) -> ManageContext:
        """A context on `db`; pass the worker's own cache and directories where they exist."""
        return cls(
            db=db,
            access=access if access is not None else AccessCache(db),
            store=(store if store is not None else configured_store(settings)),
            directories=(
                directories
                if directories is not None
                else [Directory(config) for config in settings.directories]
            ),
            namespace_creation=settings.namespace_creation,
            undo_seconds=settings.undo_seconds,
            gc=settings.gc,
            retention_restore_seconds=settings.retention_restore_days * 86_400,
            retention_interval_seconds=settings.retention_interval_minutes * 60,
            gc_observer=gc_observer,
            read_only=settings.read_only,
            environments=tuple(settings.environments),
            webhook_retry_seconds=settings.webhook_max_age_seconds,
        )

    def now(self) -> int:
        return int(self.clock())

    def snapshot(self) -> AccessSnapshot:
        """Who may do what as of now (blocking): the access generation is checked on every
        call, so decisions never rest on a stale snapshot, which is reused while current."""
        return self.access.fresh()

    def refuse_if_read_only(self) -> None:
        """ReadOnly when maintenance mode is on (read fresh): for pushes and deletes."""
        refuse_if_read_only(self.snapshot(), self.read_only)
