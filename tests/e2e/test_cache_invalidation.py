"""Per-worker caches follow the database, whoever writes it (pitfalls §19): a password
changed by another process stops working on the very next request, with no timer.

Every change to access data bumps the access generation in its transaction (as the
management services do); the workers' caches follow that counter."""

from __future__ import annotations

import httpx

from dockyard.auth.passwords import hash_password
from dockyard.metadata.db import Database
from dockyard.metadata.queries.access import bump_generation
from fixtures.servers import StartServer
from fixtures.sql import run_sql


def test_password_changed_by_another_process(dockyard_factory: StartServer) -> None:
    server = dockyard_factory(extra_args=["--workers", "2"])
    old = (server.username, server.password)

    def ping(auth: tuple[str, str]) -> int:
        # a fresh connection per request, so both workers answer some of them
        with httpx.Client(base_url=server.url, headers={"Connection": "close"}) as client:
            return client.get("/v2/", auth=auth).status_code

    assert [ping(old) for _ in range(6)] == [200] * 6  # now cached in the workers
    db = Database(server.database_url)
    try:
        with db.write() as conn:
            run_sql(
                conn,
                "UPDATE \"user\" SET password_hash = ? WHERE name = 'admin'",
                (hash_password("a new password"),),
            )
            bump_generation(conn)
    finally:
        db.close()
    assert [ping(old) for _ in range(6)] == [401] * 6
    assert ping((server.username, "a new password")) == 200
