"""The admin JSON API (FastAPI): HTTP only; the work is done by auth.manage."""

from dockyard.admin_api.app import create_admin_api

__all__ = ["create_admin_api"]
