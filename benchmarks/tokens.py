"""Bearer tokens for the reference registries, minted up front.

CNCF distribution checks Docker token-auth JWTs against a root certificate bundle; the realm is
only where a client would be sent to get one. The harness is its own token service: it signs a
JWT with a throwaway key whose self-signed certificate is the registry's whole bundle, carried
in the token's `x5c` header. So peers and Dockyard are measured with the same kind of token.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["TokenIssuer"]


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    """A signing key, its certificate (PEM, for the registry's `rootcertbundle`) and names."""

    key_pem: bytes
    cert_pem: bytes
    cert_der_b64: str
    issuer: str = "dockyard-bench"
    service: str = "dockyard-bench"

    @classmethod
    def create(cls) -> TokenIssuer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard-bench token signer")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            cert_der_b64=base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        )

    def write_bundle(self, path: Path) -> Path:
        path.write_bytes(self.cert_pem)
        return path

    def token(self, subject: str, access: list[tuple[str, list[str]]], ttl: int = 3600) -> str:
        """A token granting, for each (repository, actions), those actions; valid `ttl` s."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": now,
            "nbf": now - 60,
            "exp": now + ttl,
            "jti": secrets.token_hex(12),
            "access": [
                {"type": "repository", "name": name, "actions": actions} for name, actions in access
            ],
        }
        return jwt.encode(
            claims, self.key_pem, algorithm="RS256", headers={"x5c": [self.cert_der_b64]}
        )
