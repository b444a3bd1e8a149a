"""`/robots`: automation accounts; the secret is in the creation answer only."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.admin_api.schemas import RobotCreate, RobotCreated, RobotOut
from dockyard.auth.manage import robots

router = APIRouter(prefix="/api/v1", tags=["robots"])


@router.get("/robots", summary="Robots granted on what the caller administers")
def list_robots(caller: Caller, ctx: Context) -> list[RobotOut]:
    return [RobotOut.of(view) for view in robots.list_robots(ctx, caller)]


@router.post("/robots", status_code=status.HTTP_201_CREATED, summary="Create a robot")
def create_robot(
    body: RobotCreate, response: Response, caller: Caller, ctx: Context, address: Address
) -> RobotCreated:
    created = robots.create_robot(
        ctx,
        caller,
        address,
        body.name,
        [(grant.role.value, grant.on) for grant in body.grants],
        body.description,
        body.expires_in_days,
    )
    response.headers["Cache-Control"] = "no-store"
    return RobotCreated(**RobotOut.fields_of(created.robot), secret=created.secret)


@router.get("/robots/{name}", summary="One robot with its grants")
def get_robot(name: str, caller: Caller, ctx: Context) -> RobotOut:
    return RobotOut.of(robots.get_robot(ctx, caller, name))


@router.delete("/robots/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke")
def revoke_robot(name: str, caller: Caller, ctx: Context, address: Address) -> Response:
    robots.revoke_robot(ctx, caller, address, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
