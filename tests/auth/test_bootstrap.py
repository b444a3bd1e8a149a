"""The first administrator: made once, whoever asks, even several processes at once."""

from __future__ import annotations

import threading
from pathlib import Path

from dockyard.auth.bootstrap import bootstrap_admin
from dockyard.auth.passwords import verify_password
from dockyard.metadata.db import Database
from dockyard.metadata.queries import users

STARTERS = 6


def test_replicas_starting_at_once_make_one_admin(db: Database, tmp_path: Path) -> None:
    """Each starter has its own engine, as a replica has; all ask at the same moment, with
    no password given: exactly one creates the admin and gets (and saves) its password."""
    barrier = threading.Barrier(STARTERS)
    results: dict[int, str | None] = {}
    errors: list[BaseException] = []

    def start(i: int) -> None:
        own = Database(db.url)
        data_dir = tmp_path / f"replica-{i}"
        data_dir.mkdir()
        try:
            barrier.wait(30)
            results[i] = bootstrap_admin(own, None, data_dir)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=start, args=(i,)) for i in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    made = {i: password for i, password in results.items() if password is not None}
    assert len(results) == STARTERS
    assert len(made) == 1
    ((winner, password),) = made.items()
    saved = [p.parent.name for p in tmp_path.glob("replica-*/initial-admin-password")]
    assert saved == [f"replica-{winner}"]
    with db.read() as conn:
        assert users.count_users(conn) == 1
        admin = users.user_by_name(conn, "admin")
    assert admin is not None
    assert admin.is_admin
    assert verify_password(admin.password_hash, password)


def test_a_second_bootstrap_changes_nothing(db: Database, tmp_path: Path) -> None:
    assert bootstrap_admin(db, "the first password", tmp_path) is None  # given, not made
    assert bootstrap_admin(db, None, tmp_path) is None
    with db.read() as conn:
        admin = users.user_by_name(conn, "admin")
    assert admin is not None
    assert verify_password(admin.password_hash, "the first password")
    assert not (tmp_path / "initial-admin-password").exists()
