"""The search service on a real migrated database: what each kind of text finds, that only
readable repositories appear, the limits, and that digest lookups are index range scans
(EXPLAIN QUERY PLAN), never scans of manifest, manifest_reference, image_diff_id or tag."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from dockyard.auth.manage import ManageContext
from dockyard.auth.manage.grants import set_grant
from dockyard.auth.manage.repositories import create_repository
from dockyard.auth.principals import Principal
from dockyard.metadata.db import Database
from dockyard.metadata.queries.diff_ids import add_diff_ids
from dockyard.registry.search import (
    MAX_TAGS_SHOWN,
    DigestResult,
    SearchInvalid,
    SearchResult,
    search,
)
from dockyard.registry.services import RegistryServices
from fixtures.manage import OPERATOR, add_user
from fixtures.search_content import fake_digest, hex_digest, push_image, store_image, store_index

SHARED_LAYER = hex_digest("abcdef01")
NEAR_LAYER = hex_digest("abcdf0")  # just past the range of the prefix "abcdef"
CONFIG = hex_digest("c0ffee1234ab")


@pytest.fixture
def jane(ctx: ManageContext) -> Principal:
    """Reads the `dev` namespace only."""
    user = add_user(ctx.db, "jane")
    create_repository(ctx, OPERATOR, None, "dev/seed", None)
    set_grant(ctx, OPERATOR, None, "read", "user:jane", "dev")
    return user


def _find(ctx: ManageContext, who: Principal, text: str, limit: int = 50) -> SearchResult:
    return search(ctx.db, ctx.snapshot(), who, text, limit)


def _kinds(result: SearchResult) -> set[tuple[str, str]]:
    return {(d.repository, d.match) for d in result.digests}


def test_names_rank_exact_then_prefix_then_substring(ctx: ManageContext) -> None:
    for name in ("myapp", "app-tools", "other", "dev/app", "app"):
        store_image(ctx.db, name, config=fake_digest(name), layers=[])
    result = _find(ctx, OPERATOR, "APP")
    assert result.interpreted_as == ("name",)
    assert result.repositories == ("app", "app-tools", "dev/app", "myapp")
    assert not result.truncated
    assert _find(ctx, OPERATOR, "dev/").repositories == ("dev/app",)


def test_name_wildcards_are_literal(ctx: ManageContext) -> None:
    store_image(ctx.db, "app", config=fake_digest("app"), layers=[])
    assert _find(ctx, OPERATOR, "%").repositories == ()
    assert _find(ctx, OPERATOR, "a_p").repositories == ()


def test_names_only_readable(ctx: ManageContext, jane: Principal) -> None:
    store_image(ctx.db, "dev/app", config=fake_digest("1"), layers=[])
    store_image(ctx.db, "prod/app", config=fake_digest("2"), layers=[])
    assert _find(ctx, jane, "app").repositories == ("dev/app",)
    assert _find(ctx, OPERATOR, "app").repositories == ("dev/app", "prod/app")


def test_repository_and_tag(ctx: ManageContext, jane: Principal) -> None:
    digest = store_image(ctx.db, "dev/app", config=CONFIG, layers=[], tags=("v1", "v1.2", "V2"))
    store_image(ctx.db, "prod/app", config=CONFIG, layers=[], tags=("v1",))
    result = _find(ctx, jane, "dev/app:v1")
    assert result.interpreted_as == ("tag",)
    assert [(t.repository, t.tag, t.digest) for t in result.tags] == [
        ("dev/app", "v1", digest),
        ("dev/app", "v1.2", digest),
    ]
    assert [t.tag for t in _find(ctx, jane, "DEV/APP:V").tags] == ["V2"]  # tags keep case
    assert [t.tag for t in _find(ctx, jane, "dev/app:").tags] == ["V2", "v1", "v1.2"]
    assert _find(ctx, jane, "prod/app:v1").tags == ()
    assert len(_find(ctx, OPERATOR, "prod/app:v1").tags) == 1


def test_a_pasted_pull_reference(ctx: ManageContext) -> None:
    """What people copy from a pull command: the registry host goes, a digest wins."""
    digest = store_image(ctx.db, "dev/app", config=CONFIG, layers=[], tags=("v1",))
    for text in ("registry.example.com:5000/dev/app:v1", "localhost/dev/app:v1"):
        assert [t.tag for t in _find(ctx, OPERATOR, text).tags] == ["v1"]
    assert _find(ctx, OPERATOR, "127.0.0.1:5000/dev/app").repositories == ("dev/app",)
    found = _find(ctx, OPERATOR, f"registry.example.com/dev/app@{digest}")
    assert [(d.repository, d.match) for d in found.digests] == [("dev/app", "manifest")]
    assert _find(ctx, OPERATOR, "dev/app").repositories == ("dev/app",)  # no host: kept


def test_tags_per_digest_result_are_capped(ctx: ManageContext) -> None:
    many = tuple(f"build-{i:03d}" for i in range(MAX_TAGS_SHOWN + 5))
    digest = store_image(ctx.db, "ci/app", config=CONFIG, layers=[], tags=many)
    (found,) = _find(ctx, OPERATOR, digest).digests
    assert found.tags == many[:MAX_TAGS_SHOWN]
    assert found.more_tags == 5


def test_full_manifest_digest(ctx: ManageContext) -> None:
    digest = store_image(ctx.db, "app", config=CONFIG, layers=[SHARED_LAYER], tags=("b", "a"))
    result = _find(ctx, OPERATOR, digest.upper().replace("SHA256", "sha256"))
    assert result.interpreted_as == ("digest",)
    assert result.digests == (
        DigestResult(
            repository="app",
            manifest=digest,
            media_type="application/vnd.oci.image.manifest.v1+json",
            match="manifest",
            matched_digest=digest,
            tags=("a", "b"),
            index_tags=(),
        ),
    )


def test_image_id_as_docker_images_prints_it(ctx: ManageContext) -> None:
    digest = store_image(ctx.db, "app", config=CONFIG, layers=[], tags=("latest",))
    result = _find(ctx, OPERATOR, CONFIG.removeprefix("sha256:")[:12])
    assert result.interpreted_as == ("name", "digest")
    assert [(d.manifest, d.match, d.matched_digest, d.tags) for d in result.digests] == [
        (digest, "image config", CONFIG, ("latest",))
    ]


def test_layer_in_every_readable_image(ctx: ManageContext, jane: Principal) -> None:
    twice = store_image(ctx.db, "dev/a", config=fake_digest("a"), layers=[SHARED_LAYER] * 2)
    store_image(ctx.db, "dev/b", config=fake_digest("b"), layers=[fake_digest("x"), SHARED_LAYER])
    store_image(ctx.db, "prod/c", config=fake_digest("c"), layers=[SHARED_LAYER])
    store_image(ctx.db, "dev/near", config=fake_digest("n"), layers=[NEAR_LAYER])
    for text in (SHARED_LAYER, "sha256:abcdef", "ABCDEF"):
        result = _find(ctx, jane, text)
        assert _kinds(result) == {("dev/a", "layer"), ("dev/b", "layer")}, text
        assert {d.matched_digest for d in result.digests} == {SHARED_LAYER}
    assert next(d.manifest for d in _find(ctx, jane, SHARED_LAYER).digests) == twice
    assert _kinds(_find(ctx, OPERATOR, "abcdef")) == {
        ("dev/a", "layer"),
        ("dev/b", "layer"),
        ("prod/c", "layer"),
    }


def test_index_child_and_its_tags(ctx: ManageContext) -> None:
    amd64 = store_image(ctx.db, "app", config=fake_digest("amd64"), layers=[SHARED_LAYER])
    arm64 = store_image(ctx.db, "app", config=fake_digest("arm64"), layers=[])
    index = store_index(ctx.db, "app", children=[amd64, arm64], tags=("1.0", "latest"))
    by_manifest = _find(ctx, OPERATOR, amd64)
    assert [(d.manifest, d.match, d.tags, d.index_tags) for d in by_manifest.digests] == [
        (amd64, "manifest", (), ("1.0", "latest")),
        (index, "index child", ("1.0", "latest"), ()),
    ]
    by_layer = _find(ctx, OPERATOR, SHARED_LAYER)
    assert [(d.manifest, d.index_tags) for d in by_layer.digests] == [(amd64, ("1.0", "latest"))]


def test_layer_diff_id_of_a_pushed_image(
    ctx: ManageContext, services: RegistryServices, jane: Principal
) -> None:
    image = push_image(services, "dev/app", [b"base layer", b"app layer"], tag="1.0")
    push_image(services, "prod/app", [b"base layer"])
    base = image.diff_ids[0]
    hex12 = base.removeprefix("sha256:")[:12]
    for text in (base, hex12, f"sha256:{hex12}", hex12.upper()):
        result = _find(ctx, jane, text)
        assert [(d.repository, d.manifest, d.match, d.matched_digest, d.tags)
                for d in result.digests] == [
            ("dev/app", image.manifest, "layer diff ID", base, ("1.0",))
        ], text  # fmt: skip
    assert _kinds(_find(ctx, OPERATOR, base)) == {
        ("dev/app", "layer diff ID"),
        ("prod/app", "layer diff ID"),
    }
    # The compressed digest is a layer match, never a diff ID one.
    assert _kinds(_find(ctx, jane, image.layers[1])) == {("dev/app", "layer")}


def test_diff_id_not_readable(
    ctx: ManageContext, services: RegistryServices, jane: Principal
) -> None:
    image = push_image(services, "prod/secret", [b"leaked key"])
    assert _find(ctx, jane, image.diff_ids[0]).digests == ()
    assert _find(ctx, jane, image.diff_ids[0][7:19]).digests == ()
    assert _kinds(_find(ctx, OPERATOR, image.diff_ids[0])) == {("prod/secret", "layer diff ID")}


def test_diff_id_order_limit_and_repeats(ctx: ManageContext) -> None:
    shared = hex_digest("d1ff0001")
    for n in range(3):
        config = fake_digest(f"cfg{n}")
        store_image(ctx.db, f"app{n}", config=config, layers=[SHARED_LAYER])
        with ctx.db.write() as conn:
            add_diff_ids(conn, config, [shared, hex_digest(f"d1ff1{n}"), shared])  # twice
    found = _find(ctx, OPERATOR, "d1ff")  # too short for a digest: a name
    assert found.digests == ()
    result = _find(ctx, OPERATOR, "d1ff00")
    assert [(d.repository, d.match) for d in result.digests] == [
        (f"app{n}", "layer diff ID") for n in range(3)
    ]
    cut = _find(ctx, OPERATOR, "sha256:d1ff00", limit=2)
    assert cut.truncated
    assert len(cut.digests) == 2
    both = _find(ctx, OPERATOR, SHARED_LAYER[:20])
    assert {d.match for d in both.digests} == {"layer"}


def test_short_hex_is_a_name_only(ctx: ManageContext) -> None:
    store_image(ctx.db, "abcde", config=hex_digest("abcde"), layers=[])
    result = _find(ctx, OPERATOR, "abcde")
    assert result.interpreted_as == ("name",)
    assert result.repositories == ("abcde",)
    assert result.digests == ()
    assert _find(ctx, OPERATOR, "sha256:abcde").digests == ()


def test_limit_cuts_each_kind(ctx: ManageContext) -> None:
    for n in range(4):
        store_image(ctx.db, f"cafe0{n}", config=fake_digest(str(n)), layers=[SHARED_LAYER])
    cut = _find(ctx, OPERATOR, "abcdef", limit=3)
    assert cut.truncated
    assert len(cut.digests) == 3
    whole = _find(ctx, OPERATOR, "abcdef", limit=4)
    assert not whole.truncated
    assert len(whole.digests) == 4
    names = _find(ctx, OPERATOR, "cafe0", limit=2)
    assert names.repositories == ("cafe00", "cafe01")
    assert names.truncated


@pytest.mark.parametrize(
    ("text", "limit"),
    [("", 50), ("   ", 50), ("a" * 257, 50), ("app", 0), ("app", 501)],
)
def test_invalid(ctx: ManageContext, text: str, limit: int) -> None:
    with pytest.raises(SearchInvalid):
        _find(ctx, OPERATOR, text, limit)


# --- query plans --------------------------------------------------------------------------


@pytest.fixture
def statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the reader engine runs, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((sql, params))

    event.listen(db.reader, "before_cursor_execute", record)
    yield seen
    event.remove(db.reader, "before_cursor_execute", record)


def _plans(db: Database, statements: list[tuple[str, Any]]) -> list[tuple[str, list[str]]]:
    """Each SELECT's plan, one line per step: SQLite's EXPLAIN QUERY PLAN details ("SCAN t",
    "SEARCH t USING INDEX i"), or PostgreSQL's EXPLAIN lines with sequential scans priced
    out, so that a scan shows only where no index can serve (tiny tables are cheaper to scan
    otherwise)."""
    selects = [(sql, ps) for sql, ps in statements if sql.lstrip().upper().startswith("SELECT")]
    with db.reader.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if db.dialect != "postgresql":
            return [
                (sql, [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", ps)])
                for sql, ps in selects
            ]
        cursor = raw.cursor()
        cursor.execute("SET enable_seqscan = off")
        plans = []
        for sql, ps in selects:
            cursor.execute(f"EXPLAIN {sql}", ps)
            plans.append((sql, [_as_sqlite_step(row[0]) for row in cursor.fetchall()]))
        raw.rollback()
        return plans


def db_is_sqlite(db: Database) -> bool:
    return db.dialect == "sqlite"


def _as_sqlite_step(line: str) -> str:
    """A PostgreSQL plan line in SQLite's words, so one assertion reads both."""
    step = line.strip().removeprefix("->").strip()
    if step.startswith("Seq Scan on "):
        return "SCAN " + step.removeprefix("Seq Scan on ").split()[0]
    for kind in ("Index Only Scan using ", "Index Scan using ", "Bitmap Index Scan on "):
        if step.startswith(kind):
            return "SEARCH USING INDEX " + step.removeprefix(kind).split()[0]
    return step


