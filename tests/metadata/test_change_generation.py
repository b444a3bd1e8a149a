"""The change generation every per-worker cache follows, on the suite's back end: any commit,
by this worker or another process or replica, moves it for every request that starts after
the commit; nothing else does."""

from __future__ import annotations

import asyncio

from dockyard.metadata.db import Database
from dockyard.metadata.queries.access import bump_generation


async def _in_a_new_request(db: Database) -> tuple[int, int]:
    async def request() -> tuple[int, int]:
        return db.generation(), db.access_generation()

    return await asyncio.create_task(request())


def test_a_commit_elsewhere_is_seen_by_the_next_request(db: Database) -> None:
    other = Database(db.url)  # another worker or replica on the same database
    try:

        async def scenario() -> None:
            before, access_before = await _in_a_new_request(db)
            assert await _in_a_new_request(db) == (before, access_before)  # nothing committed
            with other.write() as conn:
                bump_generation(conn)
            after, access_after = await _in_a_new_request(db)
            assert after != before
            assert access_after == access_before + 1
            assert await _in_a_new_request(db) == (after, access_after)

        asyncio.run(scenario())
    finally:
        other.close()


def test_a_request_sees_its_own_worker_commit_at_once(db: Database) -> None:
    async def scenario() -> None:
        before = db.generation()
        with db.write() as conn:  # as a request's write does, in its thread
            bump_generation(conn)
        assert db.generation() != before
        assert db.access_generation() == (await _in_a_new_request(db))[1]

    asyncio.run(scenario())


def test_reads_do_not_move_it(db: Database) -> None:
    async def scenario() -> None:
        before = await _in_a_new_request(db)
        with db.read() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM repository").scalar()
        assert await _in_a_new_request(db) == before

    asyncio.run(scenario())
