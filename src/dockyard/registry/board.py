"""The environments board: per application, what each environment holds (its most
recently pushed or promoted tag and digest), which environment holds a digest the next one
does not have yet (waiting for promotion), and the application's last promotion. Only what
the caller may read; a page of applications at a time, in three queries whatever the size
of the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.manage._checks import require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import readable, role_on
from dockyard.auth.principals import Principal
from dockyard.metadata.queries import board as q
from dockyard.metadata.queries import promotions as promotion_queries
from dockyard.registry.promotion import PromotionResult, history

__all__ = ["BOARD_PAGE_SIZE", "Board", "BoardCell", "BoardRow", "environments_board"]

BOARD_PAGE_SIZE = 100
_HISTORY = 20


@dataclass(frozen=True, slots=True)
class BoardCell:
    environment: str
    repository: str
    tag: str | None  # None: nothing (that the caller may read) in this environment
    digest: str | None
    updated_at: int | None
    waiting: bool  # holds a digest the next environment does not have


@dataclass(frozen=True, slots=True)
class BoardRow:
    application: str
    cells: tuple[BoardCell, ...]
    last_promotion_at: int | None


@dataclass(frozen=True, slots=True)
class Board:
    environments: tuple[str, ...]
    rows: tuple[BoardRow, ...]
    total: int
    offset: int
    page_size: int
    history: tuple[PromotionResult, ...]  # the latest promotions of the page's applications


def environments_board(
    ctx: ManageContext,
    caller: Principal,
    *,
    contains: str | None = None,
    offset: int = 0,
    page_size: int = BOARD_PAGE_SIZE,
) -> Board:
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    names = tuple(environment.name for environment in ctx.environments)
    filter_ = readable(snapshot, caller)
    with ctx.db.read() as conn:
        apps = q.applications(
            conn, names, filter_, contains=contains, offset=offset, limit=page_size
        )
        total = q.count_applications(conn, names, filter_, contains)
        wanted = [f"{env}/{app}" for app in apps for env in names]
        visible = [r for r in wanted if role_on(snapshot, caller, r) is not None]
        latest = q.latest_tags(conn, visible)
        following = [
            (f"{names[i + 1]}/{app}", latest[f"{env}/{app}"].digest)
            for app in apps
            for i, env in enumerate(names[:-1])
            if f"{env}/{app}" in latest
        ]
        present = q.present(conn, following)
        promoted = promotion_queries.latest_by_application(conn, apps)
    last: dict[str, int] = {}
    for row in promoted:
        last.setdefault(row.application, row.at)
    rows = []
    for app in apps:
        cells = []
        for i, env in enumerate(names):
            repository = f"{env}/{app}"
            held = latest.get(repository)
            waiting = (
                held is not None
                and i + 1 < len(names)
                and (f"{names[i + 1]}/{app}", held.digest) not in present
            )
            cells.append(BoardCell(
                env, repository, held.tag if held else None, held.digest if held else None,
                held.updated_at if held else None, waiting,
            ))  # fmt: skip
        rows.append(BoardRow(app, tuple(cells), last.get(app)))
    recent = history(ctx, caller, limit=_HISTORY) if apps else []
    in_page = set(apps)
    return Board(
        names, tuple(rows), total, offset, page_size,
        tuple(p for p in recent if p.application in in_page),
    )  # fmt: skip
