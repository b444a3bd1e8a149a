"""The blob store the settings name, for the server (app.py) and the CLI's local mode alike:
both must act on the same bytes, or a local `dockyard gc` would sweep rows whose bytes it
cannot see."""

from __future__ import annotations

from pydantic import SecretStr

from dockyard.config import Settings
from dockyard.storage.base import BlobStore
from dockyard.storage.filesystem import FilesystemBlobStore

__all__ = ["configured_store"]


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def configured_store(settings: Settings) -> BlobStore:
    if settings.storage_driver == "filesystem":
        return FilesystemBlobStore(settings.data_dir, direct_io=settings.direct_io)
    if settings.s3_bucket is None:  # Settings refuses this; narrowed for the type checker
        raise ValueError("storage_driver s3 needs s3_bucket")
    # Imported here: boto3 takes a while to import, and only this driver needs it.
    from dockyard.storage.s3 import S3BlobStore, S3Options

    return S3BlobStore(
        S3Options(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key=_secret(settings.s3_access_key),
            secret_key=_secret(settings.s3_secret_key),
            prefix=settings.s3_prefix,
            part_size=settings.s3_part_size,
            redirect=settings.s3_redirect,
            redirect_expiry_seconds=settings.s3_redirect_expiry_seconds,
            max_connections=settings.s3_max_connections,
        )
    )
