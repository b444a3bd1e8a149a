"""Console sessions on a real migrated database: stored hashed, rotated, revocable, and
ended by idle time, by lifetime and by disabling the user (pitfalls §28)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio
import pytest

from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session, SessionService
from dockyard.auth.snapshot import AccessCache
from dockyard.metadata.db import Database
from dockyard.metadata.queries import users
from dockyard.metadata.queries.access import bump_generation
from fixtures.manage import add_user
from fixtures.sql import run_sql

T = TypeVar("T")


def run(call: Callable[[], Awaitable[T]]) -> T:
    # A thread of its own: a browser test in the same session may hold this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, call).result()


def _service(db: Database, idle_seconds: int = 1800, lifetime: int = 3600) -> SessionService:
    return SessionService(db, AccessCache(db), idle_seconds=idle_seconds, lifetime_seconds=lifetime)


def _start(service: SessionService, who: Principal) -> tuple[str, Session]:
    return run(lambda: service.start(who, "192.0.2.7", "pytest-browser/1.0"))


def _rows(db: Database) -> list[tuple[str, int, int, int]]:
    with db.read() as conn:
        result = run_sql(
            conn, "SELECT id_hash, user_id, last_seen_at, expires_at FROM console_session"
        )
        return [(r[0], r[1], r[2], r[3]) for r in result]


def test_a_session_resolves_to_its_user_and_only_its_hash_is_stored(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db)
    session_id, started = _start(service, jane)
    assert len(session_id) >= 43  # 32 random bytes, base64url
    rows = _rows(db)
    assert [row[0] for row in rows] == [hashlib.sha256(session_id.encode()).hexdigest()]
    assert session_id not in repr(rows)
    resolved = run(lambda: service.resolve(session_id))
    assert resolved is not None
    assert resolved.principal == jane
    assert resolved.principal.name == "jane"
    assert resolved.csrf_token == started.csrf_token
    assert len(resolved.csrf_token) >= 43


def test_each_sign_in_gets_a_new_id_and_csrf_token(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db)
    first_id, first = _start(service, jane)
    second_id, second = _start(service, jane)
    assert first_id != second_id
    assert first.csrf_token != second.csrf_token


@pytest.mark.parametrize("bad", ["", "x" * 200, "not-a-session"])
def test_unknown_ids_resolve_to_nothing(db: Database, bad: str) -> None:
    assert run(lambda: _service(db).resolve(bad)) is None


def test_ending_a_session_deletes_it(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db)
    session_id, _ = _start(service, jane)
    assert run(lambda: service.end(session_id))
    assert run(lambda: service.resolve(session_id)) is None
    assert _rows(db) == []
    assert not run(lambda: service.end(session_id))


def test_an_idle_session_ends_and_its_row_is_deleted(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db, idle_seconds=60)
    session_id, _ = _start(service, jane)
    with db.write() as conn:  # as if last seen two minutes ago
        run_sql(conn, "UPDATE console_session SET last_seen_at = last_seen_at - 120")
    assert run(lambda: service.resolve(session_id)) is None
    assert _rows(db) == []


def test_a_session_ends_at_its_absolute_lifetime_even_when_busy(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db, idle_seconds=1800, lifetime=3600)
    session_id, started = _start(service, jane)
    assert started.expires_at - started.created_at == 3600
    with db.write() as conn:  # created 2 h ago, used a second ago
        run_sql(
            conn,
            "UPDATE console_session SET created_at = created_at - 7200, "
            "expires_at = expires_at - 7200",
        )
    assert run(lambda: service.resolve(session_id)) is None


def test_resolving_refreshes_the_idle_clock(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db, idle_seconds=600)
    session_id, _ = _start(service, jane)
    with db.write() as conn:
        run_sql(conn, "UPDATE console_session SET last_seen_at = last_seen_at - 300")
    assert run(lambda: service.resolve(session_id)) is not None
    [(_, _, last_seen, _)] = _rows(db)
    assert last_seen >= int(time.time()) - 5


def test_expired_sessions_are_swept_at_the_next_sign_in(db: Database) -> None:
    jane, greg = add_user(db, "jane"), add_user(db, "greg")
    service = _service(db, idle_seconds=60)
    _start(service, jane)
    with db.write() as conn:
        run_sql(conn, "UPDATE console_session SET last_seen_at = last_seen_at - 120")
    _start(service, greg)
    assert [row[1] for row in _rows(db)] == [greg.id]


def test_a_disabled_user_is_signed_out_on_the_next_request(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db)
    session_id, _ = _start(service, jane)
    with db.write() as conn:
        users.update_user(conn, jane.id, disabled=True)
        bump_generation(conn)
    assert run(lambda: service.resolve(session_id)) is None
    with db.write() as conn:  # re-enabling does not revive the session
        users.update_user(conn, jane.id, disabled=False)
        bump_generation(conn)
    assert run(lambda: service.resolve(session_id)) is None


def test_deleting_a_user_deletes_their_sessions(db: Database) -> None:
    jane = add_user(db, "jane")
    service = _service(db)
    session_id, _ = _start(service, jane)
    with db.write() as conn:
        users.delete_user(conn, jane.id)
        bump_generation(conn)
    assert _rows(db) == []
    assert run(lambda: service.resolve(session_id)) is None


def test_robots_cannot_hold_console_sessions(db: Database) -> None:
    with pytest.raises(ValueError, match="only users"):
        _start(_service(db), Principal.robot(1, "robot$ci"))
