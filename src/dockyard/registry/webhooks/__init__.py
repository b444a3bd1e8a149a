"""Webhooks: registry events (push, delete, promote, tag-move) sent to configured URLs in
CNCF distribution's notification envelope, signed, retried with backoff, logged.

- endpoints.py: managing endpoints and reading the delivery log (registry admins).
- routing.py: the worker's cache of enabled endpoints the outbox reads.
- dispatch.py, sender.py, targets.py, signing.py: sending after commit.
The outbox itself (rows written in the action's transaction) is metadata/outbox.py.
"""

from dockyard.registry.webhooks.dispatch import Dispatcher
from dockyard.registry.webhooks.endpoints import (
    STATUSES,
    Created,
    Endpoint,
    EndpointSpec,
    create_endpoint,
    delete_endpoint,
    deliveries,
    get_endpoint,
    list_endpoints,
    redeliver,
    update_endpoint,
)
from dockyard.registry.webhooks.routing import EndpointRoutes

__all__ = [
    "STATUSES",
    "Created",
    "Dispatcher",
    "Endpoint",
    "EndpointRoutes",
    "EndpointSpec",
    "create_endpoint",
    "delete_endpoint",
    "deliveries",
    "get_endpoint",
    "list_endpoints",
    "redeliver",
    "update_endpoint",
]
