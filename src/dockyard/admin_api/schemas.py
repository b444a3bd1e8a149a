"""Request and answer bodies of the admin API. Times are ISO 8601 in UTC; principals and
targets are references (`user:jane`, `group:hackershop\\qa`, `robot:ci`; `dev`,
`dev/app`, `repository:skyfield`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dockyard.auth.manage import groups, robots, tokens, users
from dockyard.auth.manage import views as v
from dockyard.auth.roles import Policy, Role
from dockyard.registry import deletes
from dockyard.registry.errors import NameInvalid
from dockyard.registry.names import validate_name

__all__ = [
    "AuditPageOut",
    "DeletePlanOut",
    "DeleteResultOut",
    "DeletionIn",
    "GrantIn",
    "GrantOut",
    "GroupCreate",
    "GroupOut",
    "MeOut",
    "NamespaceCreate",
    "NamespaceOut",
    "NamespacePatch",
    "PasswordIn",
    "RepositoryCreate",
    "RepositoryOut",
    "RepositoryPageOut",
    "RepositoryPatch",
    "RobotCreate",
    "RobotCreated",
    "RobotOut",
    "TokenCreate",
    "TokenCreated",
    "TokenOut",
    "UndoOut",
    "UserCreate",
    "UserOut",
    "UserPatch",
    "time_of",
]


def time_of(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _password(value: SecretStr) -> SecretStr:
    # Checked here rather than with min_length, whose message would tell the length tried.
    if len(value.get_secret_value()) < users.MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {users.MIN_PASSWORD_LENGTH} characters")
    return value


def _repository_name(value: str) -> str:
    try:
        return validate_name(value)
    except NameInvalid:
        raise ValueError("not a repository name (OCI distribution spec grammar)") from None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeOut(BaseModel):
    name: str
    kind: str = Field(description="user, robot or operator")
    admin: bool = Field(description="Registry admin.")
    source: str | None = Field(description="A user's source: local or a directory's name.")


class UserOut(BaseModel):
    id: int
    name: str
    source: str
    admin: bool
    disabled: bool
    display_name: str | None
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, view: v.UserView) -> Self:
        return cls(
            id=view.id,
            name=view.name,
            source=view.source,
            admin=view.admin,
            disabled=view.disabled,
            display_name=view.display_name,
            created_at=datetime.fromtimestamp(view.created_at, UTC),
            last_login_at=time_of(view.last_login_at),
        )


class UserCreate(_In):
    name: str = Field(pattern=users.NAME_PATTERN)
    password: SecretStr
    admin: bool = False

    _check_password = field_validator("password")(_password)


class UserPatch(_In):
    admin: bool | None = None
    disabled: bool | None = None


class PasswordIn(_In):
    password: SecretStr

    _check_password = field_validator("password")(_password)


class GroupOut(BaseModel):
    id: int
    name: str
    source: str
    dn: str | None
    created_at: datetime
    member_count: int
    members: list[str] | None = Field(
        None, description="User references; in a single group's answer only."
    )

    @classmethod
    def of(cls, view: v.GroupView) -> Self:
        return cls(
            id=view.id,
            name=view.name,
            source=view.source,
            dn=view.dn,
            created_at=datetime.fromtimestamp(view.created_at, UTC),
            member_count=view.member_count,
            members=list(view.members) if view.members is not None else None,
        )


class GroupCreate(_In):
    name: str = Field(pattern=groups.NAME_PATTERN)


class NamespaceOut(BaseModel):
    name: str
    policy: Policy
    created_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, view: v.NamespaceView) -> Self:
        return cls(
            name=view.name,
            policy=Policy(view.policy),
            created_at=datetime.fromtimestamp(view.created_at, UTC),
            created_by=view.created_by,
        )


class NamespaceCreate(_In):
    name: str
    policy: Policy = Policy.PRIVATE

    @field_validator("name")
    @classmethod
    def _one_component(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("a namespace name is one path component")
        return _repository_name(value)


class NamespacePatch(_In):
    policy: Policy


class RepositoryOut(BaseModel):
    name: str
    namespace: str
    policy: Policy | None = Field(description="Its own policy; null follows the namespace's.")
    effective_policy: Policy
    created_at: datetime
    pushed_at: datetime | None
    size: int | None = Field(
        None, description="Bytes of the blobs linked in it, each blob counted once."
    )

    @classmethod
    def of(cls, view: v.RepositoryView) -> Self:
        return cls(
            name=view.name,
            namespace=view.namespace,
            size=view.size,
            policy=Policy(view.policy) if view.policy else None,
            effective_policy=Policy(view.effective_policy),
            created_at=datetime.fromtimestamp(view.created_at, UTC),
            pushed_at=time_of(view.pushed_at),
        )


class RepositoryPageOut(BaseModel):
    repositories: list[RepositoryOut]
    next: str | None = Field(description="Pass as `last` for the next page; null at the end.")


class RepositoryCreate(_In):
    name: str
    policy: Policy | None = None

    _check_name = field_validator("name")(_repository_name)


class RepositoryPatch(_In):
    policy: Policy | None


class GrantIn(_In):
    role: Role
    to: str = Field(description="user:NAME, group:NAME or robot:NAME")
    on: str = Field(description="NAMESPACE, NAMESPACE/REPO, namespace:NAME or repository:NAME")


class GrantOut(BaseModel):
    to: str
    on: str
    role: Role
    created_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, view: v.GrantView) -> Self:
        return cls(
            to=view.to,
            on=view.on,
            role=Role(view.role),
            created_at=datetime.fromtimestamp(view.created_at, UTC),
            created_by=view.created_by,
        )


class RoleOn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    on: str


class RobotCreate(_In):
    name: str = Field(pattern=robots.NAME_PATTERN)
    description: str | None = Field(None, max_length=1024)
    grants: list[RoleOn] = Field(default_factory=list, max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=robots.MAX_EXPIRY_DAYS)


class RobotOut(BaseModel):
    name: str
    username: str = Field(description="The login name for `docker login`.")
    description: str | None
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    grants: list[RoleOn]

    @classmethod
    def fields_of(cls, view: v.RobotView) -> dict[str, Any]:
        return {
            "name": view.name,
            "username": view.username,
            "description": view.description,
            "created_at": datetime.fromtimestamp(view.created_at, UTC),
            "created_by": view.created_by,
            "expires_at": time_of(view.expires_at),
            "revoked_at": time_of(view.revoked_at),
            "last_used_at": time_of(view.last_used_at),
            "grants": [RoleOn(role=Role(g.role), on=g.on) for g in view.grants],
        }

    @classmethod
    def of(cls, view: v.RobotView) -> Self:
        return cls(**cls.fields_of(view))


class RobotCreated(RobotOut):
    secret: str = Field(description="The password for `docker login`; shown only this once.")


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=64)
    expires_in_days: int | None = Field(None, ge=1, le=tokens.MAX_EXPIRY_DAYS)


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, view: v.TokenView) -> Self:
        return cls(
            id=view.id,
            name=view.name,
            created_at=datetime.fromtimestamp(view.created_at, UTC),
            expires_at=time_of(view.expires_at),
            last_used_at=time_of(view.last_used_at),
        )


class TokenCreated(TokenOut):
    secret: str = Field(
        description="Use as the password of `docker login` or as a Bearer "
        "token for this API; shown only this once."
    )


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    address: str | None
    detail: dict[str, Any] | None


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next: int | None = Field(description="Pass as `before` for older events; null at the end.")

    @classmethod
    def of(cls, page: v.AuditPage) -> Self:
        return cls(
            events=[
                AuditEventOut(
                    id=e.id,
                    at=datetime.fromtimestamp(e.at, UTC),
                    actor=e.actor,
                    action=e.action,
                    target=e.target,
                    address=e.address,
                    detail=e.detail,
                )
                for e in page.events
            ],
            next=page.next,
        )


_MAX_SELECTED = 1000


class DeletionIn(_In):
    """What to delete: `tag` (repository, tags), `manifest` (repository, digests),
    `repository` (repository) or `layer` (digest: every image using it, everywhere)."""

    kind: deletes.DeleteKind
    repository: str | None = None
    tags: list[str] | None = Field(None, max_length=_MAX_SELECTED)
    digests: list[str] | None = Field(None, max_length=_MAX_SELECTED)
    digest: str | None = Field(None, description="The layer (or any blob) to purge.")
    undoable: bool = Field(
        False, description="Keep what a tag or manifest delete removes, for `undo`, a while."
    )
    override_immutable: bool = Field(
        False,
        description="Registry admins: delete even tags an immutable tag rule protects "
        "(audited). Without it such a delete is refused, naming the rule.",
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        needed = {
            deletes.DeleteKind.TAG: ("repository", "tags"),
            deletes.DeleteKind.MANIFEST: ("repository", "digests"),
            deletes.DeleteKind.REPOSITORY: ("repository",),
            deletes.DeleteKind.LAYER: ("digest",),
        }[self.kind]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"a {self.kind} delete needs {' and '.join(missing)}")
        return self


class TagRefOut(BaseModel):
    repository: str
    tag: str
    digest: str


class ManifestRefOut(BaseModel):
    repository: str
    digest: str
    media_type: str
    tags: list[str]
    role: deletes.ManifestRole = Field(description="Why it goes with the delete.")


class ImmutableTagOut(BaseModel):
    repository: str
    tag: str
    rule: int = Field(description="The id of the immutable tag rule that protects it.")
    message: str


class DeletePlanOut(BaseModel):
    kind: deletes.DeleteKind
    target: str
    tags: list[TagRefOut] = Field(description="Every tag that goes.")
    manifests: list[ManifestRefOut] = Field(description="Every manifest that goes.")
    reclaimable_bytes: int = Field(
        description="Bytes of the blobs no manifest would use afterwards (each counted once)."
    )
    repositories: list[str]
    hidden: int = Field(
        0, description="A layer: images in repositories you do not administer (not listed)."
    )
    hidden_repositories: int = Field(
        0, description="A layer: repositories holding it that you do not administer."
    )
    immutable: list[ImmutableTagOut] = Field(
        [], description="Tags that go which an immutable tag rule protects: they stop the "
        "delete unless a registry admin overrides.",
    )  # fmt: skip

    @classmethod
    def of(cls, plan: deletes.DeletePlan) -> Self:
        return cls(
            kind=plan.kind,
            target=plan.target,
            tags=[
                TagRefOut(repository=t.repository, tag=t.tag, digest=t.digest) for t in plan.tags
            ],
            manifests=[
                ManifestRefOut(
                    repository=m.repository,
                    digest=m.digest,
                    media_type=m.media_type,
                    tags=list(m.tags),
                    role=m.role,
                )
                for m in plan.manifests
            ],
            reclaimable_bytes=plan.reclaimable_bytes,
            repositories=list(plan.repositories),
            hidden=plan.hidden,
            hidden_repositories=plan.hidden_repositories,
            immutable=[
                ImmutableTagOut(
                    repository=h.repository, tag=h.tag, rule=h.rule.id, message=h.message
                )
                for h in plan.immutable
            ],
        )


class DeleteResultOut(BaseModel):
    deleted: DeletePlanOut
    undo: str | None = Field(description="Undo handle (POST /deletions/{undo}/undo), or null.")
    undo_until: datetime | None

    @classmethod
    def of(cls, result: deletes.DeleteResult) -> Self:
        return cls(
            deleted=DeletePlanOut.of(result.plan),
            undo=result.undo,
            undo_until=time_of(result.undo_until),
        )


class UndoOut(BaseModel):
    repository: str
    tags: list[TagRefOut]
    manifests: list[str] = Field(description="Digests of the manifests put back.")

    @classmethod
    def of(cls, result: deletes.UndoResult) -> Self:
        return cls(
            repository=result.repository,
            tags=[
                TagRefOut(repository=t.repository, tag=t.tag, digest=t.digest) for t in result.tags
            ],
            manifests=list(result.manifests),
        )
