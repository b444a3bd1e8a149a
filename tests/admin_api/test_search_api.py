"""`GET /api/v1/search` in-process: the documented answer, only readable repositories,
limits, bad input as 400 INVALID and anonymous callers as 401."""

from __future__ import annotations

import httpx
import pytest

from dockyard.metadata.db import Database
from dockyard.metadata.queries.diff_ids import add_diff_ids
from fixtures.manage import PASSWORD, add_user
from fixtures.search_content import hex_digest, store_image, store_index

SARAH = ("sarah", PASSWORD)  # registry admin
JANE = ("jane", PASSWORD)  # reads dev/
GREG = ("greg", PASSWORD)  # reads nothing
LAYER = hex_digest("5ec7e7")
CONFIG = hex_digest("c0ffee1234ab")
DIFF_ID = hex_digest("d1ff1d")  # the layer uncompressed, as the image config lists it
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture(autouse=True)
def content(db: Database, client: httpx.Client) -> dict[str, str]:
    add_user(db, "sarah", admin=True)
    add_user(db, "jane")
    add_user(db, "greg")
    image = store_image(db, "dev/app", config=CONFIG, layers=[LAYER], tags=("1.0.1",))
    index = store_index(db, "dev/app", children=[image], tags=("1.0", "latest"))
    store_image(db, "prod/app", config=CONFIG, layers=[LAYER], tags=("1.0",))
    with db.write() as conn:  # as a push of CONFIG records them (tests/registry/test_diff_ids)
        add_diff_ids(conn, CONFIG, [DIFF_ID])
    grant = {"role": "read", "to": "user:jane", "on": "dev"}
    assert client.post("/api/v1/grants", json=grant, auth=SARAH).status_code == 201
    return {"image": image, "index": index}


def test_layer_digest(client: httpx.Client, content: dict[str, str]) -> None:
    answer = client.get("/api/v1/search", params={"q": LAYER}, auth=JANE)
    assert answer.status_code == 200
    assert answer.json() == {
        "query": LAYER,
        "interpreted_as": ["digest"],
        "repositories": [],
        "tags": [],
        "digests": [
            {
                "repository": "dev/app",
                "manifest": content["image"],
                "media_type": OCI_MANIFEST,
                "match": "layer",
                "matched_digest": LAYER,
                "tags": ["1.0.1"],
                "index_tags": ["1.0", "latest"],
                "more_tags": 0,
            }
        ],
        "truncated": False,
    }
    everywhere = client.get("/api/v1/search", params={"q": "5ec7e7"}, auth=SARAH).json()
    assert everywhere["interpreted_as"] == ["name", "digest"]
    assert sorted(d["repository"] for d in everywhere["digests"]) == ["dev/app", "prod/app"]


def test_layer_diff_id(client: httpx.Client, content: dict[str, str]) -> None:
    for q in (DIFF_ID, DIFF_ID[:19], DIFF_ID[7:19]):
        answer = client.get("/api/v1/search", params={"q": q}, auth=JANE)
        assert answer.status_code == 200
        assert answer.json()["digests"] == [
            {
                "repository": "dev/app",
                "manifest": content["image"],
                "media_type": OCI_MANIFEST,
                "match": "layer diff ID",
                "matched_digest": DIFF_ID,
                "tags": ["1.0.1"],
                "index_tags": ["1.0", "latest"],
                "more_tags": 0,
            }
        ], q
    everywhere = client.get("/api/v1/search", params={"q": DIFF_ID}, auth=SARAH).json()
    assert [(d["repository"], d["match"]) for d in everywhere["digests"]] == [
        ("dev/app", "layer diff ID"),
        ("prod/app", "layer diff ID"),
    ]
    nothing = client.get("/api/v1/search", params={"q": DIFF_ID}, auth=GREG).json()
    assert nothing["digests"] == []


def test_manifest_digest_and_index_child(client: httpx.Client, content: dict[str, str]) -> None:
    found = client.get("/api/v1/search", params={"q": content["image"]}, auth=JANE).json()
    assert [(d["match"], d["manifest"], d["media_type"]) for d in found["digests"]] == [
        ("manifest", content["image"], OCI_MANIFEST),
        ("index child", content["index"], OCI_INDEX),
    ]


def test_image_id(client: httpx.Client) -> None:
    found = client.get("/api/v1/search", params={"q": CONFIG[7:19]}, auth=SARAH).json()
    assert {(d["repository"], d["match"]) for d in found["digests"]} == {
        ("dev/app", "image config"),
        ("prod/app", "image config"),
    }


def test_names_and_tags_only_readable(client: httpx.Client) -> None:
    names = client.get("/api/v1/search", params={"q": "app"}, auth=JANE).json()
    assert names["interpreted_as"] == ["name"]
    assert names["repositories"] == [{"name": "dev/app"}]
    tags = client.get("/api/v1/search", params={"q": "dev/app:1.0"}, auth=JANE).json()
    assert [(t["repository"], t["tag"]) for t in tags["tags"]] == [
        ("dev/app", "1.0"),
        ("dev/app", "1.0.1"),
    ]
    for q in ("app", "prod/app:1.0", LAYER, CONFIG):
        nothing = client.get("/api/v1/search", params={"q": q}, auth=GREG).json()
        assert (nothing["repositories"], nothing["tags"], nothing["digests"]) == ([], [], [])


def test_limit_and_truncated(client: httpx.Client) -> None:
    cut = client.get("/api/v1/search", params={"q": "app", "limit": 1}, auth=SARAH).json()
    assert cut["repositories"] == [{"name": "dev/app"}]
    assert cut["truncated"] is True


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "  "},
        {"q": "a" * 257},
        {"q": "app", "limit": 0},
        {"q": "a", "limit": 501},
    ],
)
def test_invalid(client: httpx.Client, params: dict[str, str | int]) -> None:
    answer = client.get("/api/v1/search", params=params, auth=SARAH)
    assert answer.status_code == 400
    assert {e["code"] for e in answer.json()["errors"]} == {"INVALID"}
    assert "a" * 257 not in answer.text  # input is never echoed


def test_anonymous(client: httpx.Client) -> None:
    answer = client.get("/api/v1/search", params={"q": "app"})
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"
