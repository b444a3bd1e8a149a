"""Sign-in against a real database and a real slapd: which identity a login name means,
directory accounts linked on their stable id, groups from the directory, backoff, and a
directory that cannot be reached (pitfalls §23-25)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dockyard.auth.bootstrap import bootstrap_admin
from dockyard.auth.ldap import Directory
from dockyard.auth.principals import PrincipalKind
from dockyard.auth.sign_in import SignIn, SignInPolicy, SignInRefused
from dockyard.config import DirectoryConfig
from dockyard.metadata.db import Database
from fixtures.slapd import Slapd
from fixtures.sql import run_sql

ADMIN_PASSWORD = "the-local-admin-pw"  # noqa: S105 - a test account


@pytest.fixture
def db(db: Database, tmp_path: Path) -> Database:
    """The suite's per-test database, with the initial local admin."""
    bootstrap_admin(db, ADMIN_PASSWORD, tmp_path)
    return db


def _sign_in(db: Database, *configs: DirectoryConfig, limit: int = 10) -> SignIn:
    policy = SignInPolicy(failure_limit=limit, backoff_seconds=30)
    return SignIn(db, [Directory(c) for c in configs], policy)


def _rows(db: Database, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with db.read() as conn:
        return [tuple(row) for row in run_sql(conn, sql, params)]


def test_directory_user_appears_at_first_sign_in_with_groups(db: Database, slapd: Slapd) -> None:
    sign_in = _sign_in(db, DirectoryConfig(**slapd.directory_config()))
    verified = sign_in.check("Jane", slapd.passwords["jane"], "10.0.0.1")
    assert verified is not None
    principal = verified.principal
    assert (principal.kind, principal.name, principal.is_admin) == (
        PrincipalKind.USER, "hackershop\\jane", False,
    )  # fmt: skip
    users = _rows(db, "SELECT source, name, external_id FROM \"user\" WHERE source = 'hackershop'")
    assert [(s, n) for s, n, _ in users] == [("hackershop", "jane")]
    assert users[0][2]  # linked on entryUUID
    query = "SELECT g.name FROM group_member m JOIN user_group g ON g.id = m.group_id "
    groups = _rows(db, query + "WHERE m.user_id = ?", (principal.id,))
    assert groups == [("devops",)]
    again = sign_in.check("hackershop\\jane", slapd.passwords["jane"], "10.0.0.1")
    assert again is not None
    assert again.principal.subject == principal.subject
    events = _rows(db, "SELECT actor, action, address FROM audit_event "
                       "WHERE action LIKE 'login.%'")  # fmt: skip
    assert ("hackershop\\jane", "login.success", "10.0.0.1") in events


def test_first_sign_ins_at_once_make_one_user(db: Database, slapd: Slapd) -> None:
    """A client fetching several tokens at once for a directory account never seen before
    (through several replicas): each sign-in succeeds, and there is one user row."""
    sign_in = _sign_in(db, DirectoryConfig(**slapd.directory_config()))

    def first(_: int) -> int | None:
        verified = sign_in.check("jane", slapd.passwords["jane"], "10.0.0.1")
        return None if verified is None else verified.principal.id

    with ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(first, range(6)))
    assert len(ids) == 1
    assert None not in ids
    assert _rows(db, "SELECT COUNT(*) FROM \"user\" WHERE source = 'hackershop'") == [(1,)]
    query = "SELECT COUNT(*) FROM group_member WHERE user_id = ?"
    assert _rows(db, query, (ids.pop(),)) == [(1,)]  # devops, once


def test_a_directory_admin_is_not_the_local_admin(db: Database, slapd: Slapd) -> None:
    sign_in = _sign_in(db, DirectoryConfig(**slapd.directory_config()))
    local = sign_in.check("admin", ADMIN_PASSWORD, None)
    assert local is not None
    assert local.principal.is_admin
    assert local.principal.name == "admin"
    # a plain name that is a local user never falls through to the directory
    assert sign_in.check("admin", slapd.passwords["sarah"], None) is None
    assert sign_in.check("hackershop\\admin", ADMIN_PASSWORD, None) is None


def test_wrong_password_and_unknown_directory(db: Database, slapd: Slapd) -> None:
    sign_in = _sign_in(db, DirectoryConfig(**slapd.directory_config()))
    assert sign_in.check("jane", "not-her-password", None) is None
    assert sign_in.check("elsewhere\\jane", slapd.passwords["jane"], None) is None
    assert sign_in.check("jane", "", None) is None
    reasons = _rows(db, "SELECT detail FROM audit_event WHERE action = 'login.failure'")
    assert len(reasons) == 3
    assert all("not-her-password" not in str(r) for r in reasons)  # secrets never recorded


def test_unreachable_directory_refuses_clearly_and_local_users_still_work(
    db: Database, slapd: Slapd, unreachable_ldap_url: str
) -> None:
    down = DirectoryConfig(**slapd.directory_config(url=unreachable_ldap_url, timeout_seconds=1))
    sign_in = _sign_in(db, down)
    with pytest.raises(SignInRefused, match="directory hackershop is unavailable") as refused:
        sign_in.check("jane", slapd.passwords["jane"], None)
    assert refused.value.retry_after is None
    assert sign_in.check("admin", ADMIN_PASSWORD, None) is not None


def test_repeated_failures_back_off_per_name_and_address(db: Database) -> None:
    sign_in = _sign_in(db, limit=3)
    for _ in range(3):
        assert sign_in.check("admin", "wrong", "10.0.0.9") is None
    with pytest.raises(SignInRefused) as refused:
        sign_in.check("admin", ADMIN_PASSWORD, "10.0.0.9")  # even the right password waits
    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= 30
    # the same account from another address is not locked out by someone else's failures
    assert sign_in.check("admin", ADMIN_PASSWORD, "10.0.0.10") is not None


def test_failures_at_once_each_count(db: Database) -> None:
    """A password sprayed in parallel (through several replicas, on PostgreSQL several
    writers at once): every failure counts, none is lost to a concurrent one."""
    sign_in = _sign_in(db, limit=1000)
    threads, attempts = 8, 6

    def spray(_: int) -> None:
        for _ in range(attempts):
            assert sign_in.check("admin", "wrong", "10.0.0.7") is None

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(spray, range(threads)))
    counted = _rows(db, "SELECT key, failures FROM login_failure ORDER BY key")
    assert counted == [("address:10.0.0.7", threads * attempts),
                       ("user:admin@10.0.0.7", threads * attempts)]  # fmt: skip


def test_success_clears_the_failure_count(db: Database) -> None:
    sign_in = _sign_in(db, limit=3)
    for _ in range(2):
        assert sign_in.check("admin", "wrong", "10.0.0.5") is None
    assert sign_in.check("admin", ADMIN_PASSWORD, "10.0.0.5") is not None
    for _ in range(2):
        assert sign_in.check("admin", "wrong", "10.0.0.5") is None
    assert sign_in.check("admin", ADMIN_PASSWORD, "10.0.0.5") is not None
    assert _rows(db, "SELECT COUNT(*) FROM login_failure WHERE key LIKE 'user:%'") == [(0,)]
