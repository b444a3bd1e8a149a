"""Storage usage on the console: a namespace's Administration page shows its usage (own
and shared; for a namespace of more than SPLIT_BUDGET blobs, on request), its quota as a
bar and its largest repositories, and lets registry admins set or clear the quota (typed as
people write sizes: `10GiB`); a repository's page shows its own usage and its namespace's
quota. The figures and the rules are registry.usage's."""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.auth.errors import InvalidRequest
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.registry import usage
from dockyard.registry.sizes import parse_size

__all__ = ["QUOTA_ACTIONS", "SPLIT_BUDGET", "quota_action"]

QUOTA_ACTIONS = frozenset({"quota", "quota-clear"})
# Namespaces with more blobs are split into own and shared only when asked (a link): the
# split reads every blob, about 3 µs each, and the page should stay near 100 ms.
SPLIT_BUDGET = 20_000


def quota_action(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    namespace: str,
    action: str,
    form: Mapping[str, str],
) -> str:
    """Blocking. The namespace page's quota forms; returns the flash message's key."""
    if action == "quota-clear":
        usage.clear_quota(ctx, caller, address, namespace)
        return "quota-cleared"
    try:
        quota = parse_size(form.get("quota", ""))
    except ValueError as err:
        raise InvalidRequest(str(err)) from None
    usage.set_quota(ctx, caller, address, namespace, quota)
    return "quota-set"
