"""Sign-in against LDAP / Active Directory: the one module that speaks LDAP (through ldap3).

Calls block; run them in worker threads. Each call opens its own connections and unbinds them
before it returns, so nothing LDAP is shared between threads. The rules (pitfalls §24):

- TLS (ldaps:// or StartTLS) verifies the certificate chain and the host name, TLS 1.2 or later.
- Referrals are never followed: ldap3 would bind to the referred server with our credentials.
- Every value put into a filter is escaped (RFC 4515 §3); placeholders are filled in one pass.
- Empty passwords are refused before any bind: RFC 4513 §5.1.2 makes a name with an empty
  password an "unauthenticated bind", which many servers accept as anonymous.
- The user is searched for with the service account (anonymously without `bind_dn`) and must be
  found exactly once; the password is then tried in a bind as that DN on a connection of its own.
- Refused credentials are remembered for `failure_cache_seconds` under a keyed BLAKE2 digest:
  a client retrying a stale password must not lock the account (AD locks it company-wide).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import secrets
import ssl
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dockyard.auth.ldap_filters import (
    escape,
    fill_filter,
    group_filter,
    parse_dn,
    rdn_value,
    tidy_dn,
)
from dockyard.config import DirectoryConfig

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 >= 0.6 deprecates; nothing we can change.
    warnings.filterwarnings("ignore", r"(tagMap|typeMap) is deprecated", DeprecationWarning)
    from ldap3 import ANONYMOUS, BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
    from ldap3.core.exceptions import LDAPException

__all__ = ["Directory", "DirectoryGroup", "DirectoryUnavailable", "DirectoryUser"]

_MAX_GROUPS = 1000
_MAX_USERNAME = 256
# Bind results that mean "these credentials are not accepted" (RFC 4511 §4.1.9); any other
# failure means the directory could not answer.
_REFUSED = frozenset({48, 49, 50, 53})  # inappropriateAuth, invalidCredentials, access, unwilling
_SEARCH_OK = frozenset({0, 4, 32})  # success, sizeLimitExceeded (entries so far), noSuchObject


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    dn: str
    name: str  # group_name_attribute (or the first RDN's value), case-folded


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    directory: str  # DirectoryConfig.name
    external_id: str  # id_attribute as text (objectGUID as a UUID string), else the DN
    username: str  # username_attribute, case-folded
    dn: str
    display_name: str | None
    groups: tuple[DirectoryGroup, ...]  # empty without group_base and member_of_attribute


class DirectoryUnavailable(Exception):
    """The directory could not be asked: unreachable, TLS failure, timeout, service bind refused.
    The message is safe to log and to show an admin (no passwords)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    dn: str
    raw: dict[str, list[bytes]]  # attribute name, case-folded -> raw values

    def first(self, attribute: str) -> bytes | None:
        values = self.raw.get(attribute.casefold())
        return values[0] if values else None

    def text(self, attribute: str) -> str | None:
        value = self.first(attribute)
        return None if value is None else value.decode("utf-8", "replace")


