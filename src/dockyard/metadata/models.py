"""Tables. Times are UTC Unix seconds (integers); digests are `algorithm:hex` strings.

Every reference between rows is a foreign key with ON DELETE RESTRICT, so a delete that
would leave a manifest pointing at nothing fails in the database, not silently. Rows owned
by their parent (a manifest's reference list) cascade with it.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccessGrant",
    "AccessState",
    "AccessToken",
    "AuditEvent",
    "Base",
    "Blob",
    "ConsoleSession",
    "DeletedManifest",
    "GcBlobReview",
    "GcManifestReview",
    "GcRun",
    "GcRunItem",
    "GroupMember",
    "ImageDiffId",
    "JobLease",
    "LoginFailure",
    "Manifest",
    "ManifestReference",
    "Namespace",
    "NamespaceBlob",
    "Repository",
    "RepositoryBlob",
    "RepositorySync",
    "RetentionPolicy",
    "Robot",
    "Tag",
    "TagEvent",
    "TokenSigningKey",
    "Upload",
    "UpstreamRegistry",
    "User",
    "UserGroup",
    "WebhookDelivery",
    "WebhookEndpoint",
    "table_of",
]

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
DIGEST = String(135)  # "sha512:" + 128 hex
NAME = String(255)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class Repository(Base):
    __tablename__ = "repository"
    # A namespace's largest repositories (usage pages) walk this index backwards.
    __table_args__ = (Index("ix_repository_namespace_stored_bytes", "namespace", "stored_bytes"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    namespace: Mapped[str] = mapped_column(NAME, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    pushed_at: Mapped[int | None] = mapped_column(BigInteger, index=True)  # recent pushes
    # Bytes of the blobs linked in it, each once: kept by every link and unlink, for sorting.
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    # None: the namespace's policy applies. Otherwise "private", "shared" or "anonymous".
    policy: Mapped[str | None] = mapped_column(String(16))


class Blob(Base):
    """Bytes in the blob store, shared by every repository that links them."""

    __tablename__ = "blob"
    digest: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class RepositoryBlob(Base):
    """A blob is visible only in the repositories it was pushed or mounted to.

    `linked_at` starts GC's grace period and is refreshed when a client is told the blob
    exists (it will PUT a manifest that references it minutes later).
    """

    __tablename__ = "repository_blob"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repository.id", ondelete="RESTRICT"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(
        ForeignKey("blob.digest", ondelete="RESTRICT"), primary_key=True, index=True
    )
    linked_at: Mapped[int] = mapped_column(BigInteger)


class Manifest(Base):
    __tablename__ = "manifest"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_manifest_repository_subject", "repository_id", "subject_digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="RESTRICT"))
    digest: Mapped[str] = mapped_column(DIGEST, index=True)
    media_type: Mapped[str] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    config_digest: Mapped[str | None] = mapped_column(DIGEST, index=True)
    subject_digest: Mapped[str | None] = mapped_column(DIGEST, index=True)
    annotations: Mapped[str | None] = mapped_column(Text)  # JSON, for referrers listings
    created_at: Mapped[int] = mapped_column(BigInteger)
    pushed_by: Mapped[str | None] = mapped_column(NAME)
    last_pulled_at: Mapped[int | None] = mapped_column(BigInteger)  # batched, see registry.pulls


class ManifestReference(Base):
    """One descriptor of a manifest, in order (a layer may appear twice: position is the key).

    Blob kinds point at the repository's link (`repository_id`, `digest`); children point at
    the manifest row. Foreign layers (descriptors with `urls`) record only their digest.
    """

    __tablename__ = "manifest_reference"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "digest"],
            ["repository_blob.repository_id", "repository_blob.digest"],
            ondelete="RESTRICT",
            name="fk_manifest_reference_repository_blob",
        ),
        Index(  # partial: most rows are blob references, NULL here (migration 0009)
            "ix_manifest_reference_child_manifest_id",
            "child_manifest_id",
            sqlite_where=text("child_manifest_id IS NOT NULL"),
            postgresql_where=text("child_manifest_id IS NOT NULL"),
        ),
        # "does a manifest of this repository use this blob?" in one probe (migration 0009)
        Index("ix_manifest_reference_digest_repository", "digest", "repository_id"),
    )
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(DIGEST)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    repository_id: Mapped[int | None] = mapped_column(Integer)
    child_manifest_id: Mapped[int | None] = mapped_column(
        ForeignKey("manifest.id", ondelete="RESTRICT")
    )


class Tag(Base):
    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(128))
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifest.id", ondelete="RESTRICT"), index=True
    )
    updated_at: Mapped[int] = mapped_column(BigInteger)
    immutable: Mapped[bool] = mapped_column(Boolean, default=False)
    last_pulled_at: Mapped[int | None] = mapped_column(BigInteger)  # batched, see registry.pulls


class TagEvent(Base):
    """A tag's history: every digest it pointed to, when and by whom (ImageStream history)."""

    __tablename__ = "tag_event"
    __table_args__ = (Index("ix_tag_event_repository_tag", "repository_id", "tag", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="RESTRICT"))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(DIGEST)
    action: Mapped[str] = mapped_column(String(16))  # "push" (new or moved) or "delete"
    actor: Mapped[str | None] = mapped_column(NAME)
    at: Mapped[int] = mapped_column(BigInteger)


