"""Credentials encrypted at rest: upstream passwords are stored as Fernet tokens (AES-128-CBC
plus HMAC-SHA256, from `cryptography`) made with the secrets key, which is never in the
database. A database dump or backup alone therefore does not reveal them.

The key comes from the `secrets_key` setting (replicas sharing one key through a Kubernetes
Secret) or else from `secrets_key_file` (default `<data_dir>/secrets.key`), created 0600
with a fresh key at first use. Several workers creating it at once agree on one key: each
writes its own temporary file and links it into place, and the link only one of them wins.
A token made with another key is reported plainly (`SecretsKeyChanged`), never a crash.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from dockyard.config import Settings

__all__ = ["SecretBox", "SecretsKeyChanged", "SecretsKeyInvalid"]


class SecretsKeyInvalid(Exception):
    """The configured key (or key file) is not a Fernet key."""


class SecretsKeyChanged(Exception):
    """A stored secret was encrypted with another key than the one configured now."""


class SecretBox:
    """Encrypts and decrypts stored secrets; the key is read (or made) at first use."""

    def __init__(self, *, key: str | None = None, key_file: Path | None = None) -> None:
        if key is None and key_file is None:
            raise ValueError("give a key or a key file")
        self._key, self._key_file = key, key_file
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secrets_key is not None:
            return cls(key=settings.secrets_key.get_secret_value())
        return cls(key_file=settings.secrets_key_path)

    def _cipher(self) -> Fernet:
        with self._lock:
            if self._fernet is None:
                key = self._key if self._key is not None else _read_or_create(self._key_file)
                try:
                    self._fernet = Fernet(key.strip().encode("ascii"))
                except (ValueError, UnicodeEncodeError):
                    where = "secrets_key" if self._key is not None else str(self._key_file)
                    raise SecretsKeyInvalid(
                        f"{where} does not hold a secrets key (urlsafe base64 of 32 bytes)"
                    ) from None
            return self._fernet

    def encrypt(self, secret: str) -> str:
        return self._cipher().encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, what: str) -> str:
        """The secret; SecretsKeyChanged naming `what` when this key did not make it."""
        try:
            return self._cipher().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretsKeyChanged(
                f"cannot decrypt the credentials of {what}: the secrets key changed (set the "
                "key they were stored with, or store the credentials again)"
            ) from None


def _read_or_create(path: Path | None) -> str:
    assert path is not None  # noqa: S101 - SecretBox is given a key or a key file
    try:
        return path.read_text()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(Fernet.generate_key().decode("ascii") + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text()
