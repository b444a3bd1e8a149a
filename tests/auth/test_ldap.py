"""Directory sign-in against a real OpenLDAP (tests/fixtures/slapd.py): the rules of pitfalls §24.

Each rule is shown by what the server does, never by peeking into `Directory`: an empty password
is refused even when the directory is unreachable (so nothing was contacted), a cached failure
outlives a password change made on the server, escaping is proven by names that would match
without it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from dockyard.auth.ldap import Directory, DirectoryGroup, DirectoryUnavailable, DirectoryUser
from dockyard.auth.ldap_filters import fill_filter, group_filter
from dockyard.config import DirectoryConfig
from fixtures.slapd import ODD_USER, Slapd


def directory(slapd: Slapd, failure_cache_seconds: float = 60, **overrides: Any) -> Directory:
    return Directory(DirectoryConfig(**slapd.directory_config(**overrides)), failure_cache_seconds)


def sign_in(slapd: Slapd, username: str, **overrides: Any) -> DirectoryUser | None:
    login = username.casefold()
    return directory(slapd, **overrides).authenticate(username, slapd.passwords[login])


def group_names(user: DirectoryUser | None) -> set[str]:
    assert user is not None
    return {group.name for group in user.groups}


def test_sign_in(slapd: Slapd) -> None:
    user = sign_in(slapd, "jane")
    assert user is not None
    assert user.directory == "hackershop"
    assert user.external_id == slapd.attribute(slapd.user_dn("jane"), "entryUUID")[0]
    assert user.username == "jane"
    assert user.dn == slapd.user_dn("jane")
    assert user.display_name == "Jane"
    assert user.groups == (DirectoryGroup(slapd.group_dn("devops"), "devops"),)


def test_username_is_case_folded(slapd: Slapd) -> None:
    user = directory(slapd).authenticate("JaNe", slapd.passwords["jane"])
    assert user is not None
    assert user.username == "jane"


def test_bad_credentials_are_none(slapd: Slapd) -> None:
    jane = directory(slapd)
    assert jane.authenticate("jane", slapd.passwords["josh"]) is None
    assert jane.authenticate("jane", slapd.passwords["jane"] + " ") is None
    assert jane.authenticate("nobody", "whatever") is None
    assert jane.authenticate("jane", "") is None
    assert jane.authenticate("", slapd.passwords["jane"]) is None


def test_empty_password_is_refused_before_contacting_the_directory(
    slapd: Slapd, unreachable_ldap_url: str
) -> None:
    dead = directory(slapd, url=unreachable_ldap_url)
    # a connection attempt would raise DirectoryUnavailable
    assert dead.authenticate("jane", "") is None
    assert dead.authenticate("", "x") is None
    with pytest.raises(DirectoryUnavailable):
        dead.authenticate("jane", "x")


def test_more_than_one_hit_is_none(slapd: Slapd) -> None:
    # `twin` is in ou=people and in ou=contractors,ou=people, both with this password
    assert directory(slapd).authenticate("twin", "twin-Secret-1") is None
    assert directory(slapd).find_user("twin") is None


@pytest.mark.parametrize(
    "username",
    ["*", "ja*", "j*e", "jane)(uid=*", "*)(uid=jane", "jane)(|(uid=*", "jane\\", "jane\0"],
)
def test_filter_characters_are_escaped(slapd: Slapd, username: str) -> None:
    # unescaped, `ja*` and `j*e` would find jane alone and her password would be accepted
    assert directory(slapd).authenticate(username, slapd.passwords["jane"]) is None
    assert directory(slapd).find_user(username) is None


def test_names_with_filter_characters_work(slapd: Slapd) -> None:
    # uid `o*brien (ops)`, in `cn=ops (night)`: the user filter and the member filter
    # (member=uid=o*brien (ops),...) only match with the escaping
    user = sign_in(slapd, ODD_USER)
    assert user is not None
    assert user.username == ODD_USER
    assert user.groups == (DirectoryGroup(slapd.group_dn("ops (night)"), "ops (night)"),)
    group = directory(slapd).find_group("ops (night)")
    assert group == DirectoryGroup(slapd.group_dn("ops (night)"), "ops (night)")


def test_placeholders_are_filled_once() -> None:
    assert fill_filter("(uid={username})", username="{user_dn}") == "(uid={user_dn})"
    assert (
        fill_filter("(&(member={user_dn})(x={username}))", user_dn="cn=a(b)", username="{user_dn}*")
        == "(&(member=cn=a\\28b\\29)(x={user_dn}\\2a))"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="group-search"),
        pytest.param({"member_of_attribute": "memberOf"}, id="memberOf"),
        pytest.param({"member_of_attribute": "memberOf", "group_base": None}, id="memberOf-only"),
    ],
)
def test_groups(slapd: Slapd, overrides: dict[str, Any]) -> None:
    qa = DirectoryGroup(slapd.group_dn("qa"), "qa")
    assert group_names(sign_in(slapd, "greg", **overrides)) == {"qa"}
    assert group_names(sign_in(slapd, "sarah", **overrides)) == {"admins"}
    greg = directory(slapd, **overrides).find_user("greg")
    assert greg is not None
    assert greg.groups == (qa,)


def test_no_groups_without_group_base_or_member_of(slapd: Slapd) -> None:
    user = sign_in(slapd, "josh", group_base=None)
    assert user is not None
    assert user.groups == ()


def test_nested_groups_use_the_in_chain_rule(slapd: Slapd) -> None:
    config = DirectoryConfig(**slapd.directory_config(nested_groups=True))
    query = group_filter(config, user_dn="cn=Smith (IT),ou=people", username="smith")
    assert query == "(member:1.2.840.113556.1.4.1941:=cn=Smith \\28IT\\29,ou=people)"
    custom = config.model_copy(update={"group_filter": "(&(objectClass=group)(member={user_dn}))"})
    assert group_filter(custom, user_dn="cn=a", username="a") == (
        "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=cn=a))"
    )
    plain = config.model_copy(update={"nested_groups": False})
    assert group_filter(plain, user_dn="cn=a", username="a") == "(member=cn=a)"
    # OpenLDAP does not know the rule: the filter is sent and matches nothing, sign-in still works
    user = sign_in(slapd, "greg", nested_groups=True)
    assert user is not None
    assert user.groups == ()


def test_refused_credentials_are_cached(slapd: Slapd) -> None:
    new_password = slapd.passwords["eric"] + "-changed"
    cached = directory(slapd, failure_cache_seconds=1)
    try:
        assert cached.authenticate("eric", new_password) is None
        slapd.set_password("eric", new_password)
        # the server now accepts it (a fresh Directory has no cache) ...
        assert directory(slapd).authenticate("eric", new_password) is not None
        # ... but the failure is remembered, also under another spelling of the name
        assert cached.authenticate("eric", new_password) is None
        assert cached.authenticate("ERIC", new_password) is None
        time.sleep(1.1)
        assert cached.authenticate("eric", new_password) is not None
    finally:
        slapd.set_password("eric", slapd.passwords["eric"])


def test_failure_cache_is_bounded(slapd: Slapd) -> None:
    new_password = slapd.passwords["frank"] + "-changed"
    config = DirectoryConfig(**slapd.directory_config())
    small = Directory(config, failure_cache_seconds=60, failure_cache_size=2)
    try:
        assert small.authenticate("frank", new_password) is None
        slapd.set_password("frank", new_password)
        assert small.authenticate("frank", new_password) is None  # cached
        assert small.authenticate("nobody-1", "x") is None
        assert small.authenticate("nobody-2", "x") is None  # pushes frank's failure out
        assert small.authenticate("frank", new_password) is not None
    finally:
        slapd.set_password("frank", slapd.passwords["frank"])


def test_concurrent_calls(slapd: Slapd) -> None:
    shared = directory(slapd)
    names = ["sarah", "josh", "eric", "jane", "greg", "frank"] * 4

    def good(name: str) -> str | None:
        user = shared.authenticate(name, slapd.passwords[name])
        return None if user is None else user.username

    def bad(name: str) -> DirectoryUser | None:
        return shared.authenticate(name, slapd.passwords[name] + "-wrong")

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(good, names)) == names
        assert list(pool.map(bad, names)) == [None] * len(names)
        assert list(pool.map(good, names)) == names


def test_active_directory_attributes(slapd: Slapd) -> None:
    # the AD settings, minus nested groups: sAMAccountName keeps case, objectGUID is binary
    active_directory = {
        "user_filter": "(sAMAccountName={username})",
        "username_attribute": "sAMAccountName",
        "id_attribute": "objectGUID",
        "member_of_attribute": "memberOf",
    }
    user = sign_in(slapd, "Jane", **active_directory)
    assert user is not None
    assert slapd.attribute(user.dn, "sAMAccountName") == ["Jane"]
    assert user.username == "jane"
    assert user.external_id == str(slapd.object_guids["jane"])
    assert group_names(user) == {"devops"}


def test_missing_id_attribute_falls_back_to_the_dn(slapd: Slapd) -> None:
    user = sign_in(slapd, "jane", id_attribute="employeeNumber")
    assert user is not None
    assert user.external_id == slapd.user_dn("jane")


def test_starttls(slapd: Slapd) -> None:
    user = sign_in(slapd, "jane", start_tls=True, ca_file=slapd.ca_file)
    assert user is not None
    assert user.username == "jane"


def test_ldaps(slapd: Slapd) -> None:
    user = sign_in(slapd, "jane", url=slapd.ldaps_url, ca_file=slapd.ca_file)
    assert user is not None
    assert user.username == "jane"


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_untrusted_certificate_is_unavailable(slapd: Slapd, mode: str) -> None:
    overrides = {"url": slapd.ldaps_url} if mode == "ldaps" else {"start_tls": True}
    untrusted = directory(slapd, **overrides)  # the system's CAs do not know the test CA
    with pytest.raises(DirectoryUnavailable, match="certificate verify failed"):
        untrusted.authenticate("jane", slapd.passwords["jane"])
    with pytest.raises(DirectoryUnavailable, match="certificate"):
        untrusted.check()


def test_certificate_must_name_the_host(slapd: Slapd) -> None:
    wrong_host = directory(slapd, url=slapd.ldaps_url_wrong_host, ca_file=slapd.ca_file)
    with pytest.raises(DirectoryUnavailable, match="IP address mismatch"):
        wrong_host.check()
    by_name = slapd.ldaps_url.replace("127.0.0.1", "localhost")
    directory(slapd, url=by_name, ca_file=slapd.ca_file).check()


def test_unreachable_directory(slapd: Slapd, unreachable_ldap_url: str) -> None:
    dead = directory(slapd, url=unreachable_ldap_url, timeout_seconds=5)
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable) as caught:
        dead.authenticate("jane", slapd.passwords["jane"])
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(f"directory hackershop ({unreachable_ldap_url}): cannot connect: ")
    assert slapd.passwords["jane"] not in message
    assert slapd.bind_password not in message
    for call in (dead.check, lambda: dead.find_user("jane"), lambda: dead.find_group("qa")):
        with pytest.raises(DirectoryUnavailable):
            call()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("scheme", ["ldap", "ldaps"])
def test_silent_server_times_out(slapd: Slapd, silent_port: int, scheme: str) -> None:
    silent = directory(slapd, url=f"{scheme}://127.0.0.1:{silent_port}", timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable, match="timed out"):
        silent.authenticate("jane", slapd.passwords["jane"])
    assert time.monotonic() - started < 3


def test_wrong_service_password_is_unavailable(slapd: Slapd) -> None:
    wrong_password = slapd.bind_password + "-wrong"
    wrong = directory(slapd, bind_password=wrong_password)
    for call in (
        wrong.check,
        lambda: wrong.authenticate("jane", slapd.passwords["jane"]),
        lambda: wrong.find_user("jane"),
        lambda: wrong.find_group("qa"),
    ):
        with pytest.raises(DirectoryUnavailable, match="service account bind refused") as caught:
            call()
        assert wrong_password not in str(caught.value)


def test_service_password_from_file(slapd: Slapd, tmp_path: Path) -> None:
    path = tmp_path / "bind-password"
    path.write_text(slapd.bind_password + "\n")
    from_file = directory(slapd, bind_password=None, bind_password_file=path)
    from_file.check()
    path.unlink()
    with pytest.raises(DirectoryUnavailable, match="cannot read bind_password_file"):
        from_file.check()


def test_find_user_needs_no_password(slapd: Slapd) -> None:
    josh = directory(slapd).find_user("Josh")
    assert josh is not None
    assert josh.username == "josh"
    assert josh.dn == slapd.user_dn("josh")
    assert josh.external_id == slapd.attribute(slapd.user_dn("josh"), "entryUUID")[0]
    assert group_names(josh) == {"devops"}
    assert directory(slapd).find_user("nobody") is None
    assert directory(slapd).find_user("") is None


def test_find_group(slapd: Slapd) -> None:
    qa = DirectoryGroup(slapd.group_dn("qa"), "qa")
    groups = directory(slapd)
    assert groups.find_group("qa") == qa
    assert groups.find_group("QA") == qa
    assert groups.find_group(slapd.group_dn("qa")) == qa
    assert groups.find_group("CN=qa, OU=Groups,DC=hackershop,DC=lan") is not None
    assert groups.find_group("nope") is None
    assert groups.find_group("*") is None
    assert groups.find_group("") is None
    assert groups.find_group(slapd.group_dn("nope")) is None
    # a DN outside group_base is not a group, even if the entry exists
    assert groups.find_group(slapd.user_dn("jane")) is None
    assert groups.find_group(f"ou=groups,{slapd.base_dn}") is None
    # without group_base a name cannot be looked up
    assert directory(slapd, group_base=None).find_group("qa") is None


def test_check(slapd: Slapd, tmp_path: Path) -> None:
    directory(slapd).check()
    directory(slapd, url=slapd.ldaps_url, ca_file=slapd.ca_file).check()
    directory(slapd, bind_dn=None, bind_password=None).check()  # anonymous bind
    with pytest.raises(DirectoryUnavailable, match="service account bind refused"):
        directory(slapd, bind_password=None).check()  # a DN without password: not anonymous
    with pytest.raises(DirectoryUnavailable, match="cannot load ca_file"):
        directory(slapd, url=slapd.ldaps_url, ca_file=tmp_path / "missing.pem").check()


def test_search_refused_is_unavailable_not_bad_credentials(slapd: Slapd) -> None:
    # the fixture's ACLs let anonymous bind but not search: a configuration error to show
    anonymous = directory(slapd, bind_dn=None, bind_password=None)
    with pytest.raises(DirectoryUnavailable, match=r"search under .* insufficientAccessRights"):
        anonymous.authenticate("jane", slapd.passwords["jane"])
