"""Dockyard: a self-hosted container image registry with an admin console."""

__version__ = "0.1.0"