class ImmutableTagRule(Base):
    """Tags that, once they exist, no push may move and no delete may remove: those whose
    name matches `pattern` (a glob) in a namespace or one repository. Only a registry admin
    overrides, and the override is audited. See registry.immutability."""

    __tablename__ = "immutable_tag_rule"
    __table_args__ = (UniqueConstraint("target", "scope", "pattern"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "namespace" or "repository"
    target: Mapped[str] = mapped_column(NAME)
    pattern: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)


class Promotion(Base):
    """An image promoted from one environment's repository to the next: the record of the
    release flow (who, which digest, from where to where, the gates it passed)."""

    __tablename__ = "promotion"
    __table_args__ = (
        Index("ix_promotion_application", "application", "at"),
        Index("ix_promotion_target", "target_repository", "at"),
        Index("ix_promotion_source", "source_repository", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str | None] = mapped_column(NAME)
    application: Mapped[str] = mapped_column(NAME)  # the name below the environment
    digest: Mapped[str] = mapped_column(DIGEST, index=True)
    source_repository: Mapped[str] = mapped_column(NAME)
    source_tag: Mapped[str | None] = mapped_column(String(128))
    target_repository: Mapped[str] = mapped_column(NAME)
    target_tag: Mapped[str] = mapped_column(String(128))
    gates: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [{gate, passed, detail}]


class PromotionApproval(Base):
    """A member of an environment's approval group approved a digest for it."""

    __tablename__ = "promotion_approval"
    __table_args__ = (UniqueConstraint("digest", "environment", "approved_by"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(DIGEST)
    environment: Mapped[str] = mapped_column(NAME)
    approved_by: Mapped[str] = mapped_column(NAME)
    at: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(512))


class TagFollow(Base):
    """A tag that follows another tag (the spec's nested tags): whenever the source tag
    moves, the follower moves to the same digest in the same transaction, as a real tag
    clients resolve like any other. By name: a repository deleted ends its follows."""

    __tablename__ = "tag_follow"
    __table_args__ = (
        UniqueConstraint("repository", "tag"),
        Index("ix_tag_follow_source", "source_repository", "source_tag"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(NAME)
    tag: Mapped[str] = mapped_column(String(128))
    source_repository: Mapped[str] = mapped_column(NAME)
    source_tag: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)


class Upload(Base):
    """A resumable blob upload, visible to every worker and surviving restarts.

    It names its repository rather than pointing at a row: a repository comes into being
    with its first blob or manifest, so an abandoned or failed push leaves no trace in it.
    """

    __tablename__ = "upload"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repository: Mapped[str] = mapped_column(NAME, index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger, index=True)
    started_by: Mapped[str | None] = mapped_column(NAME)
    driver_state: Mapped[str | None] = mapped_column(Text)  # JSON, e.g. multipart parts


class User(Base):
    """A person: local (`source` "local", with a password hash) or from a directory (`source`
    is the directory's configured name; `external_id` its entryUUID / objectGUID, on which the
    row is linked, so a renamed directory account keeps its grants)."""

    __tablename__ = "user"
    __table_args__ = (
        UniqueConstraint("source", "name"),
        UniqueConstraint("source", "external_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), default="local")
    name: Mapped[str] = mapped_column(NAME)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    external_id: Mapped[str | None] = mapped_column(String(255))
    dn: Mapped[str | None] = mapped_column(String(1024))
    display_name: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[int | None] = mapped_column(BigInteger)


class UserGroup(Base):
    """A group: local (members kept here) or a directory group (members refreshed from the
    directory at each member's sign-in)."""

    __tablename__ = "user_group"
    __table_args__ = (UniqueConstraint("source", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), default="local")
    name: Mapped[str] = mapped_column(NAME)
    dn: Mapped[str | None] = mapped_column(String(1024), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class GroupMember(Base):
    __tablename__ = "group_member"
    group_id: Mapped[int] = mapped_column(
        ForeignKey("user_group.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Namespace(Base):
    """The first path component of repository names (`dev`, `prod`, a team), with its policy:
    "private" (grants only), "shared" (every signed-in user may pull), "anonymous" (anyone)."""

    __tablename__ = "namespace"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    policy: Mapped[str] = mapped_column(String(16), default="private")
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)
    # Bytes of the blobs linked in any of its repositories, each once: moves when a
    # `namespace_blob` row appears or goes (queries/usage.py), read by the quota check.
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)  # None: no quota
    quota_set_by: Mapped[str | None] = mapped_column(NAME)
    quota_set_at: Mapped[int | None] = mapped_column(BigInteger)


class NamespaceBlob(Base):
    """How many repositories of a namespace link a blob (derived from `repository_blob`,
    kept by every link and unlink). No foreign key to the blob: a counter must never stop
    garbage collection from removing a blob."""

    __tablename__ = "namespace_blob"
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("namespace.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(DIGEST, primary_key=True, index=True)
    links: Mapped[int] = mapped_column(Integer)


class Robot(Base):
    """An automation account: its secret is stored as a SHA-256 (it is high-entropy), its
    rights are grants like anyone's, and it stops at `expires_at` or `revoked_at`."""

    __tablename__ = "robot"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str | None] = mapped_column(String(1024))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class AccessToken(Base):
    """A personal access token: a user's password substitute for `docker login`."""

    __tablename__ = "access_token"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(NAME)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class AccessGrant(Base):
    """A role ("read", "write", "admin") for one principal (user, group or robot) on one
    namespace or one repository. `principal_key` ("u3", "g2", "r5") and `target_key` ("n4",
    "r9") make "one grant per principal and target" a constraint; the foreign keys cascade
    so a grant never outlives what it names."""

    __tablename__ = "access_grant"
    __table_args__ = (UniqueConstraint("principal_key", "target_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal_key: Mapped[str] = mapped_column(String(24))
    target_key: Mapped[str] = mapped_column(String(24), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_group.id", ondelete="CASCADE"), index=True
    )
    robot_id: Mapped[int | None] = mapped_column(
        ForeignKey("robot.id", ondelete="CASCADE"), index=True
    )
    namespace_id: Mapped[int | None] = mapped_column(
        ForeignKey("namespace.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repository.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)


class AccessState(Base):
    """One row whose `generation` moves with every change to who may do what (users, groups,
    members, grants, policies, robots, tokens) and with the read-only maintenance switch:
    per-worker permission caches reload on it."""

    __tablename__ = "access_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    read_only_message: Mapped[str | None] = mapped_column(String(500))
    read_only_by: Mapped[str | None] = mapped_column(String(255))
    read_only_at: Mapped[int | None] = mapped_column(BigInteger)


class TokenSigningKey(Base):
    """The private key (PEM, PKCS#8) that signs bearer tokens, shared by every worker and
    replica; `id` 1 is the key in use."""

    __tablename__ = "token_signing_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class LoginFailure(Base):
    """Failed sign-ins per key ("user:<name>@<address>", "address:<address>"), for backoff."""

    __tablename__ = "login_failure"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[int] = mapped_column(BigInteger)
    last_at: Mapped[int] = mapped_column(BigInteger, index=True)
    blocked_until: Mapped[int] = mapped_column(BigInteger)


class AuditEvent(Base):
    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str | None] = mapped_column(NAME)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(512))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON


class ConsoleSession(Base):
    """A signed-in browser. The cookie holds a random 256-bit id; only its SHA-256 is kept,
    so a copy of the database signs nobody in. It ends at sign-out, after `expires_at`
    (absolute lifetime) or when idle too long (`last_seen_at`); expired rows go lazily."""

    __tablename__ = "console_session"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger, index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    by_token: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class ImageDiffId(Base):
    """An image config's `rootfs.diff_ids`, in order: the uncompressed layer digests that
    `docker inspect` and scanners print. Keyed by the config's digest (configs are shared
    between repositories), so "which images contain this layer?" finds them by diff ID too."""

    __tablename__ = "image_diff_id"
    config_digest: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    diff_id: Mapped[str] = mapped_column(DIGEST, index=True)


class DeletedManifest(Base):
    """A delete that may still be undone, for a short while: the tags it removed and, when
    the manifest itself went, its bytes as pushed (restoring re-inserts them; the blobs they
    reference stay linked, because GC's grace outlasts the undo window)."""

    __tablename__ = "deleted_manifest"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One delete may remove several manifests (an index with its children and accessories);
    # they share a random batch id, which is the undo handle given to the deleter.
    batch: Mapped[str] = mapped_column(String(32), index=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repository.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(DIGEST)
    tags: Mapped[str] = mapped_column(Text)  # JSON list of the tag names removed
    media_type: Mapped[str | None] = mapped_column(String(255))  # None: only tags went
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    deleted_at: Mapped[int] = mapped_column(BigInteger, index=True)
    deleted_by: Mapped[str | None] = mapped_column(NAME)
    # A retention removal: restorable, and kept from garbage collection, until then.
    kept_until: Mapped[int | None] = mapped_column(BigInteger, index=True)
    reason: Mapped[str | None] = mapped_column(String(255))  # the policy and rule


class RetentionPolicy(Base):
    """Which tags and untagged images retention removes in a namespace or repository (a
    repository's policy replaces its namespace's). Keep rules win over remove rules; a
    protected namespace is never touched. See registry.retention."""

    __tablename__ = "retention_policy"
    __table_args__ = (UniqueConstraint("scope", "target"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "namespace" or "repository"
    target: Mapped[str] = mapped_column(NAME)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    keep_last: Mapped[int | None] = mapped_column(Integer)
    keep_patterns: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    keep_pulled_days: Mapped[int | None] = mapped_column(Integer)
    remove_older_than_days: Mapped[int | None] = mapped_column(Integer)
    remove_untagged_after_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str | None] = mapped_column(NAME)
    last_run_at: Mapped[int | None] = mapped_column(BigInteger)


class GcManifestReview(Base):
    """A manifest garbage collection must look at: it lost a tag, was pushed without one,
    or an index listing it or its subject went. `since`: when it became unreachable (grace
    counts from here); `touched_at`: when a client last pushed or fetched it by digest (a
    push in flight may still reference it). Reviewing a manifest that is reachable again
    just drops the row."""

    __tablename__ = "gc_manifest_review"
    __table_args__ = (Index("ix_gc_manifest_review_since", "since", "manifest_id"),)
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[int] = mapped_column(BigInteger)
    touched_at: Mapped[int] = mapped_column(BigInteger)


class GcBlobReview(Base):
    """A blob garbage collection must look at: it was uploaded or mounted (an abandoned push
    may never reference it), or a manifest using it or a link to it went. Keyed by digest
    alone: the blob row may be gone already (the review then only drops the row)."""

    __tablename__ = "gc_blob_review"
    __table_args__ = (Index("ix_gc_blob_review_since", "since", "digest"),)
    digest: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    since: Mapped[int] = mapped_column(BigInteger)


class GcRun(Base):
    """One garbage collection run (or dry run, or verification), with its live progress
    and figures (JSON), so the CLI, the console and the API can follow it and show the last
    runs. `heartbeat_at` moves while it works: a run whose process died stops moving."""

    __tablename__ = "gc_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))  # "collect", "dry-run", "verify"
    trigger: Mapped[str] = mapped_column(String(16))  # "schedule", "api", "cli"
    actor: Mapped[str | None] = mapped_column(NAME)
    grace_seconds: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running, done, failed
    phase: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[int] = mapped_column(BigInteger, index=True)
    heartbeat_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    figures: Mapped[str] = mapped_column(Text)  # JSON: examined, removed, kept, bytes
    error: Mapped[str | None] = mapped_column(Text)


class GcRunItem(Base):
    """What a run removed (or a dry run would remove), in order: manifests, links, blobs,
    uploads, or what a verification found wrong."""

    __tablename__ = "gc_run_item"
    run_id: Mapped[int] = mapped_column(
        ForeignKey("gc_run.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str | None] = mapped_column(NAME)
    digest: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(255))


class JobLease(Base):
    """Who runs a background job (garbage collection, ...) until `expires_at`: one worker or
    replica at a time; a holder renews its lease while it works, and a dead holder's lease
    simply runs out."""

    __tablename__ = "job_lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[int] = mapped_column(BigInteger)


class WebhookEndpoint(Base):
    """A URL told about pushes, deletes, promotions and tag moves (registry/webhooks).
    `actions` is a comma-separated subset of the webhook actions; `repositories` optional
    comma-separated globs a repository name must match (NULL: every repository). `secret`
    keys the HMAC signature; it is never shown again after creation."""

    __tablename__ = "webhook_endpoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(String(128))
    repositories: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean)
    verify_tls: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class WebhookDelivery(Base):
    """The outbox: one envelope for one endpoint, written in the transaction of the action
    it tells about, sent after commit by whichever dispatcher claims it (docs/design.md,
    "Webhooks"). `body` is the exact bytes sent and signed on every attempt. `status`:
    pending (due at `next_attempt_at`), delivered, failed (gave up: too many attempts, or
    `retry_until` passed). `claim` names the
    attempt in flight; its outcome is recorded only while the claim is still its own."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_status", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint_id", "endpoint_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36))  # the first event's id
    actions: Mapped[str] = mapped_column(String(128))  # of the events, comma-separated
    target: Mapped[str | None] = mapped_column(String(512))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    retry_until: Mapped[int] = mapped_column(BigInteger)  # no attempt is made after it
    last_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status, if any
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    claim: Mapped[str | None] = mapped_column(String(64))


class UpstreamRegistry(Base):
    """Another registry Dockyard reads from (imports, the pull-through cache).
    `password_encrypted` is a Fernet token made with the secrets key, which lives outside
    the database (registry/upstream/credentials.py); it is never shown or logged."""

    __tablename__ = "upstream_registry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(NAME)
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    verify_tls: Mapped[bool] = mapped_column(Boolean, server_default=true())
    ca_file: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)


class RepositorySync(Base):
    """A local repository that follows an upstream repository (registry/upstream/imports).
    `tags`: comma-separated globs of the tags to import (empty: all tags).
    `interval_minutes`: 0 runs on demand only. `last_status`: ok, failed, running (claimed
    by a run; `next_run_at` is then the claim's expiry) or NULL (never run)."""

    __tablename__ = "repository_sync"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(NAME, unique=True)
    upstream_id: Mapped[int] = mapped_column(
        ForeignKey("upstream_registry.id", ondelete="RESTRICT"), index=True
    )
    upstream_repository: Mapped[str] = mapped_column(NAME)
    tags: Mapped[str] = mapped_column(Text, server_default="")
    interval_minutes: Mapped[int] = mapped_column(Integer, server_default="0")
    next_run_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    last_run_at: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_imported: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(NAME)


def table_of(model: type[Base]) -> Table:
    """A model's Core table, typed as one (declarative types it as a generic FromClause)."""
    return cast(Table, model.__table__)
