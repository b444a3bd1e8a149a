"""Bad input gets the spec's error code and leaves no trace."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from collections.abc import Callable

import pytest

from fixtures.servers import Registry
from fixtures.v2api import OCI_INDEX, OCI_MANIFEST, V2, error_code, sha256


def test_malformed_json_manifest(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("badjson")
    r = v2.put_manifest(name, "v1", b'{"schemaVersion": 2, ')
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_INVALID")
    assert name not in v2.catalog()


def test_unknown_media_type(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("mediatype")
    payload = v2.image_manifest(name, [b"layer"], mediaType="application/x-not-a-manifest")
    r = v2.put_manifest(name, "v1", payload, "application/x-not-a-manifest")
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_INVALID")


def test_schema1_refused(v2: V2, repo: Callable[[str], str]) -> None:
    schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    r = v2.put_manifest(repo("s1"), "v1", json.dumps({"schemaVersion": 1}).encode(), schema1)
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_INVALID")
    assert "schema 1" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("chunked", [False, True])
def test_manifest_over_4_mib(v2: V2, repo: Callable[[str], str], chunked: bool) -> None:
    name = repo("huge")
    payload = v2.image_manifest(name, [b"x"], annotations={"pad": "x" * (4 * 1024 * 1024)})
    content = iter([payload[i : i + 65536] for i in range(0, len(payload), 65536)])
    r = v2.http.put(
        f"/v2/{name}/manifests/v1",
        content=content if chunked else payload,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert (r.status_code, error_code(r)) == (413, "MANIFEST_INVALID")
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == []


def test_manifest_referencing_absent_blob(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("absent")
    payload = v2.image_manifest(name, [b"present"])
    doc = json.loads(payload)
    doc["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          "digest": sha256(b"never pushed"), "size": 12})  # fmt: skip
    r = v2.put_manifest(name, "v1", json.dumps(doc).encode())
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert v2.http.get(f"/v2/{name}/manifests/v1").status_code == 404


def test_manifest_with_wrong_blob_size(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("size")
    doc = json.loads(v2.image_manifest(name, [b"12345"]))
    doc["layers"][0]["size"] = 4
    r = v2.put_manifest(name, "v1", json.dumps(doc).encode())
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_INVALID")


def test_blob_of_another_repository_is_not_usable(v2: V2, repo: Callable[[str], str]) -> None:
    """A digest is not a capability: content pushed elsewhere must be pushed or mounted."""
    payload = v2.image_manifest(repo("owner"), [b"secret layer"])
    r = v2.put_manifest(repo("thief"), "v1", payload)
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_BLOB_UNKNOWN")


def test_wrong_digest_on_monolithic_upload(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("wrongdigest")
    digest = sha256(b"what was promised")
    r = v2.http.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=b"other")
    assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID")
    assert v2.http.head(f"/v2/{name}/blobs/{digest}").status_code == 404
    assert v2.http.head(f"/v2/{name}/blobs/{sha256(b'other')}").status_code == 404
    assert name not in v2.catalog()


def test_digest_mismatch_on_put_by_digest(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("putdigest")
    payload = v2.image_manifest(name, [b"l"])
    r = v2.put_manifest(name, sha256(b"something else"), payload)
    assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID")
    assert v2.http.get(f"/v2/{name}/manifests/{sha256(payload)}").status_code == 404


@pytest.mark.parametrize("name", ["a/../b", "Upper/case", "a//b", "x" * 256, "a/b-", "a%2Fb"])
def test_invalid_repository_names(dockyard_server: Registry, name: str) -> None:
    # http.client sends the path as written (httpx would resolve the "..").
    conn = http.client.HTTPConnection(dockyard_server.host, dockyard_server.port, timeout=30)
    try:
        conn.request("POST", f"/v2/{name}/blobs/uploads/", headers=_auth(dockyard_server))
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert (response.status, body["errors"][0]["code"]) == (400, "NAME_INVALID")


def test_out_of_order_patch_keeps_session_usable(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("chunks")
    start = v2.http.post(f"/v2/{name}/blobs/uploads/")
    location = start.headers["location"]
    first = v2.http.patch(location, content=b"abc", headers={"Content-Range": "0-2"})
    assert (first.status_code, first.headers["range"]) == (202, "0-2")
    skipped = v2.http.patch(location, content=b"xyz", headers={"Content-Range": "5-7"})
    assert (skipped.status_code, error_code(skipped)) == (416, "BLOB_UPLOAD_INVALID")
    assert skipped.headers["range"] == "0-2"
    again = v2.http.patch(location, content=b"abc", headers={"Content-Range": "0-2"})
    assert again.status_code == 416
    status = v2.http.get(location)
    assert (status.status_code, status.headers["range"]) == (204, "0-2")
    second = v2.http.patch(location, content=b"def", headers={"Content-Range": "bytes 3-5/6"})
    assert second.status_code == 202
    done = v2.http.put(location, params={"digest": sha256(b"abcdef")})
    assert done.status_code == 201, done.text
    assert v2.http.get(f"/v2/{name}/blobs/{sha256(b'abcdef')}").content == b"abcdef"


def test_content_range_disagreeing_with_body(v2: V2, repo: Callable[[str], str]) -> None:
    location = v2.http.post(f"/v2/{repo('cr')}/blobs/uploads/").headers["location"]
    r = v2.http.patch(location, content=b"abcd", headers={"Content-Range": "0-9"})
    assert (r.status_code, error_code(r)) == (400, "BLOB_UPLOAD_INVALID")
    assert v2.http.get(location).headers["range"] == "0-0"


def test_unknown_upload_id(v2: V2, repo: Callable[[str], str]) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        r = v2.http.request(
            method, f"/v2/{repo('u')}/blobs/uploads/0123456789abcdef",
            params={"digest": sha256(b"")},
        )  # fmt: skip
        assert (r.status_code, error_code(r)) == (404, "BLOB_UPLOAD_UNKNOWN"), method


def test_upload_id_of_another_repository(v2: V2, repo: Callable[[str], str]) -> None:
    location = v2.http.post(f"/v2/{repo('mine')}/blobs/uploads/").headers["location"]
    upload_id = location.rsplit("/", 1)[1]
    r = v2.http.get(f"/v2/{repo('theirs')}/blobs/uploads/{upload_id}")
    assert r.status_code == 404


@pytest.mark.parametrize("digest", ["sha256:abc", "sha256:" + "G" * 64, "md5:" + "0" * 32, "nope"])
def test_invalid_digest_strings(v2: V2, repo: Callable[[str], str], digest: str) -> None:
    name = repo("digests")
    assert error_code(v2.http.get(f"/v2/{name}/blobs/{digest}")) == "DIGEST_INVALID"
    r = v2.http.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=b"x")
    assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID")


def _raw_request(registry: Registry, head: bytes, body: bytes, read_timeout: float) -> bytes:
    with socket.create_connection((registry.host, registry.port), timeout=read_timeout) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _auth(registry: Registry) -> dict[str, str]:
    pair = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def _post_blob_declaring(registry: Registry, name: str, data: bytes, length: int) -> bytes:
    """A monolithic upload of `data` whose Content-Length says `length`; the raw reply."""
    head = (
        f"POST /v2/{name}/blobs/uploads/?digest={sha256(data)} HTTP/1.1\r\n"
        f"Host: {registry.hostport}\r\nContent-Length: {length}\r\n"
        f"Authorization: {_auth(registry)['Authorization']}\r\nConnection: close\r\n\r\n"
    ).encode()
    return _raw_request(registry, head, data, read_timeout=30)


def test_body_shorter_than_content_length(
    dockyard_server: Registry, v2: V2, repo: Callable[[str], str]
) -> None:
    name = repo("short")
    data = b"0123456789"
    _post_blob_declaring(dockyard_server, name, data, 100)
    assert v2.http.head(f"/v2/{name}/blobs/{sha256(data)}").status_code == 404
    assert name not in v2.catalog()


def test_body_longer_than_content_length(
    dockyard_server: Registry, v2: V2, repo: Callable[[str], str]
) -> None:
    """Only Content-Length bytes are the body: the blob is what they hash to, or nothing."""
    name = repo("long")
    data = b"0123456789"
    reply = _post_blob_declaring(dockyard_server, name, data, 5)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"DIGEST_INVALID" in reply
    assert v2.http.head(f"/v2/{name}/blobs/{sha256(data)}").status_code == 404


def test_index_with_plain_blob_entries_is_accepted(v2: V2, repo: Callable[[str], str]) -> None:
    """BuildKit's registry cache pushes an index whose entries are plain blobs."""
    name = repo("buildkit-cache")
    layer = v2.push_blob(name, b"cache layer")
    cache_config = json.dumps({"layers": []}).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
             "size": 11},
            {"mediaType": "application/vnd.buildkit.cacheconfig.v0",
             "digest": v2.push_blob(name, cache_config), "size": len(cache_config)},
        ],
    }  # fmt: skip
    payload = json.dumps(index).encode()
    r = v2.put_manifest(name, "buildcache", payload, OCI_INDEX)
    assert r.status_code == 201, r.text
    assert v2.http.get(f"/v2/{name}/manifests/buildcache").content == payload
    # the blobs it lists are now in use: deleting one is refused, not left dangling
    assert v2.http.delete(f"/v2/{name}/blobs/{layer}").status_code == 405


def test_manifest_media_type_must_match_content_type(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("ctype")
    payload = v2.image_manifest(name, [b"l"])
    docker = "application/vnd.docker.distribution.manifest.v2+json"
    r = v2.put_manifest(name, "v1", payload, docker)
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_INVALID")


def test_closing_put_with_a_misplaced_range(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("closing")
    location = v2.http.post(f"/v2/{name}/blobs/uploads/").headers["location"]
    v2.http.patch(location, content=b"abc", headers={"Content-Range": "0-2"})
    digest = sha256(b"abcdef")
    early = v2.http.put(location, params={"digest": digest}, content=b"ef",
                        headers={"Content-Range": "4-5"})  # fmt: skip
    assert (early.status_code, early.headers["range"]) == (416, "0-2")
    done = v2.http.put(location, params={"digest": digest}, content=b"def",
                       headers={"Content-Range": "3-5"})  # fmt: skip
    assert done.status_code == 201, done.text
