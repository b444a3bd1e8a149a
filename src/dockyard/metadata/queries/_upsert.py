"""INSERT … ON CONFLICT for whichever database the connection speaks (pitfalls §17).

What was inserted is counted from RETURNING, not from `rowcount`: on PostgreSQL, SQLAlchemy
adds RETURNING to a single-row insert to learn its key, and psycopg then reports a
`rowcount` of -1 whether or not the row went in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> int:
    """Insert unless a row with the same `keys` exists; returns the number of rows inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return len(conn.execute(stmt.returning(table.c[keys[0]])).all())


def upsert(
    conn: Connection, table: Table, values: dict[str, Any], keys: list[str], update: list[str]
) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={col: stmt.excluded[col] for col in update}
    )
    conn.execute(stmt)


def insert_ignore_rows(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> int:
    """`insert_ignore` for several rows in one statement; returns the number inserted."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(rows).on_conflict_do_nothing(index_elements=keys)
    return len(conn.execute(stmt.returning(table.c[keys[0]])).all())


def insert_ignore_returning(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str], column: str
) -> list[Any]:
    """`insert_ignore_rows`, returning `column` of the rows that went in."""
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(rows).on_conflict_do_nothing(index_elements=keys)
    return list(conn.execute(stmt.returning(table.c[column])).scalars())
