"""Small-request load: wrk for GET, ApacheBench for HEAD.

wrk 4.1.0 cannot load-test HEAD: its parser waits for the Content-Length body that a HEAD
answer never sends, and a run reports 0 requests. `ab -i` sends HEAD; `ab -k` keeps
connections alive (HTTP/1.0 style, `Connection: Keep-Alive`). On GET the two agree within about
10% on this kind of machine (performance-baseline §3b).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoadResult", "ab", "wrk"]

_LUA = Path(__file__).resolve().parent / "lua" / "request.lua"


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    note: str = ""


def wrk(
    port: int,
    path: str,
    *,
    method: str = "GET",
    authorization: str | None = None,
    accept: str | None = None,
    seconds: int = 10,
    connections: int = 32,
    threads: int = 2,
) -> LoadResult:
    env = dict(os.environ)
    env.update(
        BENCH_METHOD=method,
        BENCH_AUTHORIZATION=authorization or "",
        BENCH_ACCEPT=accept or "",
    )
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(_LUA),
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = int(
        data["status_errors"]
        + data["connect_errors"]
        + data["read_errors"]
        + data["write_errors"]
        + data["timeouts"]
    )
    requests = int(data["requests"])
    return LoadResult(
        tool=f"wrk -t{threads} -c{connections} -d{seconds}s",
        requests=requests,
        rps=requests / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
    )


def _ab_number(pattern: str, text: str, default: float = 0.0) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else default


def ab(
    port: int,
    path: str,
    *,
    head: bool = True,
    authorization: str | None = None,
    accept: str | None = None,
    seconds: int = 10,
    concurrency: int = 32,
) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        csv_path = Path(tmp) / "percentiles.csv"
        # ab allocates one record per request up front: cap -n so -t ends the run.
        argv = [
            "ab",
            "-q",
            "-r",
            "-k",
            "-c",
            str(concurrency),
            "-t",
            str(seconds),
            "-n",
            "1000000",
            "-e",
            str(csv_path),
        ]
        if head:
            argv.append("-i")
        if authorization:
            argv += ["-H", f"Authorization: {authorization}"]
        if accept:
            argv += ["-H", f"Accept: {accept}"]
        argv.append(f"http://127.0.0.1:{port}{path}")
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        text = out.stdout
        if "Requests per second" not in text:
            raise RuntimeError(f"ab failed: {text[-500:]} {out.stderr[-500:]}")
        percentiles: dict[int, float] = {}
        with csv_path.open() as f:
            for row in csv.reader(f):
                if row and row[0].isdigit():
                    percentiles[int(row[0])] = float(row[1])
    complete = int(_ab_number(r"^Complete requests:\s+(\d+)", text))
    failed = int(_ab_number(r"^Failed requests:\s+(\d+)", text))
    non2xx = int(_ab_number(r"^Non-2xx responses:\s+(\d+)", text))
    keepalive = int(_ab_number(r"^Keep-Alive requests:\s+(\d+)", text))
    note = ""
    if complete and keepalive < complete * 0.99:
        note = f"server kept only {keepalive}/{complete} connections alive"
    return LoadResult(
        tool=f"ab -k{' -i' if head else ''} -c{concurrency} -t{seconds}",
        requests=complete,
        rps=_ab_number(r"^Requests per second:\s+([\d.]+)", text),
        p50_ms=percentiles.get(50, 0.0),
        p99_ms=percentiles.get(99, 0.0),
        errors=failed + non2xx,
        note=note,
    )
