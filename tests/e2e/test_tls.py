"""HTTPS served directly: skopeo and podman log in, push and pull trusting only a test CA
(never `--tls-verify=false`), and a renewed certificate is served without a restart while
requests keep being answered."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fixtures.clients import ClientEnv
from fixtures.images import SampleImages
from fixtures.servers import DockyardServer

pytestmark = [pytest.mark.clients, pytest.mark.slow, pytest.mark.metadata_neutral]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class ScratchCa:
    """A throwaway certificate authority that issues loopback server certificates."""

    directory: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path) -> ScratchCa:
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Dockyard test CA"))
            .issuer_name(_name("Dockyard test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory, key, cert)
        ca.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ca

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def issue(self, cert_path: Path, key_path: Path) -> int:
        """A certificate for 127.0.0.1 and localhost, written atomically (key first, as a
        renewal tool might); returns its serial number."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for path, data in (
            (key_path, key_pem),
            (cert_path, cert.public_bytes(serialization.Encoding.PEM)),
        ):
            temporary = path.with_name(path.name + ".new")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        return serial


@dataclass
class TlsServer:
    server: DockyardServer
    ca: ScratchCa
    cert: Path
    key: Path
    serial: int


@pytest.fixture
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    base = tmp_path_factory.mktemp("tls")
    ca = ScratchCa.create(base / "ca")
    cert, key = base / "tls.crt", base / "tls.key"
    serial = ca.issue(cert, key)
    server = DockyardServer.create(
        base / "server",
        extra_args=["--tls-cert", str(cert), "--tls-key", str(key)],
        extra_env={
            "DOCKYARD_TLS_RELOAD_CHECK_SECONDS": "1",
            "DOCKYARD_RELOAD_OVERLAP_SECONDS": "3",
        },
    )
    server.ca_file = ca.ca_file
    server.start()
    try:
        yield TlsServer(server, ca, cert, key, serial)
    finally:
        server.stop()


def _strict_client_env(root: Path, server: DockyardServer, ca: ScratchCa) -> tuple[ClientEnv, Path]:
    """A client home that verifies TLS (no `insecure` registry), and a cert dir with the CA."""
    env = ClientEnv(root, server)
    env.registries_conf.write_text("unqualified-search-registries = []\n")
    cert_dir = root / "certs"
    cert_dir.mkdir()
    shutil.copy(ca.ca_file, cert_dir / "ca.crt")  # containers/image: *.crt are CAs
    return env, cert_dir


def test_skopeo_and_podman_push_and_pull_over_verified_https(
    tls_server: TlsServer, sample_images: SampleImages, tmp_path: Path
) -> None:
    server = tls_server.server
    # the token realm clients are sent to is https too (derived from the request)
    challenge = httpx.get(f"{server.url}/v2/", verify=ssl.create_default_context(
        cafile=str(tls_server.ca.ca_file))).headers["www-authenticate"]  # fmt: skip
    assert challenge.startswith(f'Bearer realm="https://{server.hostport}/auth/token"')

    env, cert_dir = _strict_client_env(tmp_path / "client", server, tls_server.ca)
    with env:
        # without the CA, the certificate is refused: verification is really on
        unknown = env.run_fails(
            "skopeo", "login", "-u", server.username, "-p", server.password, server.hostport
        )
        assert "certificate" in unknown.stderr

        env.run(
            "skopeo", "login", "--cert-dir", str(cert_dir), "-u", server.username,
            "--password-stdin", server.hostport, stdin=server.password,
        )  # fmt: skip
        ref = f"docker://{server.hostport}/tls/hello:v1"
        env.run("skopeo", "copy", "--dest-cert-dir", str(cert_dir),
                sample_images.layout.ref("v1"), ref)  # fmt: skip
        out = tmp_path / "pulled"
        env.run("skopeo", "copy", "--src-cert-dir", str(cert_dir), ref, f"oci:{out}:v1")
        assert (out / "index.json").is_file()

        env.podman("login", "--cert-dir", str(cert_dir), "-u", server.username,
                   "-p", server.password, server.hostport)  # fmt: skip
        source = f"{server.hostport}/tls/hello:v1"
        env.podman("pull", "--cert-dir", str(cert_dir), source)
        target = f"{server.hostport}/tls/by-podman:v1"
        env.podman("tag", source, target)
        env.podman("push", "--cert-dir", str(cert_dir), target)
        env.podman("rmi", target, source)
        env.podman("pull", "--cert-dir", str(cert_dir), target)
        config = env.podman("image", "inspect", "--format", "{{.Id}}", target).stdout.strip()
        assert f"sha256:{config}" == sample_images.hello.config.digest


