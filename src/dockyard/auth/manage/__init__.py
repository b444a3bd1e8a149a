"""The management services: users, groups, namespaces, repositories ahead of push, grants,
robots, personal access tokens and the audit log.

Each service is a blocking function (faces run it in a worker thread) taking a
`ManageContext`, the acting `Principal` and, for changes, the caller's address. It checks
permission through auth.permissions on a fresh snapshot, validates its input, makes its
change in one write transaction that also bumps the access generation and records an audit
row (never a secret), and raises auth.errors for the faces to translate.
"""

from dockyard.auth.manage.context import ManageContext

__all__ = ["ManageContext"]
