"""Personal access tokens: a person's password substitute for `docker login` and the API,
so that a directory password need not sit in a client's config file. The secret is
returned once and stored as a hash."""

from __future__ import annotations

import re

from dockyard.auth.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage._checks import record, require_active, require_password_sign_in
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.views import CreatedToken, TokenView
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.token_secrets import SecretKind, TokenSecret, new_secret
from dockyard.metadata.queries import access_tokens
from dockyard.metadata.queries.access import bump_generation

__all__ = ["MAX_EXPIRY_DAYS", "create_token", "list_tokens", "revoke_token"]

MAX_EXPIRY_DAYS = 3650
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@:-]{0,63}$")
_DAY = 86400


def _view(row: access_tokens.TokenRow) -> TokenView:
    return TokenView(row.id, row.name, row.created_at, row.expires_at, row.last_used_at)


def _person(ctx: ManageContext, actor: Principal) -> None:
    require_active(ctx.snapshot(), actor)
    if actor.kind is not PrincipalKind.USER:
        raise Forbidden("only users have personal access tokens")


def list_tokens(ctx: ManageContext, actor: Principal) -> list[TokenView]:
    """The caller's own tokens (their secrets are never shown again)."""
    _person(ctx, actor)
    with ctx.db.read() as conn:
        return [_view(row) for row in access_tokens.list_tokens(conn, actor.id)]


def create_token(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    name: str,
    expires_in_days: int | None = None,
) -> CreatedToken:
    _person(ctx, actor)
    require_password_sign_in(actor, "create access tokens")
    if not _NAME.match(name):
        raise InvalidRequest("a token name is 1-64 letters, digits, spaces or . _ @ : -")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise InvalidRequest(f"expires_in_days is 1 to {MAX_EXPIRY_DAYS}, or null for never")
    now = ctx.now()
    expires_at = now + expires_in_days * _DAY if expires_in_days is not None else None
    random, secret_hash = new_secret()
    with ctx.db.write() as conn:
        if access_tokens.token_name_taken(conn, actor.id, name):
            raise AlreadyExists(f"you have a token named {name}")
        token_id = access_tokens.add_token(conn, actor.id, name, secret_hash, expires_at, now)
        bump_generation(conn)
        record(
            conn,
            ctx,
            actor,
            address,
            "token.create",
            f"token:{token_id}",
            {"name": name, "expires_at": expires_at},
        )
    view = TokenView(token_id, name, now, expires_at, None)
    return CreatedToken(view, TokenSecret(SecretKind.PERSONAL, token_id, random).render())


def revoke_token(ctx: ManageContext, actor: Principal, address: str | None, token_id: int) -> None:
    """Deletes one of the caller's tokens (registry admins: anyone's). It stops working at
    once on every worker."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    with ctx.db.write() as conn:
        row = access_tokens.token(conn, token_id)
        own = row is not None and actor.kind is PrincipalKind.USER and row.user_id == actor.id
        if row is None or not (own or is_registry_admin(snapshot, actor)):
            raise NotFound(f"token {token_id} not found")
        access_tokens.delete_token(conn, token_id)
        bump_generation(conn)
        record(
            conn,
            ctx,
            actor,
            address,
            "token.revoke",
            f"token:{token_id}",
            {"name": row.name, "user_id": row.user_id},
        )
