"""Benchmark harness: Dockyard against the reference registries in one run.

Run `.venv/bin/python -m benchmarks.run` (see README.md here). Never collected by pytest: no
file here is named like a test.
"""
