"""`/tokens`: the caller's personal access tokens; the secret is in the creation answer
only."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.admin_api.schemas import TokenCreate, TokenCreated, TokenOut
from dockyard.auth.manage import tokens

router = APIRouter(prefix="/api/v1", tags=["tokens"])


@router.get("/tokens", summary="The caller's tokens")
def list_tokens(caller: Caller, ctx: Context) -> list[TokenOut]:
    return [TokenOut.of(view) for view in tokens.list_tokens(ctx, caller)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Create a token")
def create_token(
    body: TokenCreate, response: Response, caller: Caller, ctx: Context, address: Address
) -> TokenCreated:
    created = tokens.create_token(ctx, caller, address, body.name, body.expires_in_days)
    response.headers["Cache-Control"] = "no-store"
    return TokenCreated(**TokenOut.of(created.token).model_dump(), secret=created.secret)


@router.delete(
    "/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token"
)
def revoke_token(token_id: int, caller: Caller, ctx: Context, address: Address) -> Response:
    tokens.revoke_token(ctx, caller, address, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
