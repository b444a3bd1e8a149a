"""Job leases: which worker or replica runs a background job (one at a time)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.metadata.models import JobLease, table_of

_lease = table_of(JobLease)


def acquire(conn: Connection, name: str, holder: str, now: int, seconds: int) -> bool:
    """Take the lease, or renew it when `holder` has it already; False while another holder's
    lease has not run out. One statement: two replicas racing cannot both win."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_lease).values(name=name, holder=holder, expires_at=now + seconds)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
        where=(_lease.c.expires_at < now) | (_lease.c.holder == holder),
    )
    conn.execute(stmt)
    current = conn.execute(select(_lease.c.holder).where(_lease.c.name == name)).scalar()
    return current == holder


def holder_of(conn: Connection, name: str) -> str | None:
    return conn.execute(select(_lease.c.holder).where(_lease.c.name == name)).scalar()


def take_over(conn: Connection, name: str, dead: str, holder: str, now: int, seconds: int) -> bool:
    """Take a lease from a holder known to be dead; False if it changed hands meanwhile."""
    result = conn.execute(
        update(_lease)
        .where(_lease.c.name == name, _lease.c.holder == dead)
        .values(holder=holder, expires_at=now + seconds)
    )
    return result.rowcount == 1


def renew(conn: Connection, name: str, holder: str, now: int, seconds: int) -> bool:
    """Extend a lease we hold; False if it was lost (it ran out and someone took it)."""
    result = conn.execute(
        update(_lease)
        .where(_lease.c.name == name, _lease.c.holder == holder)
        .values(expires_at=now + seconds)
    )
    return result.rowcount == 1


def release(conn: Connection, name: str, holder: str) -> None:
    conn.execute(delete(_lease).where(_lease.c.name == name, _lease.c.holder == holder))
