"""`dockyard retention`: set a namespace's or repository's policy (`set`), see the policies
(`list`), simulate one before enabling it (`simulate`: every tag that would go, the rule,
the bytes freed), run it now after showing the plan (`apply`), and put back a tag a run
removed (`removed`, `restore`). A TARGET with a `/` is a repository, else a namespace."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.deletes import size_text
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when, yes_no

__all__ = ["app"]

app = typer.Typer(help="Retention policies: simulate, enable, run, restore.", no_args_is_help=True)

Target = Annotated[str, typer.Argument(help="A namespace (`dev`) or a repository (`dev/api`).")]


def _path(target: str) -> str:
    scope = "repository" if "/" in target else "namespace"
    return f"{scope}/{'/'.join(segment(part) for part in target.split('/'))}"


def _rules(
    keep_last: int | None,
    keep: list[str] | None,
    keep_pulled_days: int | None,
    older_than_days: int | None,
    untagged_after_days: int | None,
) -> dict[str, Any]:
    return {
        "keep_last": keep_last,
        "keep_patterns": keep or [],
        "keep_pulled_days": keep_pulled_days,
        "remove_older_than_days": older_than_days,
        "remove_untagged_after_days": untagged_after_days,
    }


KeepLast = Annotated[
    int | None, typer.Option("--keep-last", help="Keep the N most recently pushed tags.")
]
Keep = Annotated[
    list[str] | None,
    typer.Option("--keep", help="Keep tags matching: a glob, or re:REGEX (repeatable)."),
]
KeepPulled = Annotated[
    int | None, typer.Option("--keep-pulled-days", help="Keep tags pulled within D days.")
]
OlderThan = Annotated[
    int | None, typer.Option("--older-than-days", help="Remove tags pushed over D days ago.")
]
UntaggedAfter = Annotated[
    int | None,
    typer.Option("--untagged-after-days", help="Remove untagged images after D days."),
]


def _show_simulation(sim: dict[str, Any]) -> None:
    if sim["protected"]:
        say(f"{sim['target']} is in a protected namespace: retention removes nothing there.")
        return
    print_table(
        ["REPOSITORY", "TAG", "DIGEST", "PUSHED", "LAST PULLED", "RULE"],
        (
            [
                r["repository"], r["tag"] or "(untagged)", r["digest"][:19], when(r["pushed_at"]),
                when(r["last_pulled_at"]) if r["last_pulled_at"] else "never", r["rule"],
            ]
            for r in sim["removals"]
        ),
        empty="Nothing would be removed.",
    )  # fmt: skip
    kept = ", ".join(f"{count} {reason}" for reason, count in sim["kept_reasons"].items())
    say(
        f"{sim['summary']}: {len(sim['removals'])} of {sim['tags_examined']} tags and untagged "
        f"images go in {len(sim['repositories'])} repositories; kept: {kept or 'none'}. "
        f"Garbage collection then frees {sim['images_freed']} images, "
        f"{size_text(sim['bytes_freed'])}."
    )


@app.command("set")
@admin_command
def set_policy(
    client: AdminClient,
    target: Target,
    keep_last: KeepLast = None,
    keep: Keep = None,
    keep_pulled_days: KeepPulled = None,
    older_than_days: OlderThan = None,
    untagged_after_days: UntaggedAfter = None,
    enable: Annotated[
        bool, typer.Option("--enable/--disable", help="Run it on the server's schedule.")
    ] = False,
    protect: Annotated[
        bool,
        typer.Option("--protect", help="A namespace: retention never removes anything in it."),
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Create or replace the policy on a namespace or repository."""
    rules = _rules(keep_last, keep, keep_pulled_days, older_than_days, untagged_after_days)
    body = {"rules": rules, "enabled": enable, "protected": protect}
    policy = client.put(f"/retention/policies/{_path(target)}", body)
    if json_:
        print_json(policy)
        return
    state = "protected" if policy["protected"] else ("enabled" if policy["enabled"] else "disabled")
    say(f"Policy on {policy['scope']} {policy['target']} ({state}): {policy['summary']}.")
    if not policy["enabled"] and not policy["protected"]:
        say(f"Simulate it: dockyard retention simulate {target}")


