"""Administration: retention policies, for whoever administers a namespace or repository.

One page: the policies, a form to write one, its simulation shown as a table (every tag
that would go, the rule, when it was pushed and last pulled, the bytes garbage collection
then frees) before anyone presses "Save and enable" or "Run now", and the tags runs removed
that may still be restored. "Run now" carries the simulation's fingerprint: if the registry
changed since, the run is refused and the page asks to simulate again.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.errors import AccessError, InvalidRequest
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.admin_kit import Desk, address, done
from dockyard.registry import retention
from dockyard.registry.retention import Rules, Scope

__all__ = ["Retention"]

_PATH = "/admin/retention"
_RULE_FIELDS = (
    "keep_last",
    "keep_pulled_days",
    "remove_older_than_days",
    "remove_untagged_after_days",
)


def _number(form: dict[str, str], name: str) -> int | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest(f"{name.replace('_', ' ')} is a whole number, or empty") from None


def _rules(form: dict[str, str]) -> Rules:
    patterns = [p.strip() for p in form.get("keep_patterns", "").replace(",", "\n").splitlines()]
    numbers = {name: _number(form, name) for name in _RULE_FIELDS}
    return Rules(keep_patterns=tuple(p for p in patterns if p), **numbers)


def _target(form: dict[str, str]) -> tuple[Scope, str]:
    target = form.get("target", "").strip()
    if not target:
        raise InvalidRequest("name a namespace (dev) or a repository (dev/api)")
    return (Scope.REPOSITORY if "/" in target else Scope.NAMESPACE), target


def _form_of(policy: retention.Policy) -> dict[str, str]:
    rules = policy.rules
    values: dict[str, str] = {
        "target": policy.target,
        "keep_patterns": "\n".join(rules.keep_patterns),
        "enabled": "on" if policy.enabled else "",
        "protected": "on" if policy.protected else "",
    }
    for name in _RULE_FIELDS:
        value = getattr(rules, name)
        values[name] = "" if value is None else str(value)
    return values


def _page_data(ctx: ManageContext, caller: Principal) -> dict[str, Any]:
    return {
        "policies": retention.list_policies(ctx, caller),
        "removed": retention.removals(ctx, caller, limit=200),
    }


class Retention:
    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @property
    def _ctx(self) -> ManageContext:
        return self._desk.manage

    async def page(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        posted: dict[str, str] = {}
        edit = request.query_params.get("edit", "")
        if edit:
            scope = Scope.REPOSITORY if "/" in edit else Scope.NAMESPACE
            try:
                policy = await run_in_threadpool(
                    retention.get_policy, self._ctx, session.principal, scope, edit
                )
                posted = _form_of(policy)
            except AccessError as error:
                return await self._render(request, session, error=error)
        return await self._render(request, session, posted=posted)

    async def _render(
        self,
        request: Request,
        session: Session,
        *,
        error: AccessError | None = None,
        posted: dict[str, str] | None = None,
        simulation: retention.Simulation | None = None,
    ) -> Response:
        try:
            data = await run_in_threadpool(_page_data, self._ctx, session.principal)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(
            request, session, "admin/retention.html", error=error, posted=posted or {},
            simulation=simulation, restore_days=self._ctx.retention_restore_seconds // 86_400,
            **data,
        )  # fmt: skip

    async def change(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        action = form.get("action", "")
        caller, where = session.principal, address(request)
        kept = {key: value for key, value in form.items() if key != "csrf_token"}
        try:
            if action == "restore":
                removal = _number(form, "removal") or 0
                await run_in_threadpool(retention.restore, self._ctx, caller, where, removal)
                return done(_PATH, "tag-restored")
            scope, target = _target(form)
            if action == "delete":
                await run_in_threadpool(
                    retention.delete_policy, self._ctx, caller, where, scope, target
                )
                return done(_PATH, "retention-deleted")
            rules = _rules(form)
            if action == "simulate":
                simulation = await run_in_threadpool(
                    retention.simulate, self._ctx, caller, scope, target, rules
                )
                return await self._render(request, session, posted=kept, simulation=simulation)
            if action in ("save", "enable"):
                await run_in_threadpool(
                    lambda: retention.set_policy(
                        self._ctx, caller, where, scope, target, rules,
                        enabled=action == "enable", protected=form.get("protected") == "on",
                    )
                )  # fmt: skip
                return done(_PATH, "retention-enabled" if action == "enable" else "retention-saved")
            if action == "run":
                expect = form.get("fingerprint") or None
                await run_in_threadpool(
                    lambda: retention.apply(self._ctx, caller, where, scope, target, expect=expect)
                )
                return done(_PATH, "retention-ran")
            raise InvalidRequest("unknown action")
        except AccessError as error:
            return await self._render(request, session, error=error, posted=kept)
