"""Dockyard's settings: one typed object, read from defaults, a YAML file and `DOCKYARD_*` env."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "SETTINGS_ENV",
    "DirectoryConfig",
    "EnvironmentConfig",
    "GateConfig",
    "GcSettings",
    "PullThroughConfig",
    "Settings",
    "WebhookSettings",
    "load_settings",
]

SETTINGS_ENV = "DOCKYARD_RESOLVED_SETTINGS"  # how `dockyard serve` hands settings to workers


class DirectoryConfig(BaseModel):
    """One LDAP / Active Directory server people sign in with (README has full examples)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,62}$",
        description="Short name; qualifies its users and groups (`hackershop\\jane`).",
    )
    url: str = Field(pattern=r"^ldaps?://", description="ldap://host:389 or ldaps://host:636.")
    start_tls: bool = Field(False, description="Upgrade an ldap:// connection with StartTLS.")
    ca_file: Path | None = Field(
        None, description="CA bundle (PEM) for LDAPS/StartTLS; default: the system's."
    )
    bind_dn: str | None = Field(None, description="Service account that searches for users.")
    bind_password: SecretStr | None = Field(None, description="Its password (prefer the file).")
    bind_password_file: Path | None = Field(None, description="File holding that password.")
    user_base: str = Field(description="Where users are searched.")
    user_filter: str = Field(
        "(uid={username})",
        description="Finds one user; `{username}` is escaped. AD: (sAMAccountName={username}).",
    )
    username_attribute: str = Field("uid", description="AD: sAMAccountName.")
    id_attribute: str = Field(
        "entryUUID", description="Stable id the account is linked on. AD: objectGUID."
    )
    display_name_attribute: str = Field("cn", description="Shown in lists.")
    group_base: str | None = Field(None, description="Where groups are searched.")
    group_filter: str = Field(
        "(member={user_dn})",
        description="A user's groups; `{user_dn}` and `{username}` are escaped.",
    )
    group_name_attribute: str = Field("cn", description="A group's name.")
    member_of_attribute: str | None = Field(
        None,
        description="Read groups from this attribute of the user (memberOf) instead of "
        "searching group_base.",
    )
    nested_groups: bool = Field(
        False,
        description="Active Directory: include nested groups through the in-chain matching "
        "rule (LDAP_MATCHING_RULE_IN_CHAIN).",
    )
    timeout_seconds: float = Field(5, gt=0, description="Connect and response timeout.")

    @model_validator(mode="after")
    def _one_password_source(self) -> DirectoryConfig:
        if self.bind_password is not None and self.bind_password_file is not None:
            raise ValueError("set bind_password or bind_password_file, not both")
        if self.start_tls and self.url.startswith("ldaps://"):
            raise ValueError("start_tls applies to ldap:// URLs; ldaps:// is TLS already")
        return self

    def service_password(self) -> str | None:
        if self.bind_password_file is not None:
            return self.bind_password_file.read_text().strip()
        return self.bind_password.get_secret_value() if self.bind_password else None


class GateConfig(BaseModel):
    """What an image must have before it may be promoted into an environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: list[str] = Field(
        default_factory=list,
        description="Each `key` or `key=value` must be a label of the image's config (of "
        "every platform of an index) or an annotation of its manifest.",
    )
    referrer_types: list[str] = Field(
        default_factory=list,
        description="Artifact types the image must have a referrer of (a signature, an SBOM: "
        "e.g. application/vnd.dev.cosign.artifact.sig.v1+json).",
    )
    min_hours_in_previous: float = Field(
        0, ge=0, description="Hours the image must have been in the environment before."
    )
    approval_group: str | None = Field(
        None, description="A member of this group must approve the image for the environment."
    )


class EnvironmentConfig(BaseModel):
    """One stage of the release flow: a namespace, and the gates into it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$",
        description="The namespace of the environment (`dev`, `test`, `prod`).",
    )
    gates: GateConfig = Field(default_factory=GateConfig)


