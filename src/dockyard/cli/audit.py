"""`dockyard audit`: who signed in (or failed to) and who changed access, newest first."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, when

__all__ = ["audit", "parse_moment"]

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(value: str, *, now: datetime | None = None) -> str:
    """`30m`, `24h`, `7d`, `2w` ago, or an ISO 8601 date or time (UTC unless it says
    otherwise), as the ISO 8601 UTC time the API takes."""
    match = _RELATIVE.match(value.strip())
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise typer.BadParameter(
                f"{value!r}: expected a time like 2025-06-01, 2025-06-01T12:00, or an age "
                "like 30m, 24h, 7d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@admin_command
def audit(
    client: AdminClient,
    actor: Annotated[str | None, typer.Option(help="Only events by this user or robot.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. login.failed, grant.create.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Only events on this target.")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            parser=parse_moment, metavar="TIME|AGE", help="From this time, or this long ago."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(parser=parse_moment, metavar="TIME|AGE", help="Up to this time."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 50,
    json_: JsonFlag = False,
) -> None:
    """Show the audit log: sign-ins, and changes to users, groups, grants, policies, robots."""
    params = {"actor": actor, "action": action, "target": target, "since": since,
              "until": until, "limit": limit}  # fmt: skip
    events = list(client.pages("/audit", "events", params, cursor="before", limit=limit))
    if json_:
        print_json(events)
        return
    print_table(
        ["AT", "ACTOR", "ACTION", "TARGET", "ADDRESS", "DETAIL"],
        (_row(e) for e in events),
        empty="No events.",
    )


def _row(event: dict[str, Any]) -> list[str]:
    return [
        when(event.get("at")),
        event.get("actor") or "",
        event["action"],
        event.get("target") or "",
        event.get("address") or "",
        _detail(event.get("detail")),
    ]


def _detail(detail: Any) -> str:
    if detail in (None, "", {}):
        return ""
    if isinstance(detail, dict):
        return " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in detail.items())
    return str(detail)
