"""The domain: names, digests, manifests, push/pull/delete services. Knows nothing of HTTP."""