class PullThroughConfig(BaseModel):
    """A namespace that caches other registries: `<namespace>/<path>` is their `<path>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = Field(
        pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", description="The caching namespace."
    )
    upstreams: list[str] = Field(
        min_length=1,
        description="Saved upstream registries (`dockyard upstream add`), tried in order.",
    )
    tag_check_seconds: int = Field(
        60, ge=0, description="A cached tag is checked against the upstream this often."
    )


def _default_environments() -> list[EnvironmentConfig]:
    return [EnvironmentConfig(name=name) for name in ("dev", "test", "prod")]


@dataclass(frozen=True, slots=True)
class GcSettings:
    """What garbage collection is told (Settings' `gc_*` fields, `upload_expiry_hours`)."""

    grace_seconds: int = 86_400
    in_flight_seconds: int = 3_600
    untagged: bool = True
    interval_seconds: int = 3_600
    upload_expiry_seconds: int = 72 * 3600


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How webhooks are sent and retried (Settings' `webhook_*` fields)."""

    timeout_seconds: float = 10.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3_600.0
    max_attempts: int = 20
    max_age_seconds: int = 86_400
    poll_seconds: float = 1.0
    keep_days: int = 14
    allowed_networks: tuple[str, ...] = ()


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
    storage_driver: Literal["filesystem", "s3"] = Field(
        "filesystem",
        description="Where blob bytes live: `filesystem` (under the data directory) or `s3` "
        "(a bucket of any S3-compatible service, shared by every replica; the `s3_*` settings).",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint, e.g. http://seaweedfs:8333; default: AWS's for the region."
    )
    s3_bucket: str | None = Field(None, description="Bucket holding the blobs (must exist).")
    s3_region: str | None = Field(None, description="Region of the bucket; default us-east-1.")
    s3_access_key: SecretStr | None = Field(
        None,
        description="Access key id; unset: boto3's credential chain (AWS_ACCESS_KEY_ID, "
        "AWS_PROFILE, ~/.aws/credentials, an instance or pod role).",
    )
    s3_secret_key: SecretStr | None = Field(None, description="Secret key of the access key.")
    s3_prefix: str = Field(
        "", description="Key prefix inside the bucket, to share one bucket between registries."
    )
    s3_part_size: int = Field(
        16 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        le=5 * 1024 * 1024 * 1024,
        description="Upload segment and multipart part size in bytes (S3: at least 5 MiB). "
        "Blobs up to this size are stored with one PUT; larger ones as a multipart upload. "
        "Each upload being written holds up to this much in memory.",
    )
    s3_redirect: bool = Field(
        False,
        description="Answer blob GETs with a redirect to a short-lived presigned URL of the "
        "bucket, so clients fetch the bytes from S3 directly (they must be able to reach the "
        "endpoint); off: Dockyard streams the bytes.",
    )
    s3_redirect_expiry_seconds: int = Field(
        300, ge=1, le=604_800, description="Lifetime of a presigned blob URL."
    )
    s3_max_connections: int = Field(
        40,
        ge=1,
        description="Connections kept to S3 per worker: one per thread of the worker's thread "
        "pool (40 by default), which is where storage calls run.",
    )
    body_idle_timeout_seconds: float = Field(
        60, gt=0, description="A request body that sends nothing for this long is abandoned."
    )
    upload_expiry_hours: int = Field(72, ge=1, description="Abandoned upload sessions expire.")
    undo_seconds: int = Field(
        600,
        ge=0,
        description="How long a tag or manifest delete made in the console or the admin API "
        "may be undone by whoever made it (0: never).",
    )
    gc_grace_seconds: int = Field(
        86_400,
        ge=0,
        description="Garbage collection removes what became unreachable (an untagged "
        "manifest, a blob no manifest uses) only this long after it did.",
    )
    gc_in_flight_seconds: int = Field(
        3_600,
        ge=0,
        description="Whatever the grace, content a client touched this recently (a blob "
        "uploaded, mounted or HEADed, a manifest pushed or fetched by digest) is never "
        "collected: a push in flight may still reference it.",
    )
    gc_untagged: bool = Field(
        True,
        description="Collect manifests no tag, kept index or kept subject reaches; off: only "
        "blobs of deleted manifests are collected.",
    )
    gc_interval_minutes: int = Field(
        60,
        ge=0,
        description="Run garbage collection (and expire abandoned uploads) this often in "
        "the server; 0: only on demand (`dockyard gc`, the console, the API).",
    )
    retention_interval_minutes: int = Field(
        1_440,
        ge=0,
        description="Run the enabled retention policies this often in the server; 0: only "
        "on demand (`dockyard retention apply`, the console, the API).",
    )
    retention_restore_days: int = Field(
        14,
        ge=0,
        description="Tags removed by a retention policy may be restored (and garbage "
        "collection keeps their images) for this long.",
    )
    environments: list[EnvironmentConfig] = Field(
        default_factory=_default_environments,
        description="The release flow, in order: each a namespace images are promoted into "
        "from the one before (`dockyard promote`), with its gates.",
    )
    pull_through: list[PullThroughConfig] = Field(
        default_factory=list,
        description="Namespaces that are pull-through caches of upstream registries.",
    )
    pull_through_timeout_seconds: float = Field(
        10, gt=0, description="Bound on each call to an upstream of a pull-through cache."
    )
    directories: list[DirectoryConfig] = Field(
        default_factory=list,
        description="LDAP / Active Directory servers, tried in order after local users.",
    )
    namespace_creation: Literal["everyone", "admins"] = Field(
        "everyone",
        description="Who may create namespaces: every signed-in user (who becomes its "
        "admin) or registry admins only.",
    )
    directory_login_cache_seconds: int = Field(
        120,
        ge=0,
        description="How long a verified directory sign-in is reused before binding again "
        "(a local password change or a disabled account still ends it at once).",
    )
    login_failure_limit: int = Field(
        10, ge=1, description="Failed sign-ins per user and address before backing off."
    )
    login_backoff_seconds: int = Field(
        60, ge=1, description="First back-off after the limit; doubles up to 1 hour."
    )
    console_idle_minutes: int = Field(
        30,
        ge=1,
        description="A console session unused for this long ends (it ends after 12 hours "
        "in any case).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or networks, e.g. 10.0.0.0/8) whose "
        "X-Forwarded-For names the real client, for sign-in backoff and the audit log.",
    )
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate chain (server certificate first) to serve HTTPS with; "
        "needs tls_key. Renewed files are picked up without a restart.",
    )
    tls_key: Path | None = Field(
        None, description="PEM private key of tls_cert (unencrypted, readable only by us)."
    )
    tls_reload_check_seconds: float = Field(
        10,
        ge=0,
        description="How often the certificate files are checked for a renewal; a change "
        "gracefully replaces the workers (0: only on SIGHUP).",
    )
    reload_overlap_seconds: float = Field(
        10,
        gt=0,
        description="During a graceful reload (a renewed certificate, SIGHUP) each new worker "
        "serves alongside the old one this long before the old one stops accepting and "
        "finishes its requests: keep it above the time a worker takes to start under load.",
    )
    stop_timeout_seconds: int = Field(
        25,
        ge=1,
        description="On a stop or a graceful reload, a worker still finishing requests this "
        "long after it was asked to stop is killed (its clients retry): keep it below the "
        "grace period of whatever stops the server (Kubernetes: 30 s).",
    )
    read_only: bool = Field(
        False,
        description="Start in read-only maintenance mode: pulls work, pushes and deletes are "
        "refused. `dockyard maintenance on|off` switches it at run time for every worker.",
    )
    webhook_timeout_seconds: float = Field(
        10, gt=0, le=120,
        description="A webhook request must connect and be answered within this long.",
    )  # fmt: skip
    webhook_retry_base_seconds: float = Field(
        5, gt=0,
        description="A failed webhook delivery is retried after this long, then twice as "
        "long after each further failure (up to webhook_retry_max_seconds), with jitter.",
    )  # fmt: skip
    webhook_retry_max_seconds: float = Field(
        3_600, gt=0, description="The longest wait between two attempts of a delivery."
    )
    webhook_max_attempts: int = Field(
        20, ge=1, description="A delivery is marked failed after this many attempts."
    )
    webhook_max_age_seconds: int = Field(
        86_400, ge=1,
        description="A delivery still failing this long after its event is marked failed "
        "(a redelivery from the console or the CLI starts this window again).",
    )  # fmt: skip
    webhook_poll_seconds: float = Field(
        1.0, gt=0,
        description="How often each worker looks for due webhook deliveries (one indexed "
        "read; every worker of every replica sends, each delivery claimed by one).",
    )  # fmt: skip
    webhook_keep_days: int = Field(
        14, ge=1,
        description="Delivered and failed webhook deliveries stay in the delivery log this "
        "long.",
    )  # fmt: skip
    webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Networks (e.g. 10.20.0.0/16) webhooks may be sent to although they are "
        "private or local; every other private, loopback and link-local address is refused.",
    )
    secrets_key_file: Path | None = Field(
        None,
        description="File holding the key that encrypts stored credentials (upstream "
        "registry passwords); default <data_dir>/secrets.key, created 0600 with a fresh key "
        "at first use. Keep it out of database backups' reach and back it up separately.",
    )
    secrets_key: SecretStr | None = Field(
        None,
        description="The secrets key itself (a Fernet key, urlsafe base64 of 32 bytes), for "
        "replicas that share one key through a Kubernetes Secret; wins over secrets_key_file.",
    )
    upstream_timeout_seconds: float = Field(
        30, gt=0, le=600,
        description="Each request to an upstream registry (imports) must connect and answer "
        "within this long; a blob's body must keep arriving at least this often.",
    )  # fmt: skip
    sync_poll_seconds: float = Field(
        60, gt=0,
        description="How often each worker looks for scheduled syncs that are due (one "
        "indexed read; a due sync is claimed by one worker of one replica).",
    )  # fmt: skip
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    access_log: bool = Field(True, description="Log one structured line per request.")

    @model_validator(mode="after")
    def _environments_distinct(self) -> Settings:
        names = [environment.name for environment in self.environments]
        if len(set(names)) != len(names):
            raise ValueError("environments: each name once")
        caches = [cache.namespace for cache in self.pull_through]
        if len(set(caches)) != len(caches):
            raise ValueError("pull_through: each namespace once")
        if set(caches) & set(names):
            raise ValueError("pull_through: an environment's namespace cannot be a cache")
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        return self

    @model_validator(mode="after")
    def _webhook_networks(self) -> Settings:
        for cidr in self.webhook_allowed_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"webhook_allowed_networks: {exc}") from None
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @model_validator(mode="after")
    def _storage_complete(self) -> Settings:
        if self.storage_driver == "s3" and not self.s3_bucket:
            raise ValueError("storage_driver s3 needs s3_bucket")
        if (self.s3_access_key is None) != (self.s3_secret_key is None):
            raise ValueError("set both s3_access_key and s3_secret_key, or neither")
        return self

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

    def handoff_json(self) -> str:
        """These settings for `SETTINGS_ENV`: what workers need, secrets included except the
        initial admin password (env is readable only by our own user's processes)."""
        data = self.model_dump(mode="json", exclude={"admin_password"})
        for name in ("s3_access_key", "s3_secret_key", "secrets_key"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None:
                data[name] = secret.get_secret_value()
        for dumped, directory in zip(data["directories"], self.directories, strict=True):
            if directory.bind_password is not None:
                dumped["bind_password"] = directory.bind_password.get_secret_value()
        return json.dumps(data)

    @property
    def gc(self) -> GcSettings:
        return GcSettings(
            grace_seconds=self.gc_grace_seconds,
            in_flight_seconds=self.gc_in_flight_seconds,
            untagged=self.gc_untagged,
            interval_seconds=self.gc_interval_minutes * 60,
            upload_expiry_seconds=self.upload_expiry_hours * 3600,
        )

    @property
    def webhooks(self) -> WebhookSettings:
        return WebhookSettings(
            timeout_seconds=self.webhook_timeout_seconds,
            retry_base_seconds=self.webhook_retry_base_seconds,
            retry_max_seconds=self.webhook_retry_max_seconds,
            max_attempts=self.webhook_max_attempts,
            max_age_seconds=self.webhook_max_age_seconds,
            poll_seconds=self.webhook_poll_seconds,
            keep_days=self.webhook_keep_days,
            allowed_networks=tuple(self.webhook_allowed_networks),
        )

    @property
    def secrets_key_path(self) -> Path:
        return self.secrets_key_file or self.data_dir / "secrets.key"

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
