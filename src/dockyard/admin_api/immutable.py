"""`/immutable-tag-rules`: which tags of a namespace or repository may never be moved or
deleted. The rules are registry.immutability's."""

from __future__ import annotations

from typing import Self

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.registry import immutability
from dockyard.registry.targets import Scope

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/immutable-tag-rules", tags=["immutable tags"])


class RuleIn(BaseModel):
    scope: Scope
    target: str = Field(description="A namespace (`prod`) or a repository (`prod/shop/api`).")
    pattern: str = Field("*", description="A glob matched against the whole tag (`v*`).")


class RuleOut(BaseModel):
    id: int
    scope: Scope
    target: str
    pattern: str
    created_at: int
    created_by: str | None
    description: str

    @classmethod
    def of(cls, rule: immutability.Rule) -> Self:
        return cls(
            id=rule.id, scope=rule.scope, target=rule.target, pattern=rule.pattern,
            created_at=rule.created_at, created_by=rule.created_by,
            description=rule.describe(),
        )  # fmt: skip


@router.get("", summary="Every immutable tag rule")
def list_rules(caller: Caller, ctx: Context) -> list[RuleOut]:
    return [RuleOut.of(rule) for rule in immutability.list_rules(ctx, caller)]


@router.post("", status_code=201, summary="Make tags immutable (admin of the target)")
def add_rule(body: RuleIn, caller: Caller, ctx: Context, address: Address) -> RuleOut:
    rule = immutability.add_rule(ctx, caller, address, body.scope, body.target, body.pattern)
    return RuleOut.of(rule)


@router.delete("/{rule_id}", summary="Lift a rule (registry admins)")
def remove_rule(rule_id: int, caller: Caller, ctx: Context, address: Address) -> RuleOut:
    return RuleOut.of(immutability.remove_rule(ctx, caller, address, rule_id))
