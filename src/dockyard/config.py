"""Dockyard's settings: one typed object, read from defaults, a YAML file and `DOCKYARD_*` env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["SETTINGS_ENV", "Settings", "load_settings"]

SETTINGS_ENV = "DOCKYARD_RESOLVED_SETTINGS"  # how `dockyard serve` hands settings to workers


class Settings(BaseSettings):
    """Everything Dockyard can be told. Env `DOCKYARD_<FIELD>` overrides the file."""

    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(5000, description="Port to listen on.")
    workers: int = Field(1, ge=1, description="Granian worker processes.")
    data_dir: Path = Field(Path("data"), description="Blobs, uploads, keys and the SQLite file.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is SQLite in the data directory."
    )
    public_url: str | None = Field(
        None,
        description="Absolute URL clients reach the registry at (for the token realm). "
        "Default: taken from each request's scheme and Host.",
    )
    service: str = Field("dockyard", description="Token service name (the JWT audience).")
    token_issuer: str = Field("dockyard", description="Issuer claim of the tokens we sign.")
    token_ttl_seconds: int = Field(300, ge=60, description="Bearer token lifetime.")
    admin_password: SecretStr | None = Field(
        None,
        description="Password of the initial `admin` account, used only when it is created; "
        "generated and printed once when unset.",
    )
    max_manifest_bytes: int = Field(4 * 1024 * 1024, description="Largest manifest accepted.")
    max_page_size: int = Field(
        10_000,
        ge=1,
        description="Cap on `n` (and the page size when `n` is absent) for tags "
        "and catalog pages; more follow through the Link header.",
    )
    direct_io: bool = Field(
        True,
        description="Write uploads with O_DIRECT where the filesystem allows it: durable "
        "uploads are faster on disks whose page-cache writeback is slow.",
    )
    body_idle_timeout_seconds: float = Field(
        60, gt=0, description="A request body that sends nothing for this long is abandoned."
    )
    upload_expiry_hours: int = Field(72, ge=1, description="Abandoned upload sessions expire.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    access_log: bool = Field(True, description="Log one structured line per request.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments (the CLI) win over env, which wins over the file.
        return (init_settings, env_settings)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dockyard.db').resolve()}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from a YAML file (if given), then env, then `overrides` (None values ignored)."""
    from_file: dict[str, Any] = {}
    if config_file is not None:
        loaded = yaml.safe_load(config_file.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config_file}: expected a mapping of settings")
        from_file = loaded
    explicit = {k: v for k, v in overrides.items() if v is not None}
    # Env must beat the file but lose to explicit overrides: read env first, then merge.
    from_env = Settings(**explicit).model_dump(exclude_unset=True)
    merged = {**from_file, **from_env, **explicit}
    return Settings(**merged)
