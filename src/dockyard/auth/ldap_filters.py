"""Search filters and DNs for `dockyard.auth.ldap`: escaping, placeholders, DN comparison."""

from __future__ import annotations

import re
import warnings

from dockyard.config import DirectoryConfig

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 >= 0.6 deprecates; nothing we can change.
    warnings.filterwarnings("ignore", r"(tagMap|typeMap) is deprecated", DeprecationWarning)
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import parse_dn as _ldap3_parse_dn

__all__ = [
    "IN_CHAIN",
    "escape",
    "fill_filter",
    "group_filter",
    "parse_dn",
    "rdn_value",
    "tidy_dn",
]

# LDAP_MATCHING_RULE_IN_CHAIN ([MS-ADTS] §3.1.1.3.4.4.3): matches through nested groups.
# Only Active Directory knows it; elsewhere the filter item is Undefined and matches nothing.
IN_CHAIN = "1.2.840.113556.1.4.1941"
_PLACEHOLDER = re.compile(r"\{(username|user_dn)\}")
_DN_ESCAPE = re.compile(rb"\\([0-9a-fA-F]{2}|.)", re.DOTALL)  # RFC 4514 §2.4: \XX or \c


def escape(value: str) -> str:
    """`value` safe inside a filter: `*`, `(`, `)`, `\\` and NUL escaped (RFC 4515 §3)."""
    escaped: str = escape_filter_chars(value)
    return escaped


def fill_filter(template: str, **values: str) -> str:
    """`template` with each `{username}` / `{user_dn}` replaced by its escaped value.

    One pass, not str.format or chained str.replace: a username spelled `{user_dn}` stays that
    text, and braces elsewhere in the filter mean nothing."""
    escaped = {name: escape(value) for name, value in values.items()}
    return _PLACEHOLDER.sub(lambda match: escaped.get(match[1], match[0]), template)


def group_filter(config: DirectoryConfig, *, user_dn: str, username: str) -> str:
    """The filter finding a user's groups under `group_base`.

    With `nested_groups`, `(member={user_dn})` in the configured filter becomes the in-chain
    match `(member:1.2.840.113556.1.4.1941:={user_dn})`: Active Directory then also returns
    the groups of the user's groups. Other directories do not support it (see IN_CHAIN)."""
    template = config.group_filter
    if config.nested_groups:
        template = template.replace("(member={user_dn})", f"(member:{IN_CHAIN}:={{user_dn}})")
    return fill_filter(template, user_dn=user_dn, username=username)


def _parse(text: str) -> list[tuple[str, str, str]] | None:
    """ldap3's (attribute, escaped value, separator) triples of a DN, or None if not a DN."""
    if "=" not in text:
        return None
    try:
        parts: list[tuple[str, str, str]] = _ldap3_parse_dn(text, strip=True)
    except LDAPInvalidDnError:
        return None
    return parts


def _unescape(value: str) -> str:
    def one(match: re.Match[bytes]) -> bytes:
        return bytes.fromhex(match[1].decode()) if len(match[1]) == 2 else match[1]

    return _DN_ESCAPE.sub(one, value.encode()).decode("utf-8", "replace")


def parse_dn(text: str) -> tuple[tuple[str, str], ...] | None:
    """`text` as case-folded, unescaped (attribute, value) pairs, to compare DNs; None if
    it is not a DN."""
    parts = _parse(text)
    if parts is None:
        return None
    return tuple(
        (attribute.casefold(), _unescape(value).casefold()) for attribute, value, _ in parts
    )


def tidy_dn(text: str) -> str | None:
    """`text` without the spaces around separators, which ldap3 refuses in a search base."""
    parts = _parse(text)
    return None if parts is None else "".join(f"{a}={value}{sep}" for a, value, sep in parts)


def rdn_value(dn: str) -> str | None:
    """The value of the first RDN, unescaped: `cn=Dev\\, Ops,ou=groups` -> `Dev, Ops`."""
    parts = _parse(dn)
    return _unescape(parts[0][1]) if parts else None