class _VerifiedTls(Tls):  # type: ignore[misc]  # ldap3 is untyped
    """ldap3's `Tls` wrapping sockets with our context: the handshake itself then checks the host
    name (ldap3 checks it afterwards with `ssl.match_hostname`, deprecated and gone in 3.12)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self._context = context

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_hostname=connection.server.host,
            do_handshake_on_connect=do_handshake,
        )


class _Failures:
    """Recently refused (username, password) pairs, kept as keyed BLAKE2 digests (the key is
    random per process) for `ttl` seconds; past `size` entries the oldest are forgotten."""

    def __init__(self, ttl: float, size: int) -> None:
        self._ttl, self._size = ttl, size
        self._key = secrets.token_bytes(32)
        self._expiry: OrderedDict[bytes, float] = OrderedDict()  # digest -> time.monotonic()
        self._lock = threading.Lock()  # calls come from several worker threads

    def digest(self, username: str, password: str) -> bytes:
        # usernames hold no NUL (authenticate refuses them), so the pair is unambiguous
        data = f"{username.casefold()}\0{password}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self._key).digest()

    def __contains__(self, digest: bytes) -> bool:
        with self._lock:
            expires = self._expiry.get(digest)
            if expires is not None and expires <= time.monotonic():
                del self._expiry[digest]
                expires = None
            return expires is not None

    def add(self, digest: bytes) -> None:
        if self._ttl <= 0 or self._size <= 0:
            return
        with self._lock:
            self._expiry[digest] = time.monotonic() + self._ttl
            self._expiry.move_to_end(digest)
            while len(self._expiry) > self._size:
                self._expiry.popitem(last=False)


class Directory:
    """One configured directory. Thread-safe; holds no connection between calls."""

    def __init__(
        self,
        config: DirectoryConfig,
        failure_cache_seconds: float = 60,
        *,
        failure_cache_size: int = 4096,
    ) -> None:
        self._config = config
        self._ldaps = config.url.lower().startswith("ldaps://")
        # ldap3 packs the receive timeout into SO_RCVTIMEO as whole seconds
        self._wait = max(1, math.ceil(config.timeout_seconds))
        self._failures = _Failures(failure_cache_seconds, failure_cache_size)
        self._tls_lock = threading.Lock()
        self._tls_context: ssl.SSLContext | None = None

    @property
    def name(self) -> str:
        return self._config.name

    def authenticate(self, username: str, password: str) -> DirectoryUser | None:
        """Blocking. None for bad credentials (empty password, unknown user, more than one hit,
        wrong password). Raises DirectoryUnavailable when the directory cannot be asked."""
        if not username or not password or len(username) > _MAX_USERNAME or "\0" in username:
            return None
        digest = self._failures.digest(username, password)
        if digest in self._failures:  # refused a moment ago: do not ask (and lock) again
            return None
        with self._service() as service:
            entry = self._find_entry(service, username)
            accepted = False
            if entry is not None:  # the password goes only into a bind as that very entry
                with self._connection(entry.dn, password) as own:
                    accepted = bool(own.bound)
            if entry is None or not accepted:
                self._failures.add(digest)
                return None
            return self._user(service, entry, username)

    def find_user(self, username: str) -> DirectoryUser | None:
        """Blocking; searches with the service account only (used to grant roles to people who
        have not signed in yet). Groups included."""
        if not username or len(username) > _MAX_USERNAME:
            return None
        with self._service() as service:
            entry = self._find_entry(service, username)
            return None if entry is None else self._user(service, entry, username)

    def find_group(self, name_or_dn: str) -> DirectoryGroup | None:
        """Blocking; by DN (if it parses as one and lies under group_base) or by name
        ((group_name_attribute={name}) under group_base). None if absent or ambiguous.
        Without group_base any DN is taken, and no name can be looked up."""
        config = self._config
        dn, tidy = parse_dn(name_or_dn), tidy_dn(name_or_dn)
        if dn is not None and tidy is not None:
            base = parse_dn(config.group_base) if config.group_base else ()
            if base is None or len(dn) <= len(base) or dn[len(dn) - len(base) :] != base:
                return None
            where, scope, query = tidy, BASE, "(objectClass=*)"
        elif config.group_base and name_or_dn:
            escaped = escape(name_or_dn)
            where, scope, query = (
                config.group_base,
                SUBTREE,
                f"({config.group_name_attribute}={escaped})",
            )
        else:
            return None
        with self._service() as service:
            found = self._search(service, where, query, scope, [config.group_name_attribute], 2)
        return self._group(found[0]) if len(found) == 1 else None

    def check(self) -> None:
        """Blocking; binds the service account (or anonymously if no bind_dn) and returns, or
        raises DirectoryUnavailable. For the status page and readiness."""
        with self._service():
            pass

    # --- connections ----------------------------------------------------------------------------

    def _unavailable(self, what: str, detail: object) -> DirectoryUnavailable:
        return DirectoryUnavailable(f"directory {self.name} ({self._config.url}): {what}: {detail}")

    def _tls(self) -> _VerifiedTls | None:
        if not (self._ldaps or self._config.start_tls):
            return None
        with self._tls_lock:
            if self._tls_context is None:
                ca_file = self._config.ca_file
                try:  # the system's CAs unless ca_file is set; verifies chain and host name
                    context = ssl.create_default_context(cafile=ca_file)
                except (OSError, ssl.SSLError) as err:
                    raise self._unavailable(f"cannot load ca_file {ca_file}", err) from None
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                self._tls_context = context
            return _VerifiedTls(self._tls_context)

    @contextlib.contextmanager
    def _connection(self, dn: str | None, password: str | None) -> Iterator[Any]:
        """A connection after a bind as `dn` (anonymous when None); `.bound` tells whether the
        server accepted the credentials. Anything but a refusal raises DirectoryUnavailable."""
        try:
            server = Server(
                self._config.url,
                use_ssl=self._ldaps,
                tls=self._tls(),
                connect_timeout=self._config.timeout_seconds,
                get_info=NONE,
            )
            conn = Connection(
                server,
                user=dn,
                password=password,
                authentication=SIMPLE if dn else ANONYMOUS,
                auto_referrals=False,
                receive_timeout=self._wait,
                raise_exceptions=False,
                read_only=True,
            )
        except LDAPException as err:
            raise self._unavailable("bad configuration", err) from None
        try:
            try:
                conn.open()
                if self._config.start_tls:
                    conn.start_tls(read_server_info=False)
                conn.bind()
            except LDAPException as err:  # last_error reads better than ldap3's nested args
                raise self._unavailable("cannot connect", conn.last_error or err) from None
            if not conn.bound and conn.result["result"] not in _REFUSED:
                raise self._unavailable("bind failed", conn.result["description"])
            yield conn
        finally:
            with contextlib.suppress(LDAPException, OSError):  # the socket may be dead already
                conn.unbind()
            if conn.socket is not None:  # ldap3 leaves it open when connecting failed
                conn.socket.close()

    @contextlib.contextmanager
    def _service(self) -> Iterator[Any]:
        """A connection bound as the service account (anonymous without bind_dn)."""
        dn = self._config.bind_dn
        try:
            password = self._config.service_password()
        except OSError as err:
            raise self._unavailable("cannot read bind_password_file", err.strerror) from None
        if dn and not password:  # an empty password would bind anonymously (RFC 4513 §5.1.2)
            raise self._unavailable("service account bind refused", "no password configured")
        with self._connection(dn, password) as conn:
            if not conn.bound:
                raise self._unavailable("service account bind refused", conn.result["description"])
            yield conn

    def _search(
        self, conn: Any, base: str, query: str, scope: str, attributes: list[str], limit: int
    ) -> list[_Entry]:
        try:
            conn.search(
                base,
                query,
                search_scope=scope,
                attributes=attributes,
                size_limit=limit,
                time_limit=self._wait,
            )
        except LDAPException as err:
            raise self._unavailable("search failed", err) from None
        if conn.result["result"] not in _SEARCH_OK:  # noSuchObject: the base is absent, no hit
            raise self._unavailable(f"search under {base} failed", conn.result["description"])
        return [
            _Entry(item["dn"], {k.casefold(): list(v) for k, v in item["raw_attributes"].items()})
            for item in conn.response or ()
            if item["type"] == "searchResEntry"  # referrals (AD) are not followed
        ]

    # --- users and groups -------------------------------------------------------------------------

    def _find_entry(self, service: Any, username: str) -> _Entry | None:
        config = self._config
        # Operational attributes (entryUUID, memberOf) come only when asked for by name.
        attributes = [config.username_attribute, config.id_attribute, config.display_name_attribute]
        if config.member_of_attribute:
            attributes.append(config.member_of_attribute)
        query = fill_filter(config.user_filter, username=username)
        found = self._search(service, config.user_base, query, SUBTREE, attributes, 2)
        return found[0] if len(found) == 1 else None  # none, or ambiguous

    def _user(self, service: Any, entry: _Entry, login: str) -> DirectoryUser:
        config = self._config
        username = entry.text(config.username_attribute) or login
        raw_id = entry.first(config.id_attribute)
        if raw_id is None:
            # Some directories hide operational attributes from the service account; the DN is
            # then the steadiest id there is (a rename or move makes it a new account).
            external_id = entry.dn
        elif config.id_attribute.casefold() == "objectguid" and len(raw_id) == 16:
            external_id = str(uuid.UUID(bytes_le=raw_id))  # AD stores the GUID little-endian
        else:
            external_id = raw_id.decode("utf-8", "replace")
        return DirectoryUser(
            directory=self.name,
            external_id=external_id,
            username=username.casefold(),
            dn=entry.dn,
            display_name=entry.text(config.display_name_attribute),
            groups=self._groups(service, entry, username),
        )

    def _groups(self, service: Any, entry: _Entry, username: str) -> tuple[DirectoryGroup, ...]:
        config = self._config
        if config.member_of_attribute:
            values = entry.raw.get(config.member_of_attribute.casefold(), [])[:_MAX_GROUPS]
            dns = [value.decode("utf-8", "replace") for value in values]
            groups = [DirectoryGroup(dn, name.casefold()) for dn in dns if (name := rdn_value(dn))]
        elif config.group_base:
            query = group_filter(config, user_dn=entry.dn, username=username)
            found = self._search(
                service,
                config.group_base,
                query,
                SUBTREE,
                [config.group_name_attribute],
                _MAX_GROUPS,
            )
            groups = [group for found_entry in found if (group := self._group(found_entry))]
        else:
            groups = []
        return tuple(sorted(set(groups), key=lambda group: (group.name, group.dn)))

    def _group(self, entry: _Entry) -> DirectoryGroup | None:
        name = entry.text(self._config.group_name_attribute) or rdn_value(entry.dn)
        return DirectoryGroup(entry.dn, name.casefold()) if name else None
