"""Every admin API route x every kind of caller x grants on a namespace and on a repository,
each with its exact status (issue 3: the permission matrix). The rules are the "who may"
column of docs/admin-api.md, written once below as a function of (caller, scope).

Callers sign in with Basic credentials (robots as `robot$NAME`); a personal access token sent
as `Authorization: Bearer` acts exactly as its user. The answers: 401 UNAUTHORIZED with a
Basic challenge without credentials; 403 DENIED where the caller may see the object but not
change it, or where the route is for others whatever the object (registry admins only, people
only); 404 NOT_FOUND where the caller may not even see the object, with the very answer a
missing name gets (no existence oracle, pitfalls §27); the route's success status otherwise.
Calls that create or destroy work on fresh objects, made by the registry admin first.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.servers import DockyardServer

API = "/api/v1"
CALLERS = ["anonymous", "none", "read", "write", "admin", "registry-admin", "robot"]
SCOPES = ["namespace", "repository"]
_PASSWORD = "matrix-password-1"  # noqa: S105 - test accounts
_OWNER = "amx-owner"  # someone else: a user whose objects the callers try to touch
_ADMINS = frozenset({"admin", "registry-admin"})
_WRITERS = frozenset({"write", "robot", "admin", "registry-admin"})  # robots here hold write


@dataclass(frozen=True)
class Target:
    """The names a scope's calls act on: its grants are `on` (users {ns,rp}-ROLE, robot
    {ns,rp}-amx-bot); `namespace` and `repository` are what namespace and repository routes
    name. The missing targets have the same shape and do not exist."""

    namespace: str
    repository: str
    on: str


_TARGET = {
    "namespace": Target("ns-amx", "ns-amx/app", "ns-amx"),
    "repository": Target("rp-amx", "rp-amx/app", "rp-amx/app"),
}
_MISSING = {
    "namespace": Target("ns-amx-gone", "ns-amx-gone/app", "ns-amx-gone"),
    "repository": Target("rp-amx-gone", "rp-amx/gone", "rp-amx/gone"),
}
_OTHER_SCOPE = {"namespace": "repository", "repository": "namespace"}
_PREFIX = {"namespace": "ns", "repository": "rp"}  # of the scope's users
# Every name this module makes holds "amx": refusals are compared with those names blanked.
_GHOST = "ghost-amx"  # a user, group or robot name that does not exist
_GHOST_TOKEN = 999_999_999
_SHARED_ROBOT = "both-amx-bot"


class Verdict(enum.Enum):
    OK = "allowed"  # the route's success status
    DENIED = "403"  # the caller sees the object (or any object: a route for others)
    HIDDEN = "404"  # the caller may not know the object exists


Rule = Callable[[str, str], Verdict]  # (caller, scope); anonymous is always 401


def _refused(caller: str) -> Verdict:
    """Any role on the scope's target lets the caller see it (and, for the repository
    scope, its namespace: something readable is inside); `none` sees nothing."""
    return Verdict.HIDDEN if caller == "none" else Verdict.DENIED


def _only(allowed: bool, caller: str) -> Verdict:
    return Verdict.OK if allowed else _refused(caller)


def anyone_signed_in(caller: str, scope: str) -> Verdict:
    return Verdict.OK


def registry_admins(caller: str, scope: str) -> Verdict:
    return Verdict.OK if caller == "registry-admin" else Verdict.DENIED


def people(caller: str, scope: str) -> Verdict:
    """Users, not robots (POST /namespaces, /tokens, /users/{self})."""
    return Verdict.DENIED if caller == "robot" else Verdict.OK


def who_may_see(caller: str, scope: str) -> Verdict:
    """GET a namespace or repository: any role on it (or something readable inside)."""
    return _only(caller != "none", caller)


def namespace_admins(caller: str, scope: str) -> Verdict:
    """Depends on the scope: an admin of rp-amx/app is no admin of namespace rp-amx."""
    return _only(caller == "registry-admin" or (caller == "admin" and scope == "namespace"), caller)


def namespace_writers(caller: str, scope: str) -> Verdict:
    """POST /repositories into the namespace: write on the namespace as a whole, so the
    repository scope's grants do not count."""
    return _only(
        caller == "registry-admin" or (caller in _WRITERS and scope == "namespace"), caller
    )


def repository_admins(caller: str, scope: str) -> Verdict:
    """Admin on the repository or on its namespace: either scope's admin."""
    return _only(caller in _ADMINS, caller)


