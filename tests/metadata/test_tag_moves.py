"""Two pushes of one tag at once (two replicas, on PostgreSQL two writers): the second
moves it after the first and learns the first one's manifest as the one it replaced, so
garbage collection reviews every manifest left untagged."""

from __future__ import annotations

import threading
import time

from dockyard.metadata.db import Database
from dockyard.metadata.queries import manifests, repositories, tags

AT = 1_800_000_000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _manifest(db: Database, repo_id: int, n: int) -> int:
    digest = f"sha256:{n:064x}"
    with db.write() as conn:
        return manifests.add_manifest(
            conn, repo_id=repo_id, digest=digest, media_type=OCI_MANIFEST,
            artifact_type=None, payload=b"{}" + bytes([n]), config_digest=None,
            subject_digest=None, annotations=None, references=[], now=AT, actor="t",
        )  # fmt: skip


def test_a_second_move_waits_and_names_the_first_ones_manifest(db: Database) -> None:
    with db.write() as conn:
        repo_id = repositories.ensure_repository(conn, "team/app", "team", AT)
    old, first, second = (_manifest(db, repo_id, n) for n in (1, 2, 3))
    with db.write() as conn:
        tags.set_tag(conn, repo_id, "v1", old, f"sha256:{1:064x}", AT, "t")

    replaced: list[int | None] = []

    def move_second() -> None:
        with db.write() as conn:
            replaced.append(tags.set_tag(conn, repo_id, "v1", second, f"sha256:{3:064x}", AT, "t"))

    with db.write() as conn:
        assert tags.set_tag(conn, repo_id, "v1", first, f"sha256:{2:064x}", AT, "t") == old
        other = threading.Thread(target=move_second)
        other.start()
        time.sleep(0.5)  # the other push is waiting for this one (row lock, or SQLite's)
        assert not replaced
    other.join(30)
    assert replaced == [first]
