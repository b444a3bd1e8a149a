"""The `dockyard` command line: one module per command group."""
