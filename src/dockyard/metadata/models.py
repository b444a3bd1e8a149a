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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEvent",
    "Base",
    "Blob",
    "Manifest",
    "ManifestReference",
    "Repository",
    "RepositoryBlob",
    "Tag",
    "TagEvent",
    "Upload",
    "User",
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
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    namespace: Mapped[str] = mapped_column(NAME, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    pushed_at: Mapped[int | None] = mapped_column(BigInteger)


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
    )
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(DIGEST, index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    repository_id: Mapped[int | None] = mapped_column(Integer)
    child_manifest_id: Mapped[int | None] = mapped_column(
        ForeignKey("manifest.id", ondelete="RESTRICT"), index=True
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
    __tablename__ = "user"
    __table_args__ = (UniqueConstraint("source", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), default="local")
    name: Mapped[str] = mapped_column(NAME)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)


class AuditEvent(Base):
    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str | None] = mapped_column(NAME)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(512))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON


def table_of(model: type[Base]) -> Table:
    """A model's Core table, typed as one (declarative types it as a generic FromClause)."""
    return cast(Table, model.__table__)
