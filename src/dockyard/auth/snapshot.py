"""A per-worker, read-only picture of who may do what, reloaded when the access generation
moves (any change to users, groups, grants, policies, robots or tokens, in any process).

The permission check reads only this: no query per request on the hot path.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

import anyio

from dockyard.auth.roles import Policy, Role, stronger
from dockyard.metadata.db import Database
from dockyard.metadata.queries.access import (
    AccessRows,
    MaintenanceRow,
    load_access_rows,
    read_generation,
)

__all__ = ["AccessCache", "AccessSnapshot"]


@dataclass(frozen=True, slots=True)
class AccessSnapshot:
    generation: int
    users: dict[int, tuple[bool, bool]] = field(default_factory=dict)  # is_admin, disabled
    robots: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)
    groups_of: dict[int, frozenset[int]] = field(default_factory=dict)
    # principal key ("u3", "g2", "r5") -> namespace or repository name -> role
    namespace_roles: dict[str, dict[str, Role]] = field(default_factory=dict)
    repository_roles: dict[str, dict[str, Role]] = field(default_factory=dict)
    namespace_policies: dict[str, Policy] = field(default_factory=dict)
    repository_policies: dict[str, Policy] = field(default_factory=dict)
    maintenance: MaintenanceRow = field(default_factory=MaintenanceRow)  # the stored switch

    @staticmethod
    def from_rows(rows: AccessRows) -> AccessSnapshot:
        groups_of: defaultdict[int, set[int]] = defaultdict(set)
        for user_id, group_id in rows.members:
            groups_of[user_id].add(group_id)
        namespace_roles: defaultdict[str, dict[str, Role]] = defaultdict(dict)
        repository_roles: defaultdict[str, dict[str, Role]] = defaultdict(dict)
        for grant in rows.grants:
            role = Role(grant.role)
            if grant.namespace is not None:
                namespace_roles[grant.principal_key][grant.namespace] = role
            elif grant.repository is not None:
                repository_roles[grant.principal_key][grant.repository] = role
        return AccessSnapshot(
            generation=rows.generation,
            users={uid: (admin, disabled) for uid, admin, disabled in rows.users},
            robots={rid: (expires, revoked) for rid, expires, revoked in rows.robots},
            groups_of={uid: frozenset(gids) for uid, gids in groups_of.items()},
            namespace_roles=dict(namespace_roles),
            repository_roles=dict(repository_roles),
            namespace_policies={name: Policy(p) for name, p in rows.namespace_policies},
            repository_policies={name: Policy(p) for name, p in rows.repository_policies},
            maintenance=rows.maintenance,
        )

    def role_from_grants(
        self, keys: list[str], namespace: str, repository: str | None
    ) -> Role | None:
        role: Role | None = None
        for key in keys:
            role = stronger(role, self.namespace_roles.get(key, {}).get(namespace))
            if repository is not None:
                role = stronger(role, self.repository_roles.get(key, {}).get(repository))
        return role

    def policy_of(self, namespace: str, repository: str) -> Policy:
        """A repository's own policy, else its namespace's, else private."""
        own = self.repository_policies.get(repository)
        if own is not None:
            return own
        return self.namespace_policies.get(namespace, Policy.PRIVATE)


class AccessCache:
    """Holds this worker's snapshot. `current()` is for the event loop; `load()` for threads
    (commands and admin API handlers that already run off the loop)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._snapshot = AccessSnapshot(generation=-1)
        self._data_version = -1
        self._reloading: asyncio.Future[AccessSnapshot] | None = None

    def _load(self) -> AccessSnapshot:
        with self._db.read() as conn:
            return AccessSnapshot.from_rows(load_access_rows(conn))

    def load(self) -> AccessSnapshot:
        """A fresh snapshot, read now (blocking)."""
        return self._load()

    def latest(self) -> AccessSnapshot:
        """The snapshot held now, without asking the database: for code that runs right
        after `current()` in the same request (the console's navigation links)."""
        return self._snapshot

    def fresh(self) -> AccessSnapshot:
        """The current snapshot, for threads (blocking): the access generation is read from
        the database on every call, and the snapshot is reloaded only when it moved."""
        with self._db.read() as conn:
            generation = read_generation(conn)
        snapshot = self._snapshot
        if snapshot.generation == generation:
            return snapshot
        snapshot = self._load()
        if snapshot.generation > self._snapshot.generation:
            self._snapshot = snapshot  # the event loop's next current() reuses it
        return snapshot

    async def current(self) -> AccessSnapshot:
        data_version = self._db.generation()
        if data_version == self._data_version:
            return self._snapshot
        if self._db.access_generation() == self._snapshot.generation:
            self._data_version = data_version
            return self._snapshot
        if self._reloading is not None:  # single flight: one reload however many requests
            return await self._reloading
        future: asyncio.Future[AccessSnapshot] = asyncio.get_running_loop().create_future()
        self._reloading = future
        try:
            snapshot = await anyio.to_thread.run_sync(self._load)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            self._reloading = None
        # Set data_version only after the load: a commit during it is seen next time.
        self._snapshot, self._data_version = snapshot, data_version
        future.set_result(snapshot)
        return snapshot