def target_admins(caller: str, scope: str) -> Verdict:
    """Admin of the target: ns-amx (a namespace admin) or rp-amx/app (a repository admin)."""
    return _only(caller in _ADMINS, caller)


def robot_makers(caller: str, scope: str) -> Verdict:
    """People who administer every target; a robot sees the target but never makes robots."""
    return _only(caller in _ADMINS, caller)


def robot_viewers(caller: str, scope: str) -> Verdict:
    """A robot is seen by whoever administers one of its targets (who may list it); the
    robot itself administers nothing."""
    return Verdict.OK if caller in _ADMINS else Verdict.HIDDEN


def split_robot_managers(caller: str, scope: str) -> Verdict:
    """A robot granted on both scopes' targets: either scope's admin sees it but does not
    administer every target it holds."""
    if caller == "registry-admin":
        return Verdict.OK
    return Verdict.DENIED if caller == "admin" else Verdict.HIDDEN


def registry_admins_hidden(caller: str, scope: str) -> Verdict:
    """Someone else's token: only registry admins know it exists."""
    return Verdict.OK if caller == "registry-admin" else Verdict.HIDDEN


# Rules that never look at the object: their refusals must not change for a missing one.
_BLIND: frozenset[Rule] = frozenset({registry_admins, people})


@dataclass
class World:
    server: DockyardServer
    admin: AdminApi  # the registry admin
    owner: httpx.Client  # signed in as _OWNER
    owner_token: int  # one of _OWNER's tokens, never deleted
    credentials: dict[tuple[str, str], tuple[str, str] | None]
    clients: dict[tuple[str, str], httpx.Client]  # one per (caller, scope), for the module
    pat: str  # a personal access token of the namespace scope's admin


@dataclass(frozen=True)
class Turn:
    """One call: the caller's client and names; `missing` names things that do not exist."""

    http: httpx.Client
    world: World
    caller: str
    scope: str
    missing: bool = False

    @property
    def target(self) -> Target:
        return (_MISSING if self.missing else _TARGET)[self.scope]

    @property
    def me(self) -> str:
        """The caller's login name (`robot$NAME` for robots)."""
        credentials = self.world.credentials[(self.caller, self.scope)]
        return credentials[0] if credentials else "nobody"


def _q(name: str) -> str:
    return quote(name, safe="")


def _fresh(kind: str) -> str:
    return f"{kind}-amx-{secrets.token_hex(4)}"


def _made(r: httpx.Response, status: int = 201) -> Any:
    assert r.status_code == status, f"setup: {r.request.method} {r.request.url}: {r.text}"
    return r.json() if r.content else None


def _fresh_user(t: Turn) -> str:
    name = _fresh("user")
    t.world.admin.add_user(name, _PASSWORD)
    return name


def _fresh_group(t: Turn, member: str | None = None) -> str:
    name = _fresh("grp")
    t.world.admin.add_group(name)
    if member:
        t.world.admin.add_member(name, member)
    return name


def _fresh_robot(t: Turn, on: list[str]) -> str:
    name = _fresh("bot")
    t.world.admin.add_robot(name, [("write", target) for target in on])
    return name


def _other_user(t: Turn, make: bool) -> str:
    if t.missing:
        return _GHOST
    return _fresh_user(t) if make else _OWNER


# The calls. Each takes a Turn and returns the caller's answer; destructive ones first make
# what they destroy, as the registry admin (the missing variant names a ghost instead).


def _post_user(t: Turn) -> httpx.Response:
    return t.http.post(f"{API}/users", json={"name": _fresh("user"), "password": _PASSWORD})


def _patch_other(t: Turn) -> httpx.Response:
    return t.http.patch(f"{API}/users/{_q(_other_user(t, True))}", json={"disabled": True})


def _delete_other(t: Turn) -> httpx.Response:
    return t.http.delete(f"{API}/users/{_q(_other_user(t, True))}")


def _password(t: Turn, name: str) -> httpx.Response:
    # The caller's own password is set to what it was, so later cases still sign in.
    password = t.world.server.password if t.caller == "registry-admin" else _PASSWORD
    return t.http.put(f"{API}/users/{_q(name)}/password", json={"password": password})


def _group_call(t: Turn, method: str, suffix: str, member: bool) -> httpx.Response:
    group = _GHOST if t.missing else _fresh_group(t, _OWNER if member else None)
    return t.http.request(method, f"{API}/groups/{_q(group)}{suffix}")


