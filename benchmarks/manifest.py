"""HEAD and GET of a manifest by tag under load, with auth on: admin with Basic, and an
ordinary user with a Bearer token fetched up front."""

from __future__ import annotations

import os

from benchmarks import loadgen
from benchmarks.oci import MANIFEST_TYPE, make_image, sha256_digest
from benchmarks.options import Options
from benchmarks.registries import Registry
from benchmarks.results import Cell, Results, fmt_ms, fmt_rate

__all__ = ["REPO", "TAG", "check", "describe", "measure", "rows", "run", "seed"]

GROUP = "manifest"
REPO = "load/app"
TAG = "latest"
_ROWS = [
    ("HEAD", "basic", "HEAD manifest by tag: admin, Basic"),
    ("GET", "basic", "GET manifest by tag: admin, Basic"),
    ("HEAD", "bearer", "HEAD manifest by tag: ordinary user, Bearer"),
    ("GET", "bearer", "GET manifest by tag: ordinary user, Bearer"),
]


def rows(opts: Options) -> list[str]:
    return [row for *_, row in _ROWS]


def describe(results: Results, opts: Options) -> None:
    results.group(
        GROUP,
        "Manifest by tag under load, auth on",
        f"req/s (p99 ms) over {opts.load_seconds} s with {opts.load_connections} keep-alive "
        f"connections after a 1 s warm-up: GET with `wrk -t2 -c{opts.load_connections}` "
        f"(Lua script adds the headers), HEAD with `ab -k -i -c{opts.load_connections}` (wrk "
        "cannot do HEAD). `Accept: application/vnd.oci.image.manifest.v1+json`. Manifest of "
        "one config and one layer. Basic: the registry-wide admin (htpasswd bcrypt for the "
        "peers, checked on every request). Bearer: a pull token for one repository, fetched "
        "once; the peers run with `auth.token` for these rows and verify a JWT signed by the "
        "harness (certificate in `x5c`, trusted through `rootcertbundle`).",
    )


def seed(registry: Registry) -> None:
    """Push the image the rows GET: one 4 KiB layer and a config, tagged."""
    layer = os.urandom(4096)
    layer_digest = sha256_digest(layer)
    image = make_image([(layer_digest, len(layer))])
    client = registry.client()
    try:
        client.push_blob(REPO, layer, layer_digest)
        client.push_image(REPO, TAG, image)
    finally:
        client.close()


def check(registry: Registry, authorization: str) -> None:
    """Fail unless HEAD and GET of the manifest answer 200 with this authorization."""
    client = registry.client(authorization)
    try:
        for method in ("HEAD", "GET"):
            resp = client.request(method, f"/v2/{REPO}/manifests/{TAG}", {"Accept": MANIFEST_TYPE})
            if resp.status != 200:
                raise RuntimeError(f"{method} manifest: HTTP {resp.status}: {resp.body[:200]!r}")
    finally:
        client.close()


def measure(registry: Registry, method: str, authorization: str, opts: Options) -> Cell:
    """req/s (p99) of `method` on the manifest by tag: 1 s of warm-up, then the timed run."""
    path = f"/v2/{REPO}/manifests/{TAG}"

    def once(seconds: int) -> loadgen.LoadResult:
        if method == "HEAD":
            return loadgen.ab(
                registry.port,
                path,
                authorization=authorization,
                accept=MANIFEST_TYPE,
                seconds=seconds,
                concurrency=opts.load_connections,
            )
        return loadgen.wrk(
            registry.port,
            path,
            authorization=authorization,
            accept=MANIFEST_TYPE,
            seconds=seconds,
            connections=opts.load_connections,
        )

    once(1)
    result = once(opts.load_seconds)
    text = f"{fmt_rate(result.rps)} ({fmt_ms(result.p99_ms)} ms)"
    if result.errors:
        text += f" ⚠ {result.errors:,} errors of {result.requests:,}"
    if result.note:
        text += f" ({result.note})"
    return Cell(text, result.rps, {"p99_ms": result.p99_ms, "errors": result.errors})


def run(registry: Registry, opts: Options, results: Results) -> None:
    seed(registry)
    admin = registry.admin_authorization
    check(registry, admin)
    for method, auth, row in _ROWS:
        if auth == "basic":
            results.set(GROUP, row, registry.key, measure(registry, method, admin, opts))
    with registry.reader_bearer(REPO) as bearer:
        check(registry, bearer.authorization)
        results.groups[GROUP].notes.append(f"{registry.title} Bearer rows as: {bearer.who}.")
        for method, auth, row in _ROWS:
            if auth == "bearer":
                cell = measure(registry, method, bearer.authorization, opts)
                if bearer.who.startswith("admin"):
                    cell.text += " (admin's token)"
                results.set(GROUP, row, registry.key, cell)
