"""The first registry admin, made when the user table is empty."""

from __future__ import annotations

import time
from pathlib import Path

from dockyard.auth.passwords import generate_password, hash_password
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, users
from dockyard.metadata.queries.access import bump_generation

__all__ = ["ADMIN_NAME", "bootstrap_admin"]

ADMIN_NAME = "admin"


def bootstrap_admin(db: Database, password: str | None, data_dir: Path) -> str | None:
    """Create the initial `admin` on an empty user table; safe to call from several
    processes at once: exactly one creates it.

    Returns the generated password when one had to be made up (the caller prints it once);
    it is also written to a 0600 file in the data directory, never logged. Only the process
    that created the admin returns it.
    """
    generated = None if password else generate_password()
    secret = password or generated or ""
    now = int(time.time())
    with db.write() as conn:
        if users.count_users(conn) > 0:
            return None
        # Replicas started together may all have counted no user (PostgreSQL, READ
        # COMMITTED): the user table's unique name lets one insert and the others none.
        if not users.add_local_user_if_absent(
            conn, ADMIN_NAME, hash_password(secret), is_admin=True, now=now
        ):
            return None
        bump_generation(conn)
        audit.record(conn, at=now, actor=None, action="user.create", target=ADMIN_NAME,
                     detail={"admin": True, "reason": "initial administrator"})  # fmt: skip
    if generated is not None:
        path = data_dir / "initial-admin-password"
        path.touch(mode=0o600)
        path.write_text(generated + "\n")
    return generated