def _post_namespace(t: Turn) -> httpx.Response:
    return t.http.post(f"{API}/namespaces", json={"name": _fresh("new"), "policy": "private"})


def _post_repository(t: Turn) -> httpx.Response:
    name = f"{t.target.namespace}/{_fresh('repo')}"
    return t.http.post(f"{API}/repositories", json={"name": name, "policy": None})


def _post_grant(t: Turn) -> httpx.Response:
    body = {"role": "read", "to": f"group:{_fresh_group(t)}", "on": t.target.on}
    return t.http.post(f"{API}/grants", json=body)


def _delete_grant(t: Turn) -> httpx.Response:
    group = _fresh_group(t)
    t.world.admin.grant("read", f"group:{group}", _TARGET[t.scope].on)
    return t.http.delete(f"{API}/grants", params={"to": f"group:{group}", "on": t.target.on})


def _post_robot(t: Turn) -> httpx.Response:
    body = {"name": _fresh("bot"), "grants": [{"role": "read", "on": t.target.on}]}
    return t.http.post(f"{API}/robots", json=body)


def _robot_name(t: Turn, fresh_on: list[str] | None) -> str:
    if t.missing:
        return _GHOST
    if fresh_on is None:  # the scope's own robot
        credentials = t.world.credentials[("robot", t.scope)]
        assert credentials is not None
        return credentials[0]
    return _fresh_robot(t, fresh_on)


def _delete_robot(t: Turn, on: list[str]) -> httpx.Response:
    return t.http.delete(f"{API}/robots/{_q(_robot_name(t, on))}")


def _delete_own_token(t: Turn) -> httpx.Response:
    if t.caller == "anonymous":  # owns nothing: any token will do
        return t.http.delete(f"{API}/tokens/{t.world.owner_token}")
    made = _made(t.http.post(f"{API}/tokens", json={"name": _fresh("tok")}))
    return t.http.delete(f"{API}/tokens/{made['id']}")


def _delete_others_token(t: Turn) -> httpx.Response:
    if t.missing:
        token = _GHOST_TOKEN
    else:
        token = _made(t.world.owner.post(f"{API}/tokens", json={"name": _fresh("tok")}))["id"]
    return t.http.delete(f"{API}/tokens/{token}")


# What a successful list shows (docs/admin-api.md: lists hold only what the caller may see).


def _shows_me(t: Turn, r: httpx.Response) -> None:
    me = r.json()
    kind = "robot" if t.caller == "robot" else "user"
    assert (me["name"], me["kind"], me["admin"]) == (t.me, kind, t.caller == "registry-admin")


def _shows_namespaces(t: Turn, r: httpx.Response) -> None:
    names = {namespace["name"] for namespace in r.json()}
    assert (t.target.namespace in names) == (t.caller != "none")
    other = _TARGET[_OTHER_SCOPE[t.scope]].namespace
    assert (other in names) == (t.caller == "registry-admin")


def _shows_repositories(t: Turn, r: httpx.Response) -> None:
    names = {repository["name"] for repository in r.json()["repositories"]}
    assert (t.target.repository in names) == (t.caller != "none")
    other = _TARGET[_OTHER_SCOPE[t.scope]].repository
    assert (other in names) == (t.caller == "registry-admin")
    if t.scope == "repository" and t.caller != "registry-admin":
        # the grant on rp-amx/app shows nothing else in rp-amx (fresh repositories are there)
        assert {name for name in names if name.startswith("rp-amx/")} <= {"rp-amx/app"}


def _shows_grants(t: Turn, r: httpx.Response) -> None:
    seen = {(grant["to"], grant["on"]) for grant in r.json()}
    prefix = _PREFIX[t.scope]
    mine = {(f"user:{prefix}-read", t.target.on), (f"robot:{prefix}-amx-bot", t.target.on)}
    if t.scope == "namespace":  # a grant on a repository inside the namespace
        mine.add(("group:amx-viewers", "ns-amx/app"))
    other_prefix = _PREFIX[_OTHER_SCOPE[t.scope]]
    other = (f"user:{other_prefix}-read", _TARGET[_OTHER_SCOPE[t.scope]].on)
    assert (mine <= seen) == (t.caller in _ADMINS)
    assert not (mine & seen) or t.caller in _ADMINS
    assert (other in seen) == (t.caller == "registry-admin")


def _shows_robots(t: Turn, r: httpx.Response) -> None:
    names = {robot["name"] for robot in r.json()}
    assert (f"{_PREFIX[t.scope]}-amx-bot" in names) == (t.caller in _ADMINS)
    assert (f"{_PREFIX[_OTHER_SCOPE[t.scope]]}-amx-bot" in names) == (t.caller == "registry-admin")


