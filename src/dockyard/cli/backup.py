"""`dockyard backup DEST` and `dockyard restore SRC`: a consistent snapshot of the metadata
and the list of blobs it needs (with `--with-blobs`, their bytes too), and bringing one back
into the configured database and store. Both work on the data directory and database
directly, as `dockyard migrate` does; backup runs beside a live server, restore wants it
stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dockyard import __version__
from dockyard.cli.client import CliError
from dockyard.cli.deletes import size_text
from dockyard.cli.local import ConfigOption, DataDirOption, load_local, open_store, steps
from dockyard.cli.options import JsonFlag
from dockyard.cli.output import fail, print_json, say

__all__ = ["backup", "restore"]


def backup(
    dest: Annotated[
        Path,
        typer.Argument(help="New (or empty) directory to write the backup into."),
    ],
    with_blobs: Annotated[
        bool,
        typer.Option(
            "--with-blobs",
            help="Also copy every listed blob into DEST/blobs (hard links on the same "
            "filesystem): a self-contained backup.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    json_: JsonFlag = False,
) -> None:
    """Back up the metadata (a consistent snapshot, while the registry runs) and the list
    of blobs it references."""
    from dockyard.metadata.db import Database
    from dockyard.registry.backup import BackupError, create_backup

    try:
        settings = load_local(config, data_dir)
        store = open_store(settings)
        db = Database(settings.sqlalchemy_url)
        try:
            with steps() as progress:
                result = create_backup(
                    db, store, dest, version=__version__, with_blobs=with_blobs,
                    progress=progress,
                )  # fmt: skip
        finally:
            db.close()
    except (CliError, BackupError) as err:
        fail(str(err))
    except Exception as err:  # a database that cannot be reached, a full disk
        fail(f"backup failed: {_reason(err)}")
    if json_:
        print_json(
            {
                "dest": str(result.dest), "backend": result.backend,
                "schema_revision": result.schema_revision, "blob_count": result.blob_count,
                "blob_bytes": result.blob_bytes, "blobs_copied": result.blobs_copied,
                "missing": result.missing, "seconds": round(result.seconds, 3),
            }
        )  # fmt: skip
    copied = f"; copied {result.blobs_copied} blobs" if with_blobs else ""
    say(
        f"Backed up the {result.backend} metadata (schema {result.schema_revision}) and a "
        f"list of {result.blob_count} blobs ({size_text(result.blob_bytes)}) to {dest}"
        f"{copied} in {result.seconds:.1f} s."
    )
    if not with_blobs:
        say("Blob bytes are not in this backup: back up the blob store after it (README).")
    if result.missing:
        if not json_:
            for digest in result.missing:  # the whole list, on stdout, for scripts
                typer.echo(f"missing: {digest}")
        fail(
            f"{len(result.missing)} listed blobs were gone from the store when copied "
            "(collected or purged after the snapshot); the backup lacks their bytes"
        )


def restore(
    src: Annotated[
        Path,
        typer.Argument(exists=True, file_okay=False, help="A directory `dockyard backup` made."),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the contents of a target database in use."),
    ] = False,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    json_: JsonFlag = False,
) -> None:
    """Restore a backup into the configured database and blob store (stop the registry
    first), then check that every blob it lists is in the store."""
    from dockyard.metadata.db import SCHEMA_HEAD
    from dockyard.registry.backup import BackupError, restore_backup

    try:
        settings = load_local(config, data_dir)
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the store restored into
        store = open_store(settings)
        with steps() as progress:
            result = restore_backup(
                src, settings.sqlalchemy_url, store, force=force, progress=progress
            )
    except (CliError, BackupError) as err:
        fail(str(err))
    except Exception as err:
        fail(f"restore failed: {_reason(err)}")
    if json_:
        print_json(
            {
                "backend": result.backend, "schema_revision": result.schema_revision,
                "migrated_to": SCHEMA_HEAD if result.migrated else None,
                "blob_count": result.blob_count, "blobs_copied": result.blobs_copied,
                "missing": [{"digest": d, "size": s, "reason": r} for d, s, r in result.missing],
                "seconds": round(result.seconds, 3),
            }
        )  # fmt: skip
    migrated = f", migrated to {SCHEMA_HEAD}" if result.migrated else ""
    present = result.blob_count - len(result.missing)
    say(
        f"Restored the {result.backend} metadata (schema {result.schema_revision}{migrated}); "
        f"{present} of {result.blob_count} listed blobs are in the store "
        f"({result.blobs_copied} copied from the backup), in {result.seconds:.1f} s."
    )
    if result.missing:
        if not json_:
            for digest, size, why in result.missing:  # the whole list, on stdout
                typer.echo(f"missing: {digest} ({size} bytes): {why}")
        fail(
            f"{len(result.missing)} blobs the metadata needs are missing from the store: "
            "restore the store's backup (or run `dockyard backup --with-blobs` next time); "
            "images using them cannot be pulled"
        )


def _reason(err: Exception) -> str:
    """One line naming the cause (the driver's first line, without SQL or parameters)."""
    cause: BaseException = err
    inner = getattr(err, "orig", None)
    if isinstance(inner, BaseException):
        cause = inner
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__
