"""The access commands as an operator meets them: the real `dockyard` command, run as a
process, on a data directory (local mode) and against a running server with a token (remote
mode). Both speak to the same admin API; nothing is mocked.

Secrets never come from argv; every error is one line on stderr and exit status 1 (2 for
usage errors), never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer

from dockyard.cli.audit import parse_moment
from fixtures.admin import AdminApi
from fixtures.servers import StartServer, free_port

Run = Callable[..., subprocess.CompletedProcess[str]]
_SECRET = re.compile(r"^dky[rp]_[0-9]+_[A-Za-z0-9_-]{43}$")


def _runner(env: Mapping[str, str]) -> Run:
    def run(*args: str, stdin: str | None = None, expect: int | None = 0) -> Any:
        # A session of its own: no controlling terminal, so a hidden prompt reads stdin
        # instead of blocking on the terminal of whoever runs the tests.
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            input=stdin if stdin is not None else "",
            capture_output=True, text=True, env=dict(env), timeout=120,
            start_new_session=True,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        if expect is not None:
            assert result.returncode == expect, (
                f"dockyard {' '.join(args)} -> {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    return run


def _clean_env(**extra: str) -> dict[str, str]:
    # The developer's DOCKYARD_* settings must not leak in. No COLUMNS: Rich then assumes 80,
    # which error messages must not be wrapped at (one line each).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "COLUMNS"))}
    return env | extra


def _wide_env(**extra: str) -> dict[str, str]:
    """For tables: wide enough that rows are not wrapped."""
    return _clean_env(COLUMNS="250", **extra)


@pytest.fixture
def local(tmp_path: Path) -> Run:
    """`dockyard …` on a fresh data directory (local mode: env DOCKYARD_DATA_DIR)."""
    data = tmp_path / "data"
    data.mkdir()
    return _runner(_wide_env(DOCKYARD_DATA_DIR=str(data)))


def _one_line_error(result: subprocess.CompletedProcess[str], *, contains: str = "") -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert contains.lower() in lines[0].lower(), lines[0]


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


# --- without an admin API: the command surface ---------------------------------------------


def test_help_lists_the_access_commands() -> None:
    run = _runner(_clean_env())
    top = run("--help").stdout
    for command in ("user", "group", "namespace", "repo", "grant", "revoke", "grants",
                    "robot", "token", "audit", "serve"):  # fmt: skip
        assert re.search(rf"\b{command}\b", top), command
    user_add = run("user", "add", "--help").stdout
    assert "--password-stdin" in user_add
    assert "--server" in user_add
    assert "--data-dir" in user_add


@pytest.mark.parametrize(
    "args",
    [
        ["user", "add", "jane", "--password", "hunter2hunter2"],
        ["user", "passwd", "jane", "--password", "hunter2hunter2"],
        ["user", "add", "jane", "hunter2hunter2"],
        ["robot", "add", "ci", "--secret", "x"],
    ],
)
def test_secrets_cannot_be_given_on_argv(args: list[str]) -> None:
    result = _runner(_clean_env())(*args, expect=2)
    assert "No such option" in result.stderr or "unexpected extra argument" in result.stderr


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["grant", "write", "--to", "jane", "--on", "dev"], "--to"),
        (["grant", "owner", "--to", "user:jane", "--on", "dev"], "role"),
        (["robot", "add", "ci", "--grant", "dev"], "--grant"),
        (["robot", "add", "ci", "--grant", "push:dev"], "--grant"),
        (["namespace", "policy", "dev", "public"], "policy"),
        (["audit", "--since", "last tuesday"], "--since"),
        (["user", "set", "jane"], "--admin"),
        (["user", "list", "--token-file", "/nonexistent"], "--server"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], hint: str) -> None:
    (tmp_path / "data").mkdir()
    run = _runner(_clean_env(DOCKYARD_DATA_DIR=str(tmp_path / "data")))
    result = run(*args, expect=2)
    assert hint in result.stderr


def test_unreachable_server_is_one_line() -> None:
    run = _runner(_clean_env(DOCKYARD_TOKEN="dkyp_1_" + "a" * 43))
    result = run("user", "list", "--server", f"http://127.0.0.1:{free_port()}", expect=None)
    _one_line_error(result, contains="cannot reach")


def test_remote_needs_a_token() -> None:
    run = _runner(_clean_env(DOCKYARD_SERVER=f"http://127.0.0.1:{free_port()}"))
    _one_line_error(run("user", "list", expect=None), contains="DOCKYARD_TOKEN")


def test_missing_data_directory_is_one_line(tmp_path: Path) -> None:
    run = _runner(_clean_env(DOCKYARD_DATA_DIR=str(tmp_path / "nowhere")))
    _one_line_error(run("user", "list", expect=None), contains="no data directory")
    assert not (tmp_path / "nowhere").exists()


def test_short_password_refused_before_sending(tmp_path: Path) -> None:
    run = _runner(_clean_env(DOCKYARD_DATA_DIR=str(tmp_path)))
    result = run("user", "add", "jane", "--password-stdin", stdin="short\n", expect=None)
    _one_line_error(result, contains="at least 8 characters")


def test_since_takes_ages_and_times() -> None:
    now = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    assert parse_moment("90m", now=now) == "2025-06-10T10:30:00Z"
    assert parse_moment("7d", now=now) == "2025-06-03T12:00:00Z"
    assert parse_moment("2025-06-01") == "2025-06-01T00:00:00Z"
    assert parse_moment("2025-06-01T14:00+02:00") == "2025-06-01T12:00:00Z"
    with pytest.raises(typer.BadParameter):
        parse_moment("yesterday")


# --- local mode: the story on a data directory ---------------------------------------------


@pytest.mark.slow
def test_story_on_the_data_directory(local: Run) -> None:
    run = local
    password = "correct horse battery"  # noqa: S105 - a test user's password
    run("user", "add", "sarah", "--admin", "--password-stdin", stdin=password + "\n")
    for name in ("josh", "eric", "jane", "greg", "frank"):
        run("user", "add", name, "--password-stdin", stdin=password)
    users = {u["name"]: u for u in _json(run("user", "list", "--json"))}
    assert {"sarah", "josh", "eric", "jane", "greg", "frank"} <= set(users)
    assert users["sarah"]["admin"] is True
    assert users["josh"]["admin"] is False
    assert "password" not in json.dumps(users).lower()
    table = run("user", "list").stdout
    assert "NAME" in table
    assert re.search(r"^\s*sarah\s+local\s+yes", table, re.MULTILINE), table

    _one_line_error(
        run("user", "add", "josh", "--password-stdin", stdin=password, expect=None),
        contains="josh",
    )

    run("group", "add", "qa")
    run("group", "add-member", "qa", "greg", "frank")
    qa = next(g for g in _json(run("group", "list", "--members", "--json")) if g["name"] == "qa")
    assert set(qa["members"]) == {"greg", "frank"}
    groups_table = run("group", "list", "--members").stdout
    assert re.search(r"^\s*qa\b.*greg", groups_table, re.MULTILINE), groups_table

    run("namespace", "create", "dev", "--policy", "shared")
    namespaces = {n["name"]: n for n in _json(run("namespace", "list", "--json"))}
    assert namespaces["dev"]["policy"] == "shared"
    run("namespace", "policy", "dev", "private")
    namespaces = {n["name"]: n for n in _json(run("namespace", "list", "--json"))}
    assert namespaces["dev"]["policy"] == "private"

    run("repo", "create", "skyfield")
    run("repo", "create", "dev/app", "--policy", "anonymous")
    repositories = {r["name"]: r for r in _json(run("repo", "list", "--json"))}
    assert {"skyfield", "dev/app"} <= set(repositories)
    assert repositories["dev/app"]["effective_policy"] == "anonymous"
    assert [r["name"] for r in _json(run("repo", "list", "--limit", "1", "--json"))] == [
        sorted(repositories)[0]
    ]
    run("repo", "policy", "dev/app", "inherit")
    assert "dev/app" in run("repo", "list", "--namespace", "dev").stdout

    on = "repository:skyfield"
    run("grant", "write", "--to", "user:josh", "--to", "user:eric", "--to", "user:jane",
        "--on", on)  # fmt: skip
    run("grant", "read", "--to", "group:qa", "--on", on)
    grants = _json(run("grants", "--on", on, "--json"))
    assert {(g["to"], g["role"]) for g in grants} == {
        ("user:josh", "write"), ("user:eric", "write"), ("user:jane", "write"),
        ("group:qa", "read"),
    }  # fmt: skip
    assert "group:qa" in run("grants", "--to", "group:qa").stdout
    run("revoke", "--to", "user:jane", "--on", on)
    assert len(_json(run("grants", "--on", on, "--json"))) == 3
    _one_line_error(
        run("grant", "read", "--to", "user:nobody", "--on", on, expect=None), contains="nobody"
    )

    robot = run("robot", "add", "ci", "--grant", "write:dev", "--grant", "read:skyfield",
                "--expires-in-days", "90", "--description", "CI pushes")  # fmt: skip
    secret = robot.stdout.strip()
    assert _SECRET.match(secret), robot.stdout  # stdout holds the secret alone
    assert "shown only this once" in robot.stderr
    assert "docker login" in robot.stderr
    assert "robot$ci" in robot.stderr
    assert secret not in robot.stderr
    robots = run("robot", "list").stdout
    assert "robot$ci" in robots
    assert "write:dev" in robots
    assert secret not in robots
    listed = _json(run("robot", "list", "--json"))
    assert secret not in json.dumps(listed)
    run("robot", "revoke", "ci")

    run("user", "passwd", "josh", "--password-stdin", stdin="another good password\n")
    run("user", "set", "josh", "--disabled", "--admin")
    users = {u["name"]: u for u in _json(run("user", "list", "--json"))}
    assert users["josh"]["disabled"] is True
    assert users["josh"]["admin"] is True
    run("user", "set", "josh", "--enabled", "--no-admin")
    run("user", "remove", "frank")
    assert "frank" not in {u["name"] for u in _json(run("user", "list", "--json"))}
    _one_line_error(run("user", "remove", "frank", expect=None), contains="frank")
    run("group", "remove-member", "qa", "greg")
    run("group", "remove", "qa")

    events = _json(run("audit", "--json", "--limit", "200"))
    assert all(e["actor"] == f"cli:{_os_user()}" for e in events)
    targets = " ".join(str(e.get("target")) for e in events)
    for name in ("sarah", "josh", "qa", "skyfield", "ci", "frank"):
        assert name in targets, name
    newest_three = _json(run("audit", "--json", "--limit", "3"))
    assert newest_three == events[:3]
    on_skyfield = _json(
        run("audit", "--json", "--target", on, "--action", "grant", "--since", "1h")
    )
    assert {e["detail"]["to"] for e in on_skyfield} >= {"user:josh", "group:qa", "user:jane"}
    assert all(e["target"] == on and e["action"].startswith("grant.") for e in on_skyfield)
    assert _json(run("audit", "--json", "--since", "2999-01-01")) == []
    assert "josh" in run("audit").stdout


def _os_user() -> str:
    import getpass

    return getpass.getuser()


# --- remote mode: a running server, a personal access token ---------------------------------


@pytest.mark.slow
def test_remote_with_a_personal_access_token(dockyard_factory: StartServer) -> None:
    server = dockyard_factory()
    api = AdminApi(server.url, (server.username, server.password))
    try:
        token = api.add_token("cli")
    finally:
        api.close()
    run = _runner(_wide_env(DOCKYARD_SERVER=server.url, DOCKYARD_TOKEN=token))
    signed_in = _runner(_wide_env(DOCKYARD_SERVER=server.url))
    first = signed_in("token", "add", "first", "--username", "admin", stdin=server.password)
    assert _SECRET.match(first.stdout.strip()), first.stdout  # a first token, by password
    wrong = signed_in("user", "list", "--username", "admin", stdin="not the password", expect=1)
    assert wrong.stderr.strip().splitlines()[-1].endswith("(check the user name and password)")

    run("user", "add", "sarah", "--admin", "--password-stdin", stdin="sarah's password")
    run("repo", "create", "skyfield")
    run("grant", "write", "--to", "user:sarah", "--on", "repository:skyfield")
    assert {(g["to"], g["role"]) for g in _json(run("grants", "--json"))} >= {
        ("user:sarah", "write")
    }
    assert "cli" in {t["name"] for t in _json(run("token", "list", "--json"))}

    # a token may not mint tokens (a leaked one must not outlive its revocation)
    _one_line_error(run("token", "add", "laptop", expect=1), contains="password")
    made = signed_in("token", "add", "laptop", "--expires-in-days", "30", "--username", "admin",
                     stdin=server.password)  # fmt: skip
    laptop = made.stdout.strip()
    assert _SECRET.match(laptop), made.stdout
    assert f"docker login {server.hostport} -u 'admin' --password-stdin" in made.stderr
    as_laptop = _runner(_wide_env(DOCKYARD_SERVER=server.url, DOCKYARD_TOKEN=laptop))
    assert "sarah" in as_laptop("user", "list").stdout

    token_file = server.data_dir.parent / "token"
    token_file.write_text(laptop + "\n")
    no_env = _runner(_wide_env(DOCKYARD_SERVER=server.url))
    assert "skyfield" in no_env("repo", "list", "--token-file", str(token_file)).stdout

    laptop_id = next(t["id"] for t in _json(run("token", "list", "--json"))
                     if t["name"] == "laptop")  # fmt: skip
    run("token", "revoke", str(laptop_id))
    _one_line_error(as_laptop("user", "list", expect=None), contains="token")

    forged = _runner(_clean_env(DOCKYARD_SERVER=server.url, DOCKYARD_TOKEN="dkyp_1_" + "x" * 43))
    _one_line_error(forged("user", "list", expect=None), contains="token")

    events = _json(run("audit", "--json", "--actor", "admin"))
    assert any("sarah" in str(e["target"]) for e in events)
    assert all(e["actor"] == "admin" for e in events)