@app.command("list")
@admin_command
def list_policies(client: AdminClient, json_: JsonFlag = False) -> None:
    """The policies on what you administer."""
    policies = client.get("/retention/policies")
    if json_:
        print_json(policies)
        return
    print_table(
        ["SCOPE", "TARGET", "ENABLED", "PROTECTED", "RULES", "LAST RUN"],
        (
            [p["scope"], p["target"], yes_no(p["enabled"]), yes_no(p["protected"]), p["summary"],
             when(p["last_run_at"]) if p["last_run_at"] else "never"]
            for p in policies
        ),
        empty="No retention policies.",
    )  # fmt: skip


@app.command("remove-policy")
@admin_command
def remove_policy(client: AdminClient, target: Target) -> None:
    """Remove the policy on a namespace or repository."""
    client.delete(f"/retention/policies/{_path(target)}")
    say(f"Policy on {target} removed.")


@app.command()
@admin_command
def simulate(
    client: AdminClient,
    target: Target,
    keep_last: KeepLast = None,
    keep: Keep = None,
    keep_pulled_days: KeepPulled = None,
    older_than_days: OlderThan = None,
    untagged_after_days: UntaggedAfter = None,
    json_: JsonFlag = False,
) -> None:
    """What the saved policy (or the rules given here) would remove now."""
    rules = _rules(keep_last, keep, keep_pulled_days, older_than_days, untagged_after_days)
    body = rules if any(v not in (None, []) for v in rules.values()) else None
    sim = client.post(f"/retention/simulate/{_path(target)}", body)
    if json_:
        print_json(sim)
        return
    _show_simulation(sim)


@app.command()
@admin_command
def apply(
    client: AdminClient,
    target: Target,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Run the saved policy now: shows the plan, asks, then removes exactly that plan."""
    sim = client.post(f"/retention/simulate/{_path(target)}", None)
    if not json_:
        _show_simulation(sim)
    if not sim["removals"]:
        return
    if not yes and not typer.confirm("Remove these?", default=False, err=True):
        say("Nothing removed.")
        raise typer.Exit(1)
    result = client.post(f"/retention/run/{_path(target)}", {"expect": sim["fingerprint"]})
    if json_:
        print_json(result)
        return
    say(
        f"Removed {len(result['removed'])} (skipped {len(result['skipped'])} that changed "
        f"since); restorable until {when(result['restore_until'])}: dockyard retention removed"
    )


@app.command()
@admin_command
def removed(
    client: AdminClient,
    repository: Annotated[str | None, typer.Argument(help="Only this repository.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Tags retention removed that may still be restored."""
    params = {"repository": repository} if repository else None
    rows = client.get("/retention/removed", params)
    if json_:
        print_json(rows)
        return
    print_table(
        ["ID", "REPOSITORY", "TAG", "DIGEST", "REMOVED", "RESTORABLE UNTIL", "BY"],
        (
            [str(r["id"]), r["repository"], r["tag"], r["digest"][:19], when(r["removed_at"]),
             when(r["restore_until"]), r["reason"] or ""]
            for r in rows
        ),
        empty="Nothing to restore.",
    )  # fmt: skip


@app.command()
@admin_command
def restore(
    client: AdminClient,
    removal_id: Annotated[int, typer.Argument(help="The ID `dockyard retention removed` shows.")],
) -> None:
    """Put a tag retention removed back where it pointed."""
    ref = client.post(f"/retention/removed/{removal_id}/restore", {})
    say(f"Restored {ref['repository']}:{ref['tag']} -> {ref['digest']}.")