def _shows_own_tokens(t: Turn, r: httpx.Response) -> None:
    assert t.world.owner_token not in {token["id"] for token in r.json()}


@dataclass(frozen=True)
class Route:
    rule: Rule  # docs/admin-api.md's "who may"
    success: int
    call: Callable[[Turn], httpx.Response]
    missing: bool = False  # the call has a variant on names that do not exist
    shows: Callable[[Turn, httpx.Response], None] | None = None


ROUTES: dict[str, Route] = {
    "GET /me": Route(anyone_signed_in, 200, lambda t: t.http.get(f"{API}/me"), shows=_shows_me),
    "GET /users": Route(registry_admins, 200, lambda t: t.http.get(f"{API}/users")),
    "POST /users": Route(registry_admins, 201, _post_user),
    # "a user for themselves": robots are not users
    "GET /users/{self}": Route(people, 200, lambda t: t.http.get(f"{API}/users/{_q(t.me)}")),
    "GET /users/{other}": Route(
        registry_admins, 200, lambda t: t.http.get(f"{API}/users/{_q(_other_user(t, False))}"), True
    ),
    "PATCH /users/{other}": Route(registry_admins, 200, _patch_other, True),
    "DELETE /users/{other}": Route(registry_admins, 204, _delete_other, True),
    "PUT /users/{self}/password": Route(people, 204, lambda t: _password(t, t.me)),
    "PUT /users/{other}/password": Route(
        registry_admins, 204, lambda t: _password(t, _other_user(t, True)), True
    ),
    "GET /groups": Route(registry_admins, 200, lambda t: t.http.get(f"{API}/groups")),
    "POST /groups": Route(
        registry_admins, 201, lambda t: t.http.post(f"{API}/groups", json={"name": _fresh("g")})
    ),
    "GET /groups/{g}": Route(
        registry_admins, 200, lambda t: _group_call(t, "GET", "", member=True), True
    ),
    "PUT /groups/{g}/members/{u}": Route(
        registry_admins, 204, lambda t: _group_call(t, "PUT", f"/members/{_OWNER}", False), True
    ),
    "DELETE /groups/{g}/members/{u}": Route(
        registry_admins, 204, lambda t: _group_call(t, "DELETE", f"/members/{_OWNER}", True), True
    ),
    "DELETE /groups/{g}": Route(
        registry_admins, 204, lambda t: _group_call(t, "DELETE", "", member=True), True
    ),
    "GET /namespaces": Route(
        anyone_signed_in, 200, lambda t: t.http.get(f"{API}/namespaces"), shows=_shows_namespaces
    ),
    # namespace_creation is "everyone" by default: people, never robots
    "POST /namespaces": Route(people, 201, _post_namespace),
    "GET /namespaces/{ns}": Route(
        who_may_see, 200, lambda t: t.http.get(f"{API}/namespaces/{t.target.namespace}"), True
    ),
    "PATCH /namespaces/{ns}": Route(
        namespace_admins,
        200,
        lambda t: t.http.patch(
            f"{API}/namespaces/{t.target.namespace}", json={"policy": "private"}
        ),
        True,
    ),
    "GET /repositories": Route(
        anyone_signed_in,
        200,
        lambda t: t.http.get(f"{API}/repositories"),
        shows=_shows_repositories,
    ),
    # no missing variant: into a namespace that does not exist, people create it with it
    "POST /repositories": Route(namespace_writers, 201, _post_repository),
    "GET /repositories/{repo}": Route(
        who_may_see, 200, lambda t: t.http.get(f"{API}/repositories/{t.target.repository}"), True
    ),
    "PATCH /repositories/{repo}": Route(
        repository_admins,
        200,
        lambda t: t.http.patch(f"{API}/repositories/{t.target.repository}", json={"policy": None}),
        True,
    ),
    "GET /grants": Route(
        anyone_signed_in, 200, lambda t: t.http.get(f"{API}/grants"), shows=_shows_grants
    ),
    "POST /grants": Route(target_admins, 201, _post_grant, True),
    "DELETE /grants": Route(target_admins, 204, _delete_grant, True),
    "GET /robots": Route(
        anyone_signed_in, 200, lambda t: t.http.get(f"{API}/robots"), shows=_shows_robots
    ),
    "POST /robots": Route(robot_makers, 201, _post_robot, True),
    # "a robot without grants: registry admins only" (no object: 403 for everyone else)
    "POST /robots without grants": Route(
        registry_admins,
        201,
        lambda t: t.http.post(f"{API}/robots", json={"name": _fresh("bot"), "grants": []}),
    ),
    "GET /robots/{name}": Route(
        robot_viewers, 200, lambda t: t.http.get(f"{API}/robots/{_q(_robot_name(t, None))}"), True
    ),
    "DELETE /robots/{name}": Route(
        robot_viewers, 204, lambda t: _delete_robot(t, [_TARGET[t.scope].on]), True
    ),
    "DELETE /robots/{name} granted on both targets": Route(
        split_robot_managers,
        204,
        lambda t: _delete_robot(t, [target.on for target in _TARGET.values()]),
        True,
    ),
    "GET /tokens": Route(
        people, 200, lambda t: t.http.get(f"{API}/tokens"), shows=_shows_own_tokens
    ),
    "POST /tokens": Route(
        people, 201, lambda t: t.http.post(f"{API}/tokens", json={"name": _fresh("tok")})
    ),
    "DELETE /tokens/{id} own": Route(people, 204, _delete_own_token),
    "DELETE /tokens/{id} someone else's": Route(
        registry_admins_hidden, 204, _delete_others_token, True
    ),
    "GET /audit": Route(registry_admins, 200, lambda t: t.http.get(f"{API}/audit")),
}


