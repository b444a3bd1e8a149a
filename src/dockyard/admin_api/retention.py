"""`/retention`: retention policies per namespace or repository, their simulation (exactly
what a run would remove now, and the bytes it frees), running one now, and the tags runs
removed that may still be restored. The rules are registry.retention's."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.registry import retention
from dockyard.registry.retention import Rules, Scope

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/retention", tags=["retention"])


class RulesIn(BaseModel):
    keep_last: int | None = Field(
        None, ge=0, description="Keep the N most recently pushed tags; alone, the rest go."
    )
    keep_patterns: list[str] = Field(
        default_factory=list,
        description="Tags matching one of these stay: globs (`release-*`) or regular "
        "expressions written `re:<expression>`, matched against the whole tag.",
    )
    keep_pulled_days: int | None = Field(None, ge=0, description="Keep tags pulled within D days.")
    remove_older_than_days: int | None = Field(
        None, ge=0, description="Tags pushed (last moved) more than D days ago go."
    )
    remove_untagged_after_days: int | None = Field(
        None, ge=0, description="Untagged images go D days after they lost their last tag."
    )

    def rules(self) -> Rules:
        return Rules(
            self.keep_last, tuple(self.keep_patterns), self.keep_pulled_days,
            self.remove_older_than_days, self.remove_untagged_after_days,
        )  # fmt: skip

    @classmethod
    def of(cls, rules: Rules) -> Self:
        return cls(
            keep_last=rules.keep_last, keep_patterns=list(rules.keep_patterns),
            keep_pulled_days=rules.keep_pulled_days,
            remove_older_than_days=rules.remove_older_than_days,
            remove_untagged_after_days=rules.remove_untagged_after_days,
        )  # fmt: skip


class PolicyIn(BaseModel):
    rules: RulesIn
    enabled: bool = Field(False, description="Run on the server's schedule.")
    protected: bool = Field(
        False,
        description="A namespace only, registry admins only: retention never removes "
        "anything in it, whatever any policy says.",
    )


class PolicyOut(BaseModel):
    scope: Scope
    target: str
    enabled: bool
    protected: bool
    rules: RulesIn
    summary: str = Field(description="The rules in words.")
    updated_at: int
    updated_by: str | None
    last_run_at: int | None

    @classmethod
    def of(cls, policy: retention.Policy) -> Self:
        return cls(
            scope=policy.scope, target=policy.target, enabled=policy.enabled,
            protected=policy.protected, rules=RulesIn.of(policy.rules),
            summary=policy.rules.describe(), updated_at=policy.updated_at,
            updated_by=policy.updated_by, last_run_at=policy.last_run_at,
        )  # fmt: skip


class RemovalOut(BaseModel):
    repository: str
    tag: str | None = Field(description="None: an untagged image.")
    digest: str
    rule: str = Field(description="The rule that removes it.")
    pushed_at: int = Field(description="When the tag last moved (untagged: when it lost it).")
    last_pulled_at: int | None


class SimulationOut(BaseModel):
    scope: Scope
    target: str
    summary: str
    protected: bool = Field(description="A protected namespace: nothing goes.")
    repositories: list[str]
    tags_examined: int
    tags_kept: int
    kept_reasons: dict[str, int] = Field(description="How many tags each rule keeps.")
    removals: list[RemovalOut]
    images_freed: int = Field(description="Images garbage collection takes afterwards.")
    bytes_freed: int = Field(
        description="Bytes that frees in the store once the restore window ends, each "
        "shared blob counted once (a layer a kept image uses frees nothing)."
    )
    fingerprint: str = Field(description="Pass as `expect` to run exactly this plan.")

    @classmethod
    def of(cls, s: retention.Simulation) -> Self:
        return cls(
            scope=s.scope, target=s.target, summary=s.rules.describe(), protected=s.protected,
            repositories=list(s.repositories), tags_examined=s.tags_examined,
            tags_kept=s.tags_kept, kept_reasons=dict(s.kept_reasons),
            removals=[RemovalOut.model_validate(r, from_attributes=True) for r in s.removals],
            images_freed=s.images_freed, bytes_freed=s.bytes_freed, fingerprint=s.fingerprint,
        )  # fmt: skip


class RunIn(BaseModel):
    expect: str | None = Field(
        None, description="A simulation's fingerprint: refuse (409) if the plan changed since."
    )


class RunOut(BaseModel):
    simulation: SimulationOut = Field(description="The plan the run started from.")
    removed: list[RemovalOut]
    skipped: list[RemovalOut] = Field(description="In the plan, left alone: changed since.")
    restore_until: int


class RemovedTagOut(BaseModel):
    id: int
    repository: str
    tag: str
    digest: str
    removed_at: int
    restore_until: int
    reason: str | None


class RestoredOut(BaseModel):
    repository: str
    tag: str
    digest: str


@router.get("/policies", summary="The policies on what you administer")
def list_policies(caller: Caller, ctx: Context) -> list[PolicyOut]:
    return [PolicyOut.of(p) for p in retention.list_policies(ctx, caller)]


@router.get("/policies/{scope}/{target:path}", summary="One policy")
def get_policy(scope: Scope, target: str, caller: Caller, ctx: Context) -> PolicyOut:
    return PolicyOut.of(retention.get_policy(ctx, caller, scope, target))


@router.put("/policies/{scope}/{target:path}", summary="Create or replace a policy")
def set_policy(
    scope: Scope, target: str, body: PolicyIn, caller: Caller, ctx: Context, address: Address
) -> PolicyOut:
    policy = retention.set_policy(
        ctx, caller, address, scope, target, body.rules.rules(),
        enabled=body.enabled, protected=body.protected,
    )  # fmt: skip
    return PolicyOut.of(policy)


@router.delete("/policies/{scope}/{target:path}", status_code=204, summary="Remove a policy")
def delete_policy(
    scope: Scope, target: str, caller: Caller, ctx: Context, address: Address
) -> Response:
    retention.delete_policy(ctx, caller, address, scope, target)
    return Response(status_code=204)


@router.post("/simulate/{scope}/{target:path}", summary="What the policy (or these rules) removes")
def simulate(
    scope: Scope, target: str, caller: Caller, ctx: Context, body: RulesIn | None = None
) -> SimulationOut:
    rules = body.rules() if body is not None else None
    return SimulationOut.of(retention.simulate(ctx, caller, scope, target, rules))


@router.post("/run/{scope}/{target:path}", summary="Run the saved policy now")
def run(
    scope: Scope, target: str, body: RunIn, caller: Caller, ctx: Context, address: Address
) -> RunOut:
    result = retention.apply(ctx, caller, address, scope, target, expect=body.expect)
    return RunOut(
        simulation=SimulationOut.of(result.simulation),
        removed=[RemovalOut.model_validate(r, from_attributes=True) for r in result.removed],
        skipped=[RemovalOut.model_validate(r, from_attributes=True) for r in result.skipped],
        restore_until=result.restore_until,
    )


@router.get("/removed", summary="Tags retention removed that may still be restored")
def removed(
    caller: Caller,
    ctx: Context,
    repository: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[RemovedTagOut]:
    found = retention.removals(ctx, caller, repository, limit)
    return [RemovedTagOut.model_validate(r, from_attributes=True) for r in found]


@router.post("/removed/{removal_id}/restore", summary="Put a removed tag back")
def restore(removal_id: int, caller: Caller, ctx: Context, address: Address) -> RestoredOut:
    ref = retention.restore(ctx, caller, address, removal_id)
    return RestoredOut(repository=ref.repository, tag=ref.tag, digest=ref.digest)
