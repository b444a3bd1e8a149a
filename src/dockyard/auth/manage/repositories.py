"""Repositories as people manage them: listed (only what the caller may read), created
ahead of the first push, and given a policy of their own."""

from __future__ import annotations

from dockyard.auth.errors import AlreadyExists, NotFound
from dockyard.auth.manage._checks import (
    at_least,
    may_create_namespaces,
    record,
    refuse,
    require_active,
)
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.namespaces import add_namespace
from dockyard.auth.manage.references import TargetKind, TargetRef
from dockyard.auth.manage.views import RepositoryPage, RepositoryView
from dockyard.auth.permissions import namespace_of, namespace_role, readable, role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Policy, Role
from dockyard.metadata.queries import namespaces, repositories
from dockyard.metadata.queries.access import bump_generation
from dockyard.metadata.queries.repository_details import (
    RepositoryOrder,
    RepositoryRow,
    cursor_of,
    repository_detail,
    repository_page,
    set_repository_policy,
)

__all__ = [
    "MAX_PAGE",
    "RepositoryOrder",
    "create_repository",
    "get_repository",
    "list_repositories",
    "set_policy",
]

MAX_PAGE = 1000


def _view(row: RepositoryRow) -> RepositoryView:
    return RepositoryView(
        row.name, row.namespace, row.policy, row.effective_policy, row.created_at, row.pushed_at,
        row.stored_bytes,
    )  # fmt: skip


def list_repositories(
    ctx: ManageContext,
    actor: Principal,
    namespace: str | None = None,
    last: str | None = None,
    n: int = 100,
    order: RepositoryOrder = RepositoryOrder.NAME,
) -> RepositoryPage:
    """A page of readable repositories in `order` (by name unless told), after `last`."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    limit = max(1, min(n, MAX_PAGE))
    with ctx.db.read() as conn:
        rows = repository_page(conn, readable(snapshot, actor), namespace, last, limit + 1, order)
    more = len(rows) > limit
    rows = rows[:limit]
    views = [_view(row) for row in rows]
    return RepositoryPage(views, cursor_of(rows[-1], order) if more else None)


def get_repository(ctx: ManageContext, actor: Principal, name: str) -> RepositoryView:
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    row = None
    if role_on(snapshot, actor, name) is not None:
        with ctx.db.read() as conn:
            row = repository_detail(conn, name)
    if row is None:
        raise NotFound(f"repository {name} not found")
    return _view(row)


def create_repository(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    name: str,
    policy: Policy | None = None,
) -> RepositoryView:
    """A repository before its first push, so that grants can name it. Needs write on its
    namespace; a namespace that does not exist yet is created (with the caller as its admin)
    if the caller may create namespaces. `name` must already follow the OCI name grammar
    (the faces check it)."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    namespace = namespace_of(name)
    now = ctx.now()
    with ctx.db.write() as conn:
        if namespaces.namespace_by_name(conn, namespace) is None:
            if not may_create_namespaces(ctx, snapshot, actor):
                # The answer of an existing namespace the caller may not see (no oracle).
                raise NotFound(f"namespace {namespace} not found")
            add_namespace(conn, ctx, actor, address, namespace, Policy.PRIVATE)
        elif not at_least(namespace_role(snapshot, actor, namespace), Role.WRITE):
            refuse(conn, snapshot, actor, TargetRef(TargetKind.NAMESPACE, namespace), Role.WRITE)
        if repositories.repository_id(conn, name) is not None:
            raise AlreadyExists(f"repository {name} exists")
        repository_id = repositories.ensure_repository(conn, name, namespace, now)
        if policy is not None:
            set_repository_policy(conn, repository_id, policy.value)
        bump_generation(conn)
        record(
            conn,
            ctx,
            actor,
            address,
            "repository.create",
            f"repository:{name}",
            {"policy": policy.value if policy else None},
        )
        row = repository_detail(conn, name)
    if row is None:  # pragma: no cover - inserted in the same transaction
        raise RuntimeError(f"repository {name} vanished")
    return _view(row)


def set_policy(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    name: str,
    policy: Policy | None,
) -> RepositoryView:
    """Repository admins. None: follow the namespace's policy again."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    target = TargetRef(TargetKind.REPOSITORY, name)
    with ctx.db.write() as conn:
        if role_on(snapshot, actor, name) is not Role.ADMIN:
            refuse(conn, snapshot, actor, target, Role.ADMIN)
        row = repository_detail(conn, name)
        if row is None:
            raise NotFound(f"repository {name} not found")
        set_repository_policy(conn, row.id, policy.value if policy else None)
        bump_generation(conn)
        record(
            conn,
            ctx,
            actor,
            address,
            "repository.policy",
            f"repository:{name}",
            {"policy": policy.value if policy else None, "was": row.policy},
        )
        after = repository_detail(conn, name)
    if after is None:  # pragma: no cover - updated in the same transaction
        raise RuntimeError(f"repository {name} vanished")
    return _view(after)
