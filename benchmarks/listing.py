"""`_catalog` and `tags/list` pages at 10,000 repositories and 10,000 tags.

Each page is requested over and over, one at a time, on one keep-alive connection (as admin,
Basic), and the client times every request: no process start-up in the numbers.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import quote

from benchmarks.oci import Client, path_of
from benchmarks.options import Options
from benchmarks.registries import Registry
from benchmarks.results import Cell, Results, fmt_ms, fmt_rate
from benchmarks.seeding import REPO_FMT, TAG_FMT, seed_repositories, seed_tags

__all__ = ["describe", "rows", "run"]

GROUP = "listing"


def _pages(opts: Options) -> list[tuple[str, str, str, int]]:
    """(row, path, JSON key, expected entries) for every timed page."""
    n_repos, n_tags = opts.repositories, opts.tags
    tags_repo = REPO_FMT.format(0)

    def catalog(last: int | None) -> str:
        suffix = f"&last={quote(REPO_FMT.format(last), safe='')}" if last is not None else ""
        return f"/v2/_catalog?n=100{suffix}"

    def tags(last: int | None) -> str:
        suffix = f"&last={TAG_FMT.format(last)}" if last is not None else ""
        return f"/v2/{tags_repo}/tags/list?n=100{suffix}"

    mid_r, last_r, mid_t, last_t = n_repos // 2, n_repos - 100, n_tags // 2, n_tags - 100
    return [
        ("`GET /v2/` (auth check only: the floor)", "/v2/", "", 0),
        ("`_catalog?n=100`, first page", catalog(None), "repositories", 100),
        (f"`_catalog?n=100`, middle (after #{mid_r:,})", catalog(mid_r - 1), "repositories", 100),
        (f"`_catalog?n=100`, last page (after #{last_r:,})", catalog(last_r - 1), "repositories",
         100),
        ("`tags/list?n=100`, first page", tags(None), "tags", 100),
        (f"`tags/list?n=100`, middle (after #{mid_t:,})", tags(mid_t - 1), "tags", 100),
        (f"`tags/list?n=100`, last page (after #{last_t:,})", tags(last_t - 1), "tags", 100),
        (f"`tags/list`, all {n_tags:,} tags (no `n`, `Link` followed)",
         f"/v2/{tags_repo}/tags/list", "tags", n_tags),
    ]  # fmt: skip


SEED_REPOS = "seed: repository + manifest (repos/s)"
SEED_TAGS = "seed: tag on existing manifest (tags/s)"


def rows(opts: Options) -> list[str]:
    return [row for row, *_ in _pages(opts)] + [SEED_REPOS, SEED_TAGS]


def describe(results: Results, opts: Options) -> None:
    results.group(
        GROUP,
        f"Listings: {opts.repositories:,} repositories, {opts.tags:,} tags in one",
        "Median / p99 ms per request: up to "
        f"{opts.page_requests} sequential requests (at most {opts.page_seconds:g} s) per page on "
        "one keep-alive connection from a Python client, as admin with Basic auth, after 3 "
        "warm-up requests; `GET /v2/` shows what auth and HTTP alone cost. Seeding through the "
        f"HTTP API with {opts.seed_workers} client threads: one config blob, cross-repository "
        "mounts and config-only OCI manifests; then every tag a PUT of the same manifest. "
        "Dockyard seeds as admin with Basic; the peers seed with Bearer tokens (`auth.token`, "
        "one token per batch of 50 repositories), because htpasswd checks bcrypt on every "
        "request.",
    )


_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _get_all(client: Client, path: str, key: str, follow: bool) -> int:
    """GET path (and, with `follow`, every `Link: rel="next"` after it); returns entries."""
    entries, pages = 0, 0
    next_path: str | None = path
    while next_path is not None and pages < 1000:
        resp = client.request("GET", next_path)
        pages += 1
        if resp.status != 200:
            raise RuntimeError(f"GET {next_path}: HTTP {resp.status}: {resp.body[:200]!r}")
        entries += len(json.loads(resp.body).get(key) or []) if key else 0
        link = _NEXT.search(resp.headers.get("Link", "")) if follow else None
        next_path = path_of(link.group(1)) if link else None
    return entries


def _time_page(
    client: Client, path: str, key: str, follow: bool, opts: Options
) -> tuple[list[float], int]:
    for _ in range(3):
        _get_all(client, path, key, follow)
    samples: list[float] = []
    entries = -1
    deadline = time.monotonic() + opts.page_seconds
    while len(samples) < opts.page_requests and (time.monotonic() < deadline or len(samples) < 5):
        t0 = time.perf_counter()
        got = _get_all(client, path, key, follow)
        samples.append((time.perf_counter() - t0) * 1000)
        entries = got if entries < 0 else entries
    return samples, entries


def _quantile(sorted_samples: list[float], q: float) -> float:
    index = min(len(sorted_samples) - 1, max(0, round(q * len(sorted_samples) + 0.5) - 1))
    return sorted_samples[index]


def run(registry: Registry, opts: Options, results: Results) -> None:
    with registry.seeding():
        seconds = seed_repositories(
            registry, opts.repositories, opts.seed_workers, opts.seed_limit_s
        )
        rate = opts.repositories / seconds
        results.set(GROUP, SEED_REPOS, registry.key, Cell(fmt_rate(rate), rate))
        seconds = seed_tags(
            registry, REPO_FMT.format(0), opts.tags, opts.seed_workers, opts.seed_limit_s
        )
        rate = (opts.tags - 1) / seconds
        results.set(GROUP, SEED_TAGS, registry.key, Cell(fmt_rate(rate), rate))

    client = registry.client()
    try:
        for row, path, key, expected in _pages(opts):
            samples, entries = _time_page(client, path, key, "Link" in row, opts)
            samples.sort()
            median, p99 = _quantile(samples, 0.5), _quantile(samples, 0.99)
            text = f"{fmt_ms(median)} / {fmt_ms(p99)}"
            if entries != expected:
                text += f" ({entries:,} entries, not {expected:,})"
            results.set(
                GROUP,
                row,
                registry.key,
                Cell(text, median, {"p99_ms": p99, "entries": entries, "n": len(samples)}),
            )
    finally:
        client.close()
