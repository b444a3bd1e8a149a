"""identity and access

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Users from directories, groups, namespaces with access policies, grants, robots, personal
access tokens, sign-in backoff, and the access generation that per-worker caches follow.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_state")),
    )
    op.create_table(
        "login_failure",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("blocked_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failure_last_at"), ["last_at"], unique=False)

    op.create_table(
        "namespace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespace")),
        sa.UniqueConstraint("name", name=op.f("uq_namespace_name")),
    )
    op.create_table(
        "robot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot")),
        sa.UniqueConstraint("name", name=op.f("uq_robot_name")),
    )
    op.create_table(
        "user_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("dn", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_group")),
        sa.UniqueConstraint("source", "name", name=op.f("uq_user_group_source_name")),
    )
    with op.batch_alter_table("user_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_group_dn"), ["dn"], unique=False)

    op.create_table(
        "access_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_key", sa.String(length=24), nullable=False),
        sa.Column("target_key", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("robot_id", sa.Integer(), nullable=True),
        sa.Column("namespace_id", sa.Integer(), nullable=True),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_group.id"],
            name=op.f("fk_access_grant_group_id_user_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespace.id"],
            name=op.f("fk_access_grant_namespace_id_namespace"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_access_grant_repository_id_repository"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_id"],
            ["robot.id"],
            name=op.f("fk_access_grant_robot_id_robot"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_access_grant_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grant")),
        sa.UniqueConstraint(
            "principal_key", "target_key", name=op.f("uq_access_grant_principal_key_target_key")
        ),
    )
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_grant_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_grant_namespace_id"), ["namespace_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_access_grant_repository_id"), ["repository_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_grant_robot_id"), ["robot_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_grant_target_key"), ["target_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_grant_user_id"), ["user_id"], unique=False)

    op.create_table(
        "access_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_access_token_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_token")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_access_token_user_id_name")),
    )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_group.id"],
            name=op.f("fk_group_member_group_id_user_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_group_member_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_member")),
    )
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_member_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("repository", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy", sa.String(length=16), nullable=True))

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("dn", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("display_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("last_login_at", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_source_external_id"), ["source", "external_id"]
        )

    op.execute("INSERT INTO access_state (id, generation) VALUES (1, 0)")
    # Repositories pushed before namespaces existed get their namespace, private as before.
    op.execute(
        "INSERT INTO namespace (name, policy, created_at, created_by) "
        "SELECT namespace, 'private', MIN(created_at), NULL FROM repository GROUP BY namespace"
    )


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_user_source_external_id"), type_="unique")
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("display_name")
        batch_op.drop_column("dn")
        batch_op.drop_column("external_id")

    with op.batch_alter_table("repository", schema=None) as batch_op:
        batch_op.drop_column("policy")

    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_member_user_id"))

    op.drop_table("group_member")
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_token_user_id"))

    op.drop_table("access_token")
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_grant_user_id"))
        batch_op.drop_index(batch_op.f("ix_access_grant_target_key"))
        batch_op.drop_index(batch_op.f("ix_access_grant_robot_id"))
        batch_op.drop_index(batch_op.f("ix_access_grant_repository_id"))
        batch_op.drop_index(batch_op.f("ix_access_grant_namespace_id"))
        batch_op.drop_index(batch_op.f("ix_access_grant_group_id"))

    op.drop_table("access_grant")
    with op.batch_alter_table("user_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_group_dn"))

    op.drop_table("user_group")
    op.drop_table("robot")
    op.drop_table("namespace")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failure_last_at"))

    op.drop_table("login_failure")
    op.drop_table("access_state")
