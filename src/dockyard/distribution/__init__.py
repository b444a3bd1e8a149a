"""The OCI Distribution API and the Docker token endpoint. HTTP only: no SQL, no file I/O."""
