"""Tag lists and the catalog in byte order with `n`/`last`; deletes that take only what
they name."""

from __future__ import annotations

from collections.abc import Callable

from fixtures.v2api import V2, error_code, sha256


def test_tags_pagination(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("tags")
    payload = v2.image_manifest(name, [b"t"])
    tags = ["b", "a", "B", "a.1", "_z", "10", "9"]
    for tag in tags:
        assert v2.put_manifest(name, tag, payload).status_code == 201
    everything = v2.http.get(f"/v2/{name}/tags/list").json()
    assert everything == {"name": name, "tags": sorted(tags)}  # Go's sort.Strings: bytes
    page = v2.http.get(f"/v2/{name}/tags/list", params={"n": 3})
    assert page.json()["tags"] == sorted(tags)[:3]
    link = page.headers["link"]
    assert link == f'</v2/{name}/tags/list?n=3&last={sorted(tags)[2]}>; rel="next"'
    rest = v2.http.get(link[1 : link.index(">")]).json()["tags"]
    assert rest == sorted(tags)[3:6]
    # `last` is a position: it need not exist
    after_a = v2.http.get(f"/v2/{name}/tags/list", params={"last": "a"}).json()["tags"]
    assert after_a == ["a.1", "b"]
    zero = v2.http.get(f"/v2/{name}/tags/list", params={"n": 0})
    assert (zero.json()["tags"], "link" in zero.headers) == ([], False)
    unknown = v2.http.get(f"/v2/{repo('never')}/tags/list")
    assert (unknown.status_code, error_code(unknown)) == (404, "NAME_UNKNOWN")


def test_catalog_pagination(v2: V2, repo: Callable[[str], str]) -> None:
    names = [repo(f"cat{i}") for i in range(5)]
    for name in names:
        v2.put_manifest(name, "v1", v2.image_manifest(name, [b"c"]))
    start = sorted(names)[0]
    before = start[:-1]  # sorts just before the first of ours
    page = v2.http.get("/v2/_catalog", params={"n": 2, "last": before})
    assert page.json()["repositories"] == sorted(names)[:2]
    assert page.headers["link"].startswith("</v2/_catalog?n=2&last=")
    huge = v2.http.get("/v2/_catalog", params={"n": 10**9})
    assert huge.status_code == 200  # capped, not an out-of-memory
    bad = v2.http.get("/v2/_catalog", params={"n": "x"})
    assert (bad.status_code, error_code(bad)) == (400, "UNSUPPORTED")


def test_delete_by_tag_removes_only_that_tag(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("deltag")
    payload = v2.image_manifest(name, [b"d"])
    for tag in ("one", "two"):
        v2.put_manifest(name, tag, payload)
    assert v2.http.delete(f"/v2/{name}/manifests/one").status_code == 202
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["two"]
    assert v2.http.get(f"/v2/{name}/manifests/{sha256(payload)}").status_code == 200
    again = v2.http.delete(f"/v2/{name}/manifests/one")
    assert (again.status_code, error_code(again)) == (404, "MANIFEST_UNKNOWN")


def test_delete_by_digest_removes_its_tags(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("deldigest")
    payload = v2.image_manifest(name, [b"e"])
    v2.put_manifest(name, "x", payload)
    v2.put_manifest(name, "y", payload)
    assert v2.http.delete(f"/v2/{name}/manifests/{sha256(payload)}").status_code == 202
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == []
    assert v2.http.get(f"/v2/{name}/manifests/x").status_code == 404


def test_index_child_cannot_be_deleted_under_its_index(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("child")
    child = v2.image_manifest(name, [b"amd64"])
    v2.put_manifest(name, sha256(child), child)
    index = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":'
        f'[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{sha256(child)}",'
        f'"size":{len(child)},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}'
    ).encode()
    r = v2.put_manifest(name, "multi", index, "application/vnd.oci.image.index.v1+json")
    assert r.status_code == 201, r.text
    refused = v2.http.delete(f"/v2/{name}/manifests/{sha256(child)}")
    assert (refused.status_code, error_code(refused)) == (405, "UNSUPPORTED")
    assert v2.http.delete(f"/v2/{name}/manifests/{sha256(index)}").status_code == 202
    assert v2.http.delete(f"/v2/{name}/manifests/{sha256(child)}").status_code == 202


def test_blob_delete_unlinks_from_that_repository_only(v2: V2, repo: Callable[[str], str]) -> None:
    a, b = repo("a"), repo("b")
    digest = v2.push_blob(a, b"shared")
    v2.push_blob(b, b"shared")
    assert v2.http.delete(f"/v2/{a}/blobs/{digest}").status_code == 202
    assert v2.http.head(f"/v2/{a}/blobs/{digest}").status_code == 404
    assert v2.http.get(f"/v2/{b}/blobs/{digest}").content == b"shared"


def test_blob_range_and_headers(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("range")
    data = bytes(range(256)) * 100
    digest = v2.push_blob(name, data)
    head = v2.http.head(f"/v2/{name}/blobs/{digest}")
    assert head.headers["docker-content-digest"] == digest
    assert head.headers["etag"] == f'"{digest}"'
    assert int(head.headers["content-length"]) == len(data)
    part = v2.http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=100-199"})
    assert (part.status_code, part.content) == (206, data[100:200])
    tail = v2.http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=25000-"})
    assert tail.content == data[25000:]


def test_cross_repository_mount(v2: V2, repo: Callable[[str], str]) -> None:
    source, target = repo("src"), repo("dst")
    digest = v2.push_blob(source, b"mount me")
    r = v2.http.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert (r.status_code, r.headers["location"]) == (201, f"/v2/{target}/blobs/{digest}")
    missing = v2.http.post(f"/v2/{target}/blobs/uploads/",
                           params={"mount": sha256(b"absent"), "from": source})  # fmt: skip
    assert missing.status_code == 202  # falls back to a plain upload session
    no_from = v2.http.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert no_from.status_code == 202


def test_unsatisfiable_ranges_get_416(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("badrange")
    digest = v2.push_blob(name, b"x" * 2048)
    for header in ("bytes=500-0", "bytes=5000-", "bytes=-0"):
        r = v2.http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": header})
        assert (r.status_code, r.headers["content-range"]) == (416, "bytes */2048"), header
