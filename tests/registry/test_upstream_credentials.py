"""The secrets box: a key file made 0600 once, shared by whoever opens it, and a changed
key reported plainly."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dockyard.registry.upstream.credentials import SecretBox, SecretsKeyChanged, SecretsKeyInvalid

pytestmark = pytest.mark.metadata_neutral


def test_the_key_file_is_made_once_0600_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secrets.key"
    first = SecretBox(key_file=path)
    token = first.encrypt("hunter2-password")
    assert "hunter2" not in token
    assert path.stat().st_mode & 0o777 == 0o600
    assert SecretBox(key_file=path).decrypt(token, "upstream x") == "hunter2-password"


def test_a_changed_key_is_a_readable_error(tmp_path: Path) -> None:
    token = SecretBox(key_file=tmp_path / "a.key").encrypt("pw")
    other = SecretBox(key=Fernet.generate_key().decode())
    with pytest.raises(SecretsKeyChanged, match="upstream hub: the secrets key changed"):
        other.decrypt(token, "upstream hub")
    with pytest.raises(SecretsKeyInvalid):
        SecretBox(key="not a key").encrypt("pw")
