"""An image config (OCI or Docker) read for people to look at: labels, the container
config, platform, history. Everything in it is untrusted text chosen by whoever built the
image, so this keeps only strings, lists of strings and string maps, drops what has any
other shape, and never fails: a config we cannot read is shown as unreadable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONFIG_TYPES",
    "MAX_CONFIG_BYTES",
    "HistoryEntry",
    "ImageConfig",
    "parse_image_config",
]

CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
MAX_CONFIG_BYTES = 8 * 1024 * 1024  # configs with long histories reach a few hundred KiB


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created_by: str | None
    created: str | None
    comment: str | None
    empty_layer: bool


@dataclass(frozen=True, slots=True)
class ImageConfig:
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    created: str | None = None
    author: str | None = None
    user: str | None = None
    working_dir: str | None = None
    stop_signal: str | None = None
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    history: tuple[HistoryEntry, ...] = ()
    diff_ids: tuple[str, ...] = ()

    @property
    def platform(self) -> str | None:
        if not self.os and not self.architecture:
            return None
        parts = [self.os or "?", self.architecture or "?"]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)

    def layer_history(self) -> list[HistoryEntry]:
        """The history entries that made layers, in layer order (entries with `empty_layer`
        made none); shorter than the layers when the history is incomplete."""
        return [entry for entry in self.history if not entry.empty_layer]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    if isinstance(value, str):  # Docker accepts a shell-form string in old configs
        return (value,)
    return None


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {key: item for key, item in value.items() if isinstance(item, str)}


def _keys(value: Any) -> tuple[str, ...]:
    return tuple(sorted(value)) if isinstance(value, dict) else ()


def _history(value: Any) -> tuple[HistoryEntry, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        HistoryEntry(
            created_by=_text(item.get("created_by")),
            created=_text(item.get("created")),
            comment=_text(item.get("comment")),
            empty_layer=item.get("empty_layer") is True,
        )
        for item in value
        if isinstance(item, dict)
    )


def parse_image_config(data: bytes) -> ImageConfig | None:
    """The config's displayable parts, or None when it is not a JSON object."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    container = doc.get("config")
    if not isinstance(container, dict):
        container = {}
    rootfs = doc.get("rootfs")
    diff_ids = _texts(rootfs.get("diff_ids")) if isinstance(rootfs, dict) else None
    return ImageConfig(
        os=_text(doc.get("os")),
        architecture=_text(doc.get("architecture")),
        variant=_text(doc.get("variant")),
        created=_text(doc.get("created")),
        author=_text(doc.get("author")),
        user=_text(container.get("User")) or None,
        working_dir=_text(container.get("WorkingDir")) or None,
        stop_signal=_text(container.get("StopSignal")) or None,
        entrypoint=_texts(container.get("Entrypoint")),
        cmd=_texts(container.get("Cmd")),
        env=_texts(container.get("Env")) or (),
        exposed_ports=_keys(container.get("ExposedPorts")),
        volumes=_keys(container.get("Volumes")),
        labels=_text_map(container.get("Labels")),
        history=_history(doc.get("history")),
        diff_ids=diff_ids or (),
    )
