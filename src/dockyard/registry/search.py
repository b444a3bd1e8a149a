"""Search: one text box that understands what it is given (issue 4 §4).

- a name or part of one: repositories whose name contains it, exact match first, then
  prefix, then substring;
- `repository:tag`, the tag whole or its beginning: the matching tags of that repository;
- a digest, whole or a prefix of at least `MIN_DIGEST_HEX` hex characters, with or without
  `sha256:` (Docker's 12-character image ID is one): every manifest whose own digest, config
  digest (the image ID), a layer, a layer's diff ID (the uncompressed digest that `docker
  inspect` and scanners print, indexed from image configs by `registry.diff_ids`) or an
  index child matches, each saying which. Bare hex is also searched as a name (a repository
  may be called `cafe0123`).

Only what the caller may read appears: `auth.permissions.readable` gives the filter, which
every query applies in SQL before its limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.auth.permissions import readable
from dockyard.auth.principals import Principal
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.db import Database
from dockyard.metadata.queries import search as queries
from dockyard.metadata.queries.search import DigestMatch
from dockyard.registry.digests import SUPPORTED_ALGORITHMS
from dockyard.registry.errors import RegistryError

__all__ = [
    "DEFAULT_LIMIT",
    "MATCH_LABELS",
    "MAX_LIMIT",
    "MAX_QUERY_LENGTH",
    "MAX_TAGS_SHOWN",
    "MIN_DIGEST_HEX",
    "DigestResult",
    "SearchInvalid",
    "SearchResult",
    "TagResult",
    "search",
    "without_registry",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY_LENGTH = 256
MIN_DIGEST_HEX = 6  # fewer hex characters match too much to mean a digest
MAX_TAGS_SHOWN = 20  # per result: a CI image can carry thousands of tags

# What each lookup is called in answers, in the order answers list them.
MATCH_LABELS = {
    DigestMatch.MANIFEST: "manifest",
    DigestMatch.CONFIG: "image config",
    DigestMatch.LAYER: "layer",
    DigestMatch.DIFF_ID: "layer diff ID",
    DigestMatch.CHILD: "index child",
}
_HEX = re.compile(r"[0-9a-f]+")
_BARE_ALGORITHM = "sha256"  # what `docker images` and most tools print without a prefix


class SearchInvalid(RegistryError):
    """The search text is empty, too long, or the limit is out of range."""


@dataclass(frozen=True, slots=True)
class TagResult:
    repository: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class DigestResult:
    repository: str
    manifest: str
    media_type: str
    match: str  # a MATCH_LABELS value
    matched_digest: str
    tags: tuple[str, ...]  # pointing at this manifest (the first MAX_TAGS_SHOWN)
    index_tags: tuple[str, ...]  # pointing at an index that lists this manifest (likewise)
    more_tags: int = 0  # left out of the two above


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    interpreted_as: tuple[str, ...]  # "name", "tag", "digest"
    repositories: tuple[str, ...]
    tags: tuple[TagResult, ...]
    digests: tuple[DigestResult, ...]
    truncated: bool  # some kind had more than `limit` results


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str | None = None  # lowercase text to find in repository names
    repository: str | None = None  # `repository:tag`: the repository…
    tag_prefix: str = ""  # …and the tag or its beginning
    digest_prefix: str | None = None  # `algorithm:hex…`, lowercase

    @property
    def interpreted_as(self) -> tuple[str, ...]:
        kinds = [("name", self.name), ("tag", self.repository), ("digest", self.digest_prefix)]
        return tuple(kind for kind, given in kinds if given is not None)


def _digest_prefix(text: str) -> str | None:
    """`algorithm:hex…` if `text` reads as a digest or a long enough prefix of one."""
    algorithm, sep, encoded = text.lower().partition(":")
    if not sep:
        algorithm, encoded = _BARE_ALGORITHM, algorithm
    length = SUPPORTED_ALGORITHMS.get(algorithm)
    if length is None or not _HEX.fullmatch(encoded):
        return None
    if not MIN_DIGEST_HEX <= len(encoded) <= length:
        return None
    return f"{algorithm}:{encoded}"


def _beyond(names: list[str] | tuple[str, ...]) -> int:
    return max(0, len(names) - MAX_TAGS_SHOWN)


def without_registry(text: str) -> str:
    """A reference as pulled, `registry.example.com:5000/team/app:v1` or `team/app@sha256:…`,
    made what search understands: the registry host goes (Docker's rule: a first component
    with a dot or a colon, or `localhost`), and a digest stands for the whole reference."""
    first, slash, rest = text.partition("/")
    if slash and rest and ("." in first or ":" in first or first == "localhost"):
        text = rest
    _, at, digest = text.partition("@")
    return digest if at and digest else text


def _plan(text: str) -> _Plan:
    text = without_registry(text)
    digest = _digest_prefix(text)
    if digest is not None:
        # Bare hex may also be (part of) a repository name.
        return _Plan(name=None if ":" in text else text.lower(), digest_prefix=digest)
    repository, sep, tag = text.rpartition(":")
    if sep and repository and "/" not in tag:
        # Tags are case-sensitive (OCI dist-spec tag grammar); names are lowercase.
        return _Plan(repository=repository.lower(), tag_prefix=tag)
    return _Plan(name=text.lower())


def search(
    db: Database,
    snapshot: AccessSnapshot,
    caller: Principal,
    text: str,
    limit: int = DEFAULT_LIMIT,
) -> SearchResult:
    """Search for `text` among what `caller` may read, at most `limit` results of each kind
    (each digest match kind counts on its own). Blocking: faces run it in a worker thread.
    Raises SearchInvalid for empty or overlong text and a limit outside 1..MAX_LIMIT."""
    wanted = text.strip()
    if not wanted:
        raise SearchInvalid("give something to search for")
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchInvalid(f"search text is longer than {MAX_QUERY_LENGTH} characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchInvalid(f"limit must be between 1 and {MAX_LIMIT}")
    plan = _plan(wanted)
    visible = readable(snapshot, caller)
    over = limit + 1  # one more than shown tells whether results were cut
    truncated = False
    names: list[str] = []
    tags: list[queries.TagHit] = []
    hits: list[tuple[DigestMatch, queries.DigestHit]] = []
    with db.read() as conn:
        if plan.name is not None:
            names = queries.matching_repositories(conn, plan.name, visible, over)
            truncated |= len(names) > limit
        if plan.repository is not None:
            found = queries.matching_tags(conn, plan.repository, plan.tag_prefix, visible, over)
            truncated |= len(found) > limit
            tags = found[:limit]
        if plan.digest_prefix is not None:
            for match in MATCH_LABELS:
                found_hits = queries.digest_matches(conn, match, plan.digest_prefix, visible, over)
                truncated |= len(found_hits) > limit
                hits.extend((match, hit) for hit in found_hits[:limit])
        ids = [hit.manifest_id for _, hit in hits]
        own_tags = queries.tags_of(conn, ids)
        index_tags = queries.parent_tags(conn, ids)
    hits.sort(key=lambda pair: (list(MATCH_LABELS).index(pair[0]), pair[1].repository,
                                pair[1].manifest, pair[1].matched_digest))  # fmt: skip
    digests = tuple(
        DigestResult(
            repository=hit.repository,
            manifest=hit.manifest,
            media_type=hit.media_type,
            match=MATCH_LABELS[match],
            matched_digest=hit.matched_digest,
            tags=tuple(own_tags.get(hit.manifest_id, ())[:MAX_TAGS_SHOWN]),
            index_tags=tuple(index_tags.get(hit.manifest_id, ())[:MAX_TAGS_SHOWN]),
            more_tags=_beyond(own_tags.get(hit.manifest_id, ()))
            + _beyond(index_tags.get(hit.manifest_id, ())),
        )
        for match, hit in hits
    )
    return SearchResult(
        query=text,
        interpreted_as=plan.interpreted_as,
        repositories=tuple(names[:limit]),
        tags=tuple(TagResult(t.repository, t.tag, t.digest) for t in tags),
        digests=digests,
        truncated=truncated,
    )
