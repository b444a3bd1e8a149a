"""HTTPS served by Granian, and certificate renewal without a restart.

Granian (2.8) hands the certificate and key *paths* to each worker, which loads them once
when it starts; nothing reloads them in a running worker. What it does have is a graceful
respawn on SIGHUP: the main process starts a new worker, lets both serve for a few seconds,
then stops the old one, which finishes its in-flight requests. So a renewal is picked up by:

1. `CertificateReloader`, a thread in Granian's main process, reads the two files every
   `tls_reload_check_seconds` and compares their contents (not mtimes: `cp -p` and
   Kubernetes' symlink swaps keep those);
2. a changed pair is copied into a snapshot directory under the data directory and checked
   there (key matches certificate). A half-written renewal (new certificate, old key) fails
   the check and is retried at the next tick, while the old certificate keeps being served;
3. the reloader points Granian at the snapshot and sends SIGHUP to its own process.

Workers load a snapshot, never the renewed files themselves: the files can change again
between the check and the worker reading them, and Granian resolves symlinks once when
built (a Kubernetes secret volume's `..data` target is deleted after the next update).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

__all__ = ["CertificateReloader", "Snapshot", "TlsError", "TlsSnapshots", "describe"]

_log = logging.getLogger("dockyard.tls")
_KEEP_SNAPSHOTS = 2  # the one served and the one before it


class TlsError(Exception):
    """A certificate or key that cannot be served; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A checked certificate/key pair copied under the data directory; never modified."""

    cert: Path
    key: Path
    fingerprint: str  # of the source files' contents
    description: str


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsError(f"TLS {what} {path} does not exist") from None
    except IsADirectoryError:
        raise TlsError(f"TLS {what} {path} is a directory, not a file") from None
    except PermissionError:
        raise TlsError(f"TLS {what} {path} is not readable by this user") from None
    except OSError as err:
        raise TlsError(f"TLS {what} {path} cannot be read: {err.strerror}") from None


def _fingerprint(cert: bytes, key: bytes) -> str:
    return hashlib.sha256(hashlib.sha256(cert).digest() + hashlib.sha256(key).digest()).hexdigest()


def describe(cert_pem: bytes, source: Path) -> str:
    """Subject, serial and expiry of the first certificate in `cert_pem`, for the log."""
    try:
        first = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise TlsError(f"TLS certificate {source} holds no PEM certificate") from None
    expires = first.not_valid_after_utc
    return (
        f"{first.subject.rfc4514_string()} serial {first.serial_number:x} "
        f"expires {expires:%Y-%m-%d %H:%M} UTC"
    )


def _check_key(key_pem: bytes, source: Path) -> None:
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        raise TlsError(
            f"TLS key {source} is encrypted; give Dockyard an unencrypted key file "
            "(readable only by its user)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsError(f"TLS key {source} holds no PEM private key") from None


def _check(cert_file: Path, key_file: Path, sources: tuple[Path, Path]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as err:
        if "KEY_VALUES_MISMATCH" in str(err) or "key values mismatch" in str(err):
            raise TlsError(
                f"TLS key {sources[1]} does not belong to the certificate in {sources[0]}"
            ) from None
        raise TlsError(
            f"TLS certificate {sources[0]} and key {sources[1]} cannot be used together: "
            f"{err.reason or err}"
        ) from None


class TlsSnapshots:
    """Checked copies of `cert`/`key` in `directory` (0700; files 0600)."""

    def __init__(self, cert: Path, key: Path, directory: Path) -> None:
        self.cert = cert
        self.key = key
        self.directory = directory

    def source_fingerprint(self) -> str:
        return _fingerprint(_read(self.cert, "certificate"), _read(self.key, "key"))

    def take(self) -> Snapshot:
        """Copy and check the current pair; TlsError (and no snapshot) when it is unusable."""
        cert_pem = _read(self.cert, "certificate")
        key_pem = _read(self.key, "key")
        description = describe(cert_pem, self.cert)
        _check_key(key_pem, self.key)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.directory / f"{time.time_ns()}"
        target.mkdir(mode=0o700)
        try:
            for name, data in (("cert.pem", cert_pem), ("key.pem", key_pem)):
                fd = os.open(target / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            _check(target / "cert.pem", target / "key.pem", (self.cert, self.key))
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return Snapshot(
            target / "cert.pem", target / "key.pem", _fingerprint(cert_pem, key_pem), description
        )

    def prune(self, current: Snapshot) -> None:
        """Remove all snapshots but the newest few (workers read theirs only at start)."""
        names = sorted((p for p in self.directory.iterdir() if p.name.isdigit()),
                       key=lambda p: int(p.name))  # fmt: skip
        keep = {p.name for p in names[-_KEEP_SNAPSHOTS:]} | {current.cert.parent.name}
        for path in names:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


class CertificateReloader:
    """Watches the pair from Granian's main process and replaces the workers on a change.

    The function given to `bind` points the server at a snapshot (Granian's
    `build_ssl_context`); `on_reload` calls it from Granian's reload hook, in the main thread,
    just before the respawn, so a manual `kill -HUP` also picks up renewed files.
    """

    def __init__(self, snapshots: TlsSnapshots, current: Snapshot, interval_seconds: float) -> None:
        self._snapshots = snapshots
        self._current = current
        self._apply: Callable[[Snapshot], None] | None = None
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._refused: str | None = None  # fingerprint last refused, logged once
        self._pending: Snapshot | None = None  # checked, waiting for the reload hook

    @property
    def current(self) -> Snapshot:
        return self._current

    def bind(self, apply: Callable[[Snapshot], None]) -> None:
        self._apply = apply

    def start(self) -> None:
        if self._interval > 0:
            threading.Thread(target=self._watch, name="dockyard-tls-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()

    def _changed(self) -> bool:
        try:
            fingerprint = self._snapshots.source_fingerprint()
        except TlsError as err:
            self._refuse("unreadable", str(err))
            return False
        return fingerprint != self._current.fingerprint and fingerprint != self._refused

    def _refuse(self, fingerprint: str, reason: str) -> None:
        if fingerprint != self._refused:
            _log.warning("renewed TLS files not used; still serving the previous certificate",
                         extra={"fields": {"reason": reason}})  # fmt: skip
        self._refused = fingerprint

    def _watch(self) -> None:
        while not self._stopping.wait(self._interval):
            if self._changed():
                with self._lock:
                    ready = self._renew()
                if ready:  # Granian's handler: graceful respawn of every worker
                    os.kill(os.getpid(), signal.SIGHUP)

    def _renew(self) -> bool:
        try:
            fingerprint = self._snapshots.source_fingerprint()
            if fingerprint == self._current.fingerprint:
                return False
            snapshot = self._snapshots.take()
        except TlsError as err:
            with contextlib.suppress(TlsError):
                fingerprint = self._snapshots.source_fingerprint()
                self._refuse(fingerprint, str(err))
            return False
        self._pending = snapshot
        self._refused = None
        return True

    def on_reload(self) -> None:
        """Granian's reload hook: use the newest good pair for the workers about to start."""
        with self._lock:
            pending = self._pending
            if pending is None and self._renew():
                pending = self._pending
            self._pending = None
        if pending is None or self._apply is None:
            return
        self._apply(pending)
        previous, self._current = self._current, pending
        self._snapshots.prune(pending)
        _log.info("TLS certificate renewed; replacing workers gracefully",
                  extra={"fields": {"certificate": pending.description,
                                    "previous": previous.description}})  # fmt: skip
