"""`dockyard webhooks`: endpoints told about pushes, deletes, promotions and tag moves
(registry admins), and their delivery log. A secret is printed once, when it is made; give
your own with `--secret-file` (never on the command line: it would stay in shell history)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import fail, print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="Webhooks: events sent to URLs, signed, retried.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The webhook's name.")]
_ACTIONS = ("push", "delete", "promote", "tag-move")


def _actions(values: list[str] | None) -> list[str] | None:
    for value in values or []:
        if value not in _ACTIONS:
            raise typer.BadParameter(
                f"{value!r}: one of {', '.join(_ACTIONS)}", param_hint="--action"
            )
    return values or None


def _read_secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")


def _show_secret(secret: str, name: str) -> None:
    say(f"The secret of webhook {name} is shown only this once; give it to the receiver:")
    typer.echo(secret)


@app.command("add")
@admin_command
def add(
    client: AdminClient,
    name: Annotated[str, typer.Argument(help="Short name of the new webhook.")],
    url: Annotated[str, typer.Argument(help="http(s) URL the events are POSTed to.")],
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            help="push, delete, promote, tag-move; repeatable (default: all).",
            callback=_actions,
        ),
    ] = None,
    repository: Annotated[
        list[str] | None,
        typer.Option(
            "--repository",
            help="Only repositories matching this (dev/api, prod/*); "
            "repeatable (default: every repository).",
        ),
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="Read the HMAC secret from this file (default: generated).")
    ] = None,
    verify_tls: Annotated[
        bool, typer.Option("--verify-tls/--no-verify-tls", help="Check the receiver's certificate.")
    ] = True,
    enabled: Annotated[bool, typer.Option("--enabled/--disabled")] = True,
    json_: JsonFlag = False,
) -> None:
    """Add a webhook and print its secret, once."""
    body = {
        "name": name,
        "url": url,
        "actions": action,
        "repositories": repository or [],
        "secret": _read_secret(secret_file),
        "verify_tls": verify_tls,
        "enabled": enabled,
    }
    made = client.post("/webhooks", body)
    if json_:
        print_json(made)
        return
    say(f"Added webhook {name}: {', '.join(made['endpoint']['actions'])} to {url}.")
    _show_secret(made["secret"], name)


def _row(endpoint: dict[str, Any]) -> list[str]:
    counts = endpoint.get("deliveries") or {}
    return [
        endpoint["name"],
        endpoint["url"],
        ",".join(endpoint["actions"]),
        ",".join(endpoint["repositories"]) or "*",
        "yes" if endpoint["enabled"] else "no",
        "yes" if endpoint["verify_tls"] else "NO",
        " ".join(f"{status}:{counts[status]}" for status in sorted(counts)),
    ]


@app.command("list")
@admin_command
def list_webhooks(client: AdminClient, json_: JsonFlag = False) -> None:
    """List webhooks (never their secrets) with their deliveries by status."""
    endpoints = client.get("/webhooks")
    if json_:
        print_json(endpoints)
        return
    print_table(
        ["NAME", "URL", "ACTIONS", "REPOSITORIES", "ENABLED", "TLS CHECKED", "DELIVERIES"],
        (_row(e) for e in endpoints),
        empty="No webhooks.",
    )


@app.command("remove")
@admin_command
def remove(client: AdminClient, name: Name) -> None:
    """Remove a webhook and its delivery log (pending deliveries are not sent)."""
    client.delete(f"/webhooks/{segment(name)}")
    say(f"Removed webhook {name}.")


def _switch(client: AdminClient, name: str, enabled: bool) -> None:
    client.patch(f"/webhooks/{segment(name)}", {"enabled": enabled})
    say(f"Webhook {name} {'enabled' if enabled else 'disabled'}.")


@app.command("enable")
@admin_command
def enable(client: AdminClient, name: Name) -> None:
    """Send events again (those recorded while it was disabled are not sent)."""
    _switch(client, name, True)


@app.command("disable")
@admin_command
def disable(client: AdminClient, name: Name) -> None:
    """Stop sending new events; deliveries already made are still attempted."""
    _switch(client, name, False)


@app.command("rotate-secret")
@admin_command
def rotate_secret(client: AdminClient, name: Name) -> None:
    """Make a new secret and print it, once; the old one stops signing at once."""
    made = client.patch(f"/webhooks/{segment(name)}", {"rotate_secret": True})
    _show_secret(made["secret"], name)


@app.command("deliveries")
@admin_command
def deliveries(
    client: AdminClient,
    name: Annotated[str | None, typer.Argument(help="Only this webhook's.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    json_: JsonFlag = False,
) -> None:
    """The delivery log, newest first: status, attempts, last error, next attempt."""
    params = {"endpoint": name, "status": status, "limit": limit}
    rows = client.get("/webhooks/deliveries", {k: v for k, v in params.items() if v is not None})
    if json_:
        print_json(rows)
        return
    print_table(
        ["ID", "WEBHOOK", "EVENTS", "TARGET", "STATUS", "ATTEMPTS", "LAST", "NEXT", "LAST ERROR"],
        (
            [str(r["id"]), r["endpoint"], ",".join(r["actions"]), r["target"] or "",
             r["status"], str(r["attempts"]), when(r["last_attempt_at"]),
             when(r["next_attempt_at"]), (r["last_error"] or "")[:80]]
            for r in rows
        ),
        empty="No deliveries.",
    )  # fmt: skip


@app.command("redeliver")
@admin_command
def redeliver(
    client: AdminClient, delivery: Annotated[int, typer.Argument(help="The delivery's ID.")]
) -> None:
    """Send a delivery again: the same body and event ids, retried as a new one."""
    client.post(f"/webhooks/deliveries/{delivery}/redeliver", None)
    say(f"Delivery {delivery} will be sent again within seconds.")
