"""Blob storage: the BlobStore interface and its drivers."""

from dockyard.storage.base import BlobStore, StorageError
from dockyard.storage.filesystem import FilesystemBlobStore

__all__ = ["BlobStore", "FilesystemBlobStore", "StorageError"]