# Where the server answers otherwise and the table above is right: (route, caller, scope) ->
# why. Strict xfail, so that fixing the server fails here until the entry goes.
def expected(route: str, caller: str, scope: str) -> int:
    if caller == "anonymous":
        return 401
    verdict = ROUTES[route].rule(caller, scope)
    return {Verdict.OK: ROUTES[route].success, Verdict.DENIED: 403, Verdict.HIDDEN: 404}[verdict]


def _cases() -> Iterator[Any]:
    for route in ROUTES:
        for caller in CALLERS:
            if route == "DELETE /tokens/{id} own" and caller == "robot":
                continue  # robots own no tokens (POST /tokens is 403 for them)
            for scope in SCOPES:
                yield pytest.param(route, caller, scope, id=f"{route}|{caller}|{scope}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("admin-matrix"))
    server.start()
    api = AdminApi(server.url, (server.username, server.password))
    owner = httpx.Client(base_url=server.url, auth=(_OWNER, _PASSWORD), timeout=30)
    clients: dict[tuple[str, str], httpx.Client] = {}
    try:
        api.create_namespace("ns-amx")
        api.create_repository("ns-amx/app")
        api.create_repository("rp-amx/app")  # its namespace comes with it
        api.add_group("amx-viewers")
        api.grant("read", "group:amx-viewers", "ns-amx/app")
        api.add_user("nobody", _PASSWORD)
        api.add_user(_OWNER, _PASSWORD)
        owner_token = _made(owner.post(f"{API}/tokens", json={"name": "kept"}))["id"]
        credentials: dict[tuple[str, str], tuple[str, str] | None] = {}
        for scope in SCOPES:
            on, prefix = _TARGET[scope].on, _PREFIX[scope]
            credentials[("anonymous", scope)] = None
            credentials[("none", scope)] = ("nobody", _PASSWORD)
            credentials[("registry-admin", scope)] = (server.username, server.password)
            for role in ("read", "write", "admin"):
                api.add_user(f"{prefix}-{role}", _PASSWORD)
                api.grant(role, f"user:{prefix}-{role}", on)
                credentials[(role, scope)] = (f"{prefix}-{role}", _PASSWORD)
            credentials[("robot", scope)] = api.add_robot(f"{prefix}-amx-bot", [("write", on)])
        # shared by both scopes' targets: either scope's admin sees it, neither manages it
        api.add_robot(_SHARED_ROBOT, [("write", target.on) for target in _TARGET.values()])
        with AdminApi(server.url, ("ns-admin", _PASSWORD)) as ns_admin:
            pat = ns_admin.add_token("matrix")
        clients = {
            key: httpx.Client(base_url=server.url, auth=auth, timeout=30)
            for key, auth in credentials.items()
        }
        yield World(server, api, owner, int(owner_token), credentials, clients, pat)
    finally:
        for client in clients.values():
            client.close()
        owner.close()
        api.close()
        server.stop()


def _shape(r: httpx.Response) -> tuple[int, list[tuple[str, str]]]:
    """The status and errors, names and numbers blanked: what may not tell them apart."""
    errors = json.loads(r.text)["errors"]
    blank = [(e["code"], re.sub(r"\d+", "N", re.sub(r"[\w.$-]*amx[\w./$-]*", "X", e["message"])))
             for e in errors]  # fmt: skip
    return r.status_code, blank


def _check(turn: Turn, route: str, r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    if status == 401:
        assert r.headers["www-authenticate"] == 'Basic realm="dockyard"'
    codes = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND"}
    if status in codes:
        assert [e["code"] for e in r.json()["errors"]] == [codes[status]]
    shows = ROUTES[route].shows
    if shows is not None and status == ROUTES[route].success:
        shows(turn, r)


@pytest.mark.parametrize(("route", "caller", "scope"), list(_cases()))
def test_admin_route(world: World, route: str, caller: str, scope: str) -> None:
    status = expected(route, caller, scope)
    turn = Turn(world.clients[(caller, scope)], world, caller, scope)
    r = ROUTES[route].call(turn)
    _check(turn, route, r, status)
    refused_blindly = status in (401, 404) or ROUTES[route].rule in _BLIND
    if ROUTES[route].missing and status in (401, 403, 404) and refused_blindly:
        ghost = ROUTES[route].call(replace(turn, missing=True))
        assert _shape(ghost) == _shape(r), "a refusal must not tell what exists"


# A personal access token or a robot secret as `Authorization: Bearer`: the same answers
# as the Basic sign-in of its user or robot.
_BEARER_ROUTES = [
    "GET /me",
    "GET /users",
    "GET /namespaces/{ns}",
    "PATCH /namespaces/{ns}",
    "GET /repositories",
    "POST /grants",
    "GET /tokens",
]


@pytest.mark.parametrize("caller", ["admin", "robot"])
@pytest.mark.parametrize("route", _BEARER_ROUTES)
def test_bearer_acts_as_basic(world: World, route: str, caller: str) -> None:
    basic = world.credentials[(caller, "namespace")]
    assert basic is not None
    secret = world.pat if caller == "admin" else basic[1]
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=world.server.url, headers=headers) as client:
        turn = Turn(client, world, caller, "namespace")
        _check(turn, route, ROUTES[route].call(turn), expected(route, caller, "namespace"))


@pytest.mark.parametrize("token", ["none", "garbage", "tampered"])
def test_bad_bearer_is_unauthorized(world: World, token: str) -> None:
    value = {"none": "", "garbage": "not-a-token", "tampered": world.pat[:-4] + "AAAA"}[token]
    if value == world.pat:  # the random part ended in AAAA already
        value = world.pat[:-4] + "BBBB"
    header = f"Bearer {value}".strip()
    r = httpx.get(f"{world.server.url}{API}/me", headers={"Authorization": header})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == 'Basic realm="dockyard"'


@pytest.mark.parametrize("scope", SCOPES)
def test_robot_shows_only_grants_the_caller_may_see(world: World, scope: str) -> None:
    """An admin of one target sees a robot that also holds a grant elsewhere, but must not
    learn through it that the other target exists (no existence oracle)."""
    client = world.clients[("admin", scope)]
    other = _TARGET[_OTHER_SCOPE[scope]]
    assert client.get(f"{API}/repositories/{other.repository}").status_code == 404
    listed = {r["name"]: r for r in client.get(f"{API}/robots").json()}
    one = client.get(f"{API}/robots/{_SHARED_ROBOT}").json()
    for view in (listed[_SHARED_ROBOT], one):
        assert {grant["on"] for grant in view["grants"]} == {_TARGET[scope].on}


@pytest.mark.parametrize("action", ["mint a token", "change the password"])
def test_an_access_token_may_not_mint_tokens_or_change_the_password(
    world: World, action: str
) -> None:
    """A token leaked from a client's config must not outlive its revocation: minting more
    tokens and changing the password need a password sign-in (the same calls with the
    password succeed: the matrix above)."""
    signed_in = world.credentials[("admin", "namespace")]
    assert signed_in is not None
    method, path, body = {
        "mint a token": ("POST", "/tokens", {"name": "minted-by-a-token"}),
        "change the password": (
            "PUT", f"/users/{signed_in[0]}/password", {"password": "a-new-password-1"},
        ),
    }[action]  # fmt: skip
    headers = {"Authorization": f"Bearer {world.pat}"}
    r = httpx.request(method, f"{world.server.url}{API}{path}", json=body, headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["code"] == "DENIED"
