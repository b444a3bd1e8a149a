"""The content the GC benchmark seeds into every registry: the same bytes, built the same way
from a seed, so each registry holds identical repositories, images and blobs.

Repository `gc<i % 10>/r<i>` holds three images, tags `v0`, `v1`, `v2`. Each image has its
own config and two layers of its own, a layer shared by the repository's three images (its
"base") and one of 100 layers shared across the registry (a distro base, in about 1% of all
images). That is 10 blobs per repository plus the 100 shared ones. Deleting `v0` in every
repository, and `v1` too in every tenth, leaves 3.3 blobs per repository unreferenced: a
third of all blobs (the shared and base layers stay in use).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "BLOBS_PER_REPOSITORY",
    "SHARED_LAYERS",
    "Blob",
    "Image",
    "Repo",
    "repo_name",
    "repositories",
    "shared_layers",
    "totals",
]

SHARED_LAYERS = 100
BLOBS_PER_REPOSITORY = 10
TAGS = ("v0", "v1", "v2")
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
_NAMESPACES = 10


@dataclass(frozen=True, slots=True)
class Blob:
    digest: str
    data: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class Image:
    tag: str
    config: Blob
    layers: tuple[Blob, ...]
    manifest: bytes
    digest: str
    diff_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Repo:
    index: int
    name: str
    images: tuple[Image, ...]
    deleted: tuple[int, ...]  # which images the benchmark deletes

    @property
    def blobs(self) -> dict[str, Blob]:
        """Every blob the repository's images use, once each."""
        found: dict[str, Blob] = {}
        for image in self.images:
            for blob in (image.config, *image.layers):
                found.setdefault(blob.digest, blob)
        return found

    @property
    def kept(self) -> set[str]:
        """Digests of the blobs the images that stay use."""
        return {
            blob.digest
            for k, image in enumerate(self.images)
            if k not in self.deleted
            for blob in (image.config, *image.layers)
        }


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(key: str) -> Blob:
    rng = random.Random(key)  # a str seed is hashed with SHA-512: stable across runs
    data = rng.randbytes(512 + rng.randrange(3584))
    return Blob(_sha256(data), data, LAYER_TYPE)


@lru_cache(maxsize=SHARED_LAYERS)
def _shared(n: int) -> Blob:
    return _layer(f"shared-{n}")


def shared_layers() -> list[Blob]:
    return [_shared(n) for n in range(SHARED_LAYERS)]


def repo_name(i: int) -> str:
    return f"gc{i % _NAMESPACES}/r{i:05d}"


def _image(i: int, k: int, base: Blob) -> Image:
    own = (_layer(f"layer-{i}-{k}-0"), _layer(f"layer-{i}-{k}-1"))
    layers = (_shared((3 * i + k) % SHARED_LAYERS), base, *own)
    diff_ids = tuple(_sha256(b"diff:" + layer.digest.encode()) for layer in layers)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"bench.image": f"{i}-{k}"}},
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        },
        separators=(",", ":"),
    ).encode()
    config_blob = Blob(_sha256(config), config, CONFIG_TYPE)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": CONFIG_TYPE,
                "digest": config_blob.digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": LAYER_TYPE, "digest": b.digest, "size": len(b.data)} for b in layers
            ],
        },
        separators=(",", ":"),
    ).encode()
    return Image(TAGS[k], config_blob, layers, manifest, _sha256(manifest), diff_ids)


def repositories(count: int) -> Iterator[Repo]:
    for i in range(count):
        base = _layer(f"base-{i}")
        images = tuple(_image(i, k, base) for k in range(len(TAGS)))
        deleted = (0, 1) if i % 10 == 0 else (0,)
        yield Repo(i, repo_name(i), images, deleted)


@dataclass(frozen=True, slots=True)
class Totals:
    repositories: int
    images: int
    blobs: int
    garbage_blobs: int
    deleted_images: int


def totals(count: int) -> Totals:
    """The counts `repositories(count)` makes, without building it."""
    deleted = count + (count + 9) // 10
    return Totals(
        repositories=count,
        images=len(TAGS) * count,
        blobs=BLOBS_PER_REPOSITORY * count + min(SHARED_LAYERS, 3 * count),
        garbage_blobs=3 * deleted,
        deleted_images=deleted,
    )
