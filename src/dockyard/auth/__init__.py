"""Identities, credentials, tokens and the one permission check."""
