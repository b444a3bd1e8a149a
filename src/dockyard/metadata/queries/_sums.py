"""Sums that come back as integers on every back end.

PostgreSQL's SUM of a BIGINT is NUMERIC (psycopg hands out `Decimal`, which JSON then
writes as a string); casting the sum back to BIGINT keeps sizes integers everywhere.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func

__all__ = ["total"]


def total(expression: Any) -> ColumnElement[int]:
    """SUM(expression) as a BIGINT, 0 over no rows."""
    return cast(func.coalesce(func.sum(expression), 0), BigInteger)
