"""The admin API app on a real migrated database, signed in through the real authenticator
(local passwords, personal tokens, robot secrets), driven with httpx in-process: the app
runs on an event loop in a helper thread (a blocking portal, as the CLI's local mode does),
so that tests stay synchronous."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI

from dockyard.admin_api import create_admin_api
from dockyard.auth.authenticator import Authenticator
from dockyard.auth.manage import ManageContext
from dockyard.auth.sign_in import SignIn, SignInPolicy
from dockyard.cli.client import InProcessTransport
from fixtures.manage import OPERATOR

FAILURE_LIMIT = 3
CLIENT_ADDRESS = "10.1.2.3"


def _client(app: FastAPI) -> Iterator[httpx.Client]:
    with (
        start_blocking_portal() as portal,
        httpx.Client(
            transport=InProcessTransport(app, portal, (CLIENT_ADDRESS, 50000)),
            base_url="http://dockyard.test",
        ) as client,
    ):
        yield client


@pytest.fixture
def failure_limit() -> int:
    """Failed sign-ins before backing off, in the `client` app."""
    return FAILURE_LIMIT


@pytest.fixture
def client(ctx: ManageContext) -> Iterator[httpx.Client]:
    sign_in = SignIn(ctx.db, [], SignInPolicy(failure_limit=FAILURE_LIMIT))
    app = create_admin_api(ctx, authenticator=Authenticator(sign_in, ctx.access))
    yield from _client(app)


@pytest.fixture
def operator_client(ctx: ManageContext) -> Iterator[httpx.Client]:
    """The API as the CLI builds it on the data directory: every request is the operator."""
    yield from _client(create_admin_api(ctx, operator=OPERATOR))
