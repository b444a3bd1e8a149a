"""The HTML console: server-rendered pages (Jinja2, htmx vendored). HTTP only: it asks
auth/ and registry/ services, never the database."""

from dockyard.console.app import create_console

__all__ = ["create_console"]
