"""What this machine can move over loopback at all, with no registry: the client's ceiling."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

__all__ = ["loopback_ceiling_mb_s"]


def loopback_ceiling_mb_s(path: Path) -> float:
    """MB/s of `socket.sendfile(path)` into a `recv_into` loop on 127.0.0.1 (best of 2)."""
    size = path.stat().st_size
    best = 0.0
    for _ in range(2):
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]

            def send() -> None:
                conn, _ = server.accept()
                with conn, path.open("rb") as f:
                    conn.sendfile(f)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            buf = memoryview(bytearray(1 << 20))
            with socket.create_connection(("127.0.0.1", port)) as client:
                got = 0
                t0 = time.perf_counter()
                while got < size:
                    n = client.recv_into(buf)
                    if n == 0:
                        break
                    got += n
                elapsed = time.perf_counter() - t0
            sender.join(30)
        best = max(best, got / 1e6 / elapsed)
    return best