def _served_serial(server: DockyardServer, ca_file: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection((server.host, server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server.host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


class _Load:
    """A few clients sending requests in a loop, half on kept-alive connections, half on a
    new connection each time; every request that fails after one retry is kept."""

    def __init__(self, url: str, ca_file: Path, clients: int = 4, pause: float = 0.05) -> None:
        self._url, self._pause = url, pause
        self._context = ssl.create_default_context(cafile=str(ca_file))
        self._stop = threading.Event()
        self.answered: Counter[int] = Counter()
        self.failures: list[str] = []
        self.retried = 0
        self._threads = [
            threading.Thread(target=self._run, args=(i % 2 == 0,), daemon=True)
            for i in range(clients)
        ]

    def _once(self, client: httpx.Client) -> None:
        # Container clients retry an idempotent request whose connection broke before an
        # answer (a connection the old worker accepted in its last instant); so does this
        # load, once. A request that fails twice is a failure.
        for attempt in range(2):
            try:
                self.answered[client.get(f"{self._url}/v2/").status_code] += 1
                return
            except httpx.TransportError as err:
                if attempt:
                    self.failures.append(f"{type(err).__name__}: {err}")
                else:
                    self.retried += 1

    def _run(self, keep_alive: bool) -> None:
        kept = httpx.Client(verify=self._context, timeout=10)
        try:
            while not self._stop.wait(self._pause):
                if keep_alive:
                    self._once(kept)
                else:
                    with httpx.Client(verify=self._context, timeout=10) as fresh:
                        self._once(fresh)
        finally:
            kept.close()

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(0.2)


def test_renewed_certificate_is_served_without_lost_requests(tls_server: TlsServer) -> None:
    server, ca = tls_server.server, tls_server.ca
    assert _served_serial(server, ca.ca_file) == tls_server.serial
    log = server.log_path
    assert log is not None
    with _Load(server.url, ca.ca_file) as load:
        time.sleep(1)
        renewed = ca.issue(tls_server.cert, tls_server.key)
        assert renewed != tls_server.serial
        _wait_for(lambda: _served_serial(server, ca.ca_file) == renewed, 60,
                  "new TLS connections to see the renewed certificate")  # fmt: skip
        # the old worker stops after the overlap: keep the load on until it has stopped
        _wait_for(lambda: "Stopped old worker" in log.read_text(), 60, "the old worker to stop")
        time.sleep(1)
    assert server.running, "the server stopped during the reload"
    assert load.failures == [], f"requests failed during the reload: {load.failures}"
    assert load.answered[401] > 50, load.answered  # the load really ran through the swap
    assert _served_serial(server, ca.ca_file) == renewed


def test_half_written_renewal_keeps_the_old_certificate(tls_server: TlsServer) -> None:
    server, ca = tls_server.server, tls_server.ca
    other_key = tls_server.key.with_name("other.key")
    ca.issue(tls_server.key.with_name("other.crt"), other_key)
    os.replace(other_key, tls_server.key)  # a key that does not match the certificate
    log = server.log_path
    assert log is not None
    _wait_for(lambda: "renewed TLS files not used" in log.read_text(), 30,
              "the mismatched pair to be refused")  # fmt: skip
    assert _served_serial(server, ca.ca_file) == tls_server.serial
    assert server.running


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing", "does not exist"),
        ("mismatch", "does not belong to the certificate"),
        ("not-pem", "holds no PEM certificate"),
        ("cert-only", "tls_cert and tls_key go together"),
    ],
)
def test_unusable_certificate_is_a_clear_error(tmp_path: Path, problem: str, message: str) -> None:
    ca = ScratchCa.create(tmp_path / "ca")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    ca.issue(cert, key)
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    if problem == "missing":
        key.unlink()
    elif problem == "mismatch":
        ca.issue(tmp_path / "other.crt", key)
    elif problem == "not-pem":
        cert.write_text("not a certificate\n")
    else:
        args = args[:2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard", "serve", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
