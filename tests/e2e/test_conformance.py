"""The OCI distribution-spec conformance suite v1.1.1, all four workflows, against Dockyard.

The suite is a Ginkgo test binary built by scripts/install-test-deps. It exits 0 even when
every spec was skipped, so the verdict comes from its junit.xml: no failure and at least one
pass. junit.xml and report.html (every HTTP exchange of every spec) are copied to
tests/.artifacts/conformance/ for CI to keep.
"""

from __future__ import annotations

import collections
import secrets
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.clients import REPO_ROOT, describe, require_tool, tool_path
from fixtures.servers import Registry

pytestmark = [pytest.mark.conformance, pytest.mark.slow]

SUITE = "conformance-v1.1.1.test"
SPEC_PREFIX = "OCI Distribution Conformance Tests "
ARTIFACTS = REPO_ROOT / "tests" / ".artifacts" / "conformance"


@dataclass(frozen=True)
class Spec:
    name: str
    status: str
    message: str


def read_junit(path: Path) -> list[Spec]:
    """The suite's specs (not the report hook's pseudo-testcase) with status and failure."""
    specs = []
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - our own suite's file
        name = case.get("name", "")
        if not name.startswith(SPEC_PREFIX):
            continue
        failure = case.find("failure")
        message = "" if failure is None else failure.get("message", "") or (failure.text or "")
        specs.append(Spec(name.removeprefix(SPEC_PREFIX), case.get("status", ""), message))
    return specs


def summarize(specs: list[Spec]) -> str:
    counts = collections.Counter(spec.status for spec in specs)
    lines = [
        f"conformance: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped"
    ]
    for spec in specs:
        if spec.status == "failed":
            message = " ".join(spec.message.split())[:400]
            lines.append(f"  FAILED {spec.name}: {message}")
    return "\n".join(lines)


def test_distribution_spec_conformance(
    dockyard_server: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = require_tool(SUITE)
    run_id = secrets.token_hex(4)
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    env = {
        "PATH": tool_path(),
        "HOME": str(tmp_path),
        "OCI_ROOT_URL": dockyard_server.url,
        # fresh repositories: the suite pushes fixed tags and counts them before and after
        "OCI_NAMESPACE": f"conformance/run-{run_id}",
        "OCI_CROSSMOUNT_NAMESPACE": f"conformance/mount-{run_id}",
        "OCI_USERNAME": dockyard_server.username,
        "OCI_PASSWORD": dockyard_server.password,
        "OCI_TEST_PULL": "1",
        "OCI_TEST_PUSH": "1",
        "OCI_TEST_CONTENT_DISCOVERY": "1",
        "OCI_TEST_CONTENT_MANAGEMENT": "1",
        "OCI_HIDE_SKIPPED_WORKFLOWS": "0",
        "OCI_DEBUG": "0",
        "OCI_REPORT_DIR": str(report_dir),
    }
    proc = subprocess.run(
        [suite, "-ginkgo.no-color"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    junit = report_dir / "junit.xml"
    if not junit.exists():
        pytest.fail(f"the suite wrote no junit.xml\n{describe(proc)}", pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("junit.xml", "report.html"):
        if (report_dir / name).exists():
            shutil.copy(report_dir / name, ARTIFACTS / name)

    specs = read_junit(junit)
    summary = summarize(specs)
    with capsys.disabled():
        sys.stdout.write(f"\n{summary}\n  (report: {ARTIFACTS / 'report.html'})\n")
    failed = [spec for spec in specs if spec.status == "failed"]
    passed = [spec for spec in specs if spec.status == "passed"]
    if failed:
        pytest.fail(summary, pytrace=False)
    if not passed:
        pytest.fail(f"nothing passed (all skipped?)\n{summary}\n{describe(proc)}", pytrace=False)
    assert proc.returncode == 0, f"suite failed although junit shows no failure\n{describe(proc)}"