@pytest.mark.parametrize("text", [SHARED_LAYER, "sha256:abcdef", "abcdef01", "dev/a:v"])
@pytest.mark.parametrize("who", ["admin", "jane"])
def test_lookups_use_indexes(
    ctx: ManageContext,
    jane: Principal,
    statements: list[tuple[str, Any]],
    text: str,
    who: str,
) -> None:
    image = store_image(ctx.db, "dev/a", config=CONFIG, layers=[SHARED_LAYER], tags=("v1",))
    store_index(ctx.db, "dev/a", children=[image], tags=("v",))
    with ctx.db.write() as conn:
        add_diff_ids(conn, CONFIG, [hex_digest("abcdef02")])
    snapshot = ctx.snapshot()
    statements.clear()
    result = search(ctx.db, snapshot, OPERATOR if who == "admin" else jane, text)
    assert result.digests or result.tags
    plans = _plans(ctx.db, statements)
    assert plans
    for sql, plan in plans:
        for step in plan:
            for table in ("manifest", "manifest_reference", "image_diff_id", "tag"):
                assert not step.startswith(f"SCAN {table}"), (step, sql, plan)
        if "FROM image_diff_id" in sql:  # from the diff ID, not from the readable manifests
            first = plan[0] if db_is_sqlite(ctx.db) else " ".join(plan)
            assert "USING INDEX ix_image_diff_id_diff_id" in first, (sql, plan)


def test_name_search_by_contained_text_uses_the_trigram_index_on_postgresql(
    ctx: ManageContext, statements: list[tuple[str, Any]]
) -> None:
    """`LIKE '%text%'` over names: served by the pg_trgm index (migration 0012) instead of
    a scan of the repository table. SQLite has no such index (it scans, and says so)."""
    for name in ("shop/webapp", "lab/app-server", "ops/tools"):
        store_image(ctx.db, name, config=CONFIG, layers=[SHARED_LAYER], tags=("v1",))
    statements.clear()
    result = search(ctx.db, ctx.snapshot(), OPERATOR, "app")
    assert set(result.repositories) >= {"shop/webapp", "lab/app-server"}
    contained = [(sql, plan) for sql, plan in _plans(ctx.db, statements) if "LIKE" in sql.upper()]
    assert contained
    for sql, plan in contained:
        if db_is_sqlite(ctx.db):
            assert any(step.startswith("SCAN repository") for step in plan), plan
        else:
            assert "SEARCH USING INDEX ix_repository_name_trgm" in plan, (sql, plan)
