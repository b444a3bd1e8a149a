"""Fixtures shared by the whole suite: real Dockyard servers, client homes, test images.

Servers and clients are real processes; nothing is mocked. Set DOCKYARD_TEST_REGISTRY=host:port
(with DOCKYARD_TEST_USERNAME / DOCKYARD_TEST_PASSWORD, optionally DOCKYARD_TEST_REGISTRY_LOG) to
run the client and conformance tests against a registry started elsewhere instead, e.g. the
reference registry; tests that must start, crash or restart their own server then fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

from dockyard.auth.manage import ManageContext
from dockyard.metadata.db import Database
from fixtures import postgres
from fixtures.browser import browser, browser_page, screenshot  # noqa: F401 - registers them
from fixtures.clients import TOOLS_BIN, ClientEnv
from fixtures.containerd import Containerd
from fixtures.images import Image, Layout, SampleImages
from fixtures.manage import database_copy, manage_context, migrate_template
from fixtures.replicas import Replicas
from fixtures.seaweedfs import seaweedfs  # noqa: F401 - registers the fixture
from fixtures.servers import DockyardServer, Registry, StartServer, registry_from_env
from fixtures.slapd import slapd, unreachable_ldap_url  # noqa: F401 - registers the fixtures
from fixtures.v2api import V2

# The large-image tests need several chunks at the clients' chunk sizes; 64 MiB does that
# while keeping the build (about 3 s) and the uploads short.
LARGE_LAYER_BYTES = 64 << 20

# servers a test started through dockyard_factory, for the failure report
_STARTED = pytest.StashKey[list[DockyardServer]]()


def pytest_configure(config: pytest.Config) -> None:
    # Go-built tools (crane, oras, regctl, the conformance suite) live in .cache/bin.
    os.environ["PATH"] = os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", os.defpath)])


def pytest_unconfigure(config: pytest.Config) -> None:
    postgres.stop_cluster()  # the PostgreSQL cluster of DOCKYARD_TEST_DATABASE=postgresql


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass leaves out what cannot behave differently there (blob store
    drivers, the container image and the chart, TLS): running it twice would prove nothing
    and cost minutes of CI."""
    if postgres.BACKEND != "postgresql":
        return
    neutral = [item for item in items if item.get_closest_marker("metadata_neutral")]
    if neutral:
        config.hook.pytest_deselected(items=neutral)
        items[:] = [item for item in items if not item.get_closest_marker("metadata_neutral")]


def pytest_report_header(config: pytest.Config) -> str:
    return f"metadata back end: {postgres.BACKEND} (DOCKYARD_TEST_DATABASE)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the log tail of every registry the test used."""
    report = yield
    if report.failed:
        seen: set[str] = set()
        values = [*getattr(item, "funcargs", {}).values(), *item.stash.get(_STARTED, [])]
        for replicas in [v for v in values if isinstance(v, Replicas)]:
            values.extend([*replicas.servers, replicas.registry])  # and nginx's error log
        for value in values:
            registry = value.registry if isinstance(value, ClientEnv) else value
            if (
                isinstance(registry, Registry)
                and registry.log_path is not None
                and registry.hostport not in seen
            ):
                seen.add(registry.hostport)
                title = f"registry log {registry.hostport}"
                if isinstance(registry, DockyardServer) and registry.exit_code is not None:
                    title += f" (server DIED with exit code {registry.exit_code})"
                report.sections.append((title, registry.log_tail()))
    return report


# --- servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dockyard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry shared by the session's client tests (each uses its own repositories)."""
    external = registry_from_env()
    if external is not None:
        yield external
        return
    server = DockyardServer.create(tmp_path_factory.mktemp("dockyard"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dockyard_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartServer]:
    """Start private servers: `start(extra_env={...}, extra_args=[...])`; stopped after the test.

    The returned `DockyardServer` can `kill()` (SIGKILL), `start()` again on the same data dir
    and port, `restart(crash=True)`, and exposes `data_dir`, `log_path`, `password`.
    """
    if registry_from_env() is not None:
        pytest.fail(
            "this test starts its own Dockyard; unset DOCKYARD_TEST_REGISTRY", pytrace=False
        )
    started = request.node.stash.setdefault(_STARTED, [])
    with contextlib.ExitStack() as stack:

        def start(
            *, extra_env: Mapping[str, str] | None = None, extra_args: Sequence[str] = ()
        ) -> DockyardServer:
            server = DockyardServer.create(
                tmp_path_factory.mktemp("dockyard"), extra_env=extra_env, extra_args=extra_args
            )
            # every server is stopped, even when stopping another one fails
            stack.callback(server.drop_database)
            stack.callback(server.stop)
            started.append(server)
            server.start()
            return server

        yield start


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrate_template(tmp_path_factory.mktemp("schema"))


@pytest.fixture
def db(tmp_path: Path, migrated_schema: Path) -> Iterator[Database]:
    """A database of its own for each test, at the newest schema."""
    with database_copy(migrated_schema, tmp_path) as database:
        yield database


@pytest.fixture
def ctx(db: Database) -> ManageContext:
    return manage_context(db)


# --- clients --------------------------------------------------------------------------------


@pytest.fixture
def client_env(tmp_path: Path, dockyard_server: Registry) -> Iterator[ClientEnv]:
    """Throwaway HOME, auth files and storage for clients talking to `dockyard_server`."""
    with ClientEnv(tmp_path / "client", dockyard_server) as env:
        yield env


@pytest.fixture
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    # short base path: the socket path must fit in sun_path (108 bytes)
    daemon = Containerd(tmp_path_factory.mktemp("ctrd"))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """`repo("hello")` -> a repository name unique to this test (and to this run)."""
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    prefix = f"e2e/{test}-{secrets.token_hex(3)}"
    return lambda name: f"{prefix}/{name}"


# --- images ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory: pytest.TempPathFactory) -> SampleImages:
    layout = Layout(tmp_path_factory.mktemp("images") / "layout")
    return SampleImages(layout, layout.hello_image("v1"), layout.multi_platform("multi"))


@pytest.fixture(scope="session")
def large_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, Image]:
    """Tag `big`: a small layer plus a 64 MiB seeded random layer."""
    layout = Layout(tmp_path_factory.mktemp("large") / "layout")
    return layout, layout.large_image("big", size=LARGE_LAYER_BYTES, seed=1)


@pytest.fixture
def v2(dockyard_server: Registry) -> Iterator[V2]:
    """An httpx client signed in to the session's Dockyard, with /v2 helpers."""
    auth = (dockyard_server.username, dockyard_server.password)
    with httpx.Client(base_url=dockyard_server.url, auth=auth, timeout=60) as client:
        yield V2(client)
