"""Sizes as people write and read them: `10GiB`, `1.5 GB`, `500M`, `1234`.

Written: IEC suffixes (KiB, MiB, GiB, TiB; or Ki, Mi, Gi, Ti) are powers of 1024, SI ones
(kB, MB, GB, TB; or k, K, M, G, T) powers of 1000, as Kubernetes reads them; no suffix or
`B` is bytes. Shown: powers of 1024 with the IEC names and one decimal (`1.2 GiB`), as the
console and the CLI show every size.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["MAX_BYTES", "format_size", "parse_size"]

MAX_BYTES = 2**63 - 1  # a BIGINT
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_FACTORS = {
    "": 1,
    "b": 1,
    **{f"{p}": 1000**n for n, p in enumerate("kmgtp", 1)},
    **{f"{p}b": 1000**n for n, p in enumerate("kmgtp", 1)},
    **{f"{p}i": 1024**n for n, p in enumerate("kmgtp", 1)},
    **{f"{p}ib": 1024**n for n, p in enumerate("kmgtp", 1)},
}
_SHOWN = ("KiB", "MiB", "GiB", "TiB", "PiB")


def parse_size(text: str) -> int:
    """Bytes; ValueError (with a sentence saying what is accepted) for anything else."""
    match = _SIZE.fullmatch(text)
    factor = _FACTORS.get(match.group(2).lower()) if match else None
    if match is None or factor is None:
        raise ValueError(
            f"{text.strip()!r} is not a size: write bytes, or a number with a unit such as "
            "500MiB, 10GiB or 2TB"
        )
    try:
        value = int(Decimal(match.group(1)) * factor)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{text.strip()!r} is not a size") from None
    if value > MAX_BYTES:
        raise ValueError(f"{text.strip()!r} is larger than any disk")
    return value


def format_size(size: int) -> str:
    """`1288490189` -> `1.2 GiB`; below 1 KiB, `123 B`."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _SHOWN:
        value /= 1024
        if value < 1024 or unit == _SHOWN[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
