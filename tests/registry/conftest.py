"""The registry services on the test's migrated database and a blob store of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.metadata.db import Database
from dockyard.registry.context import RegistryContext
from dockyard.registry.services import RegistryServices
from dockyard.storage.filesystem import FilesystemBlobStore


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "data", direct_io=False)


@pytest.fixture
def services(db: Database, store: FilesystemBlobStore) -> RegistryServices:
    return RegistryServices.build(RegistryContext(db, store))
