"""The Helm chart (deploy/helm/dockyard) and the plain manifests rendered from it
(deploy/kubernetes/): linted and rendered by the real helm, the YAML parsed and checked.

The two modes are rendered from the values files the committed manifests come from:
embedded (SQLite + a volume, one replica) and PostgreSQL + S3 (three replicas).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockyard.config import load_settings
from fixtures.clients import REPO_ROOT, require_tool

pytestmark = pytest.mark.metadata_neutral

CHART = REPO_ROOT / "deploy" / "helm" / "dockyard"
MANIFESTS = REPO_ROOT / "deploy" / "kubernetes"
EMBEDDED = MANIFESTS / "values-embedded.yaml"
EXTERNAL = MANIFESTS / "values-postgresql-s3.yaml"
MODES = pytest.mark.parametrize("values", [EMBEDDED, EXTERNAL], ids=["embedded", "external"])
# settings that are credentials: each must come from a Secret, never as a value
CREDENTIALS = {
    "DOCKYARD_ADMIN_PASSWORD": ("dockyard-admin", "admin-password"),
    "DOCKYARD_DATABASE_URL": ("dockyard-database", "database-url"),
    "DOCKYARD_S3_ACCESS_KEY": ("dockyard-s3", "access-key"),
    "DOCKYARD_S3_SECRET_KEY": ("dockyard-s3", "secret-key"),
}

Doc = dict[str, Any]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("helm"), *args], capture_output=True, text=True, check=False, timeout=60
    )


def render(values: Path, *sets: str) -> list[Doc]:
    """`helm template` with a values file and `--set`s, parsed into its documents."""
    args = ["template", "dockyard", str(CHART), "--values", str(values)]
    for item in sets:
        args += ["--set", item]
    proc = helm(*args)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def refused(values: Path, *sets: str) -> str:
    """The error of a `helm template` that must fail."""
    args = ["template", "dockyard", str(CHART), "--values", str(values)]
    for item in sets:
        args += ["--set", item]
    proc = helm(*args)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def only(docs: list[Doc], kind: str) -> Doc:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def kinds(docs: list[Doc]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def pod_specs(docs: list[Doc]) -> list[Doc]:
    """The pod templates of every workload (the Deployment, the migration Job)."""
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]


def server(docs: list[Doc]) -> Doc:
    container: Doc = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


@MODES
def test_lint_passes(values: Path) -> None:
    proc = helm("lint", "--strict", str(CHART), "--values", str(values))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_each_mode_renders_its_objects() -> None:
    embedded = render(EMBEDDED)
    assert kinds(embedded) == [
        "ConfigMap", "Deployment", "Ingress", "PersistentVolumeClaim", "Service",
    ]  # fmt: skip
    external = render(EXTERNAL)
    assert kinds(external) == [
        "ConfigMap", "Deployment", "Ingress", "Job", "PodDisruptionBudget", "Service",
    ]  # fmt: skip


@MODES
def test_probes_ask_healthz_and_readyz(values: Path) -> None:
    container = server(render(values))
    assert container["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe


@MODES
def test_pods_run_as_non_root_and_locked_down(values: Path) -> None:
    specs = pod_specs(render(values))
    assert specs
    for spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] == 10001
        assert pod["runAsGroup"] == 10001
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            # a read-only root: the data directory and /tmp are volumes
            mounted = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/var/lib/dockyard", "/tmp"} <= mounted


@MODES
def test_resources_are_requested(values: Path) -> None:
    for spec in pod_specs(render(values)):
        for container in spec["containers"]:
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}
            assert "memory" in resources["limits"]


@MODES
def test_credentials_come_only_from_existing_secrets(values: Path) -> None:
    docs = render(values)
    assert "Secret" not in kinds(docs)  # the chart holds no secret values at all
    for spec in pod_specs(docs):
        for container in spec["containers"]:
            for item in container["env"]:
                if item["name"] in CREDENTIALS:
                    assert "value" not in item, item
                    ref = item["valueFrom"]["secretKeyRef"]
                    assert (ref["name"], ref["key"]) == CREDENTIALS[item["name"]]
    env_names = {item["name"] for item in server(docs)["env"]}
    if values == EXTERNAL:
        assert set(CREDENTIALS) <= env_names
    else:
        assert env_names & set(CREDENTIALS) == {"DOCKYARD_ADMIN_PASSWORD"}


def test_s3_and_database_settings_in_external_mode() -> None:
    env = {item["name"]: item for item in server(render(EXTERNAL))["env"]}
    plain = {name: item["value"] for name, item in env.items() if "value" in item}
    assert plain == {
        "DOCKYARD_WORKERS": "2",
        "DOCKYARD_STORAGE_DRIVER": "s3",
        "DOCKYARD_S3_ENDPOINT_URL": "https://s3.example.com",
        "DOCKYARD_S3_BUCKET": "dockyard-blobs",
        "DOCKYARD_S3_REGION": "us-east-1",
        "DOCKYARD_S3_REDIRECT": "true",
    }
    embedded = {item["name"] for item in server(render(EMBEDDED))["env"]}
    assert not {name for name in embedded if "S3" in name or "STORAGE" in name}


def test_secret_settings_are_refused_in_config() -> None:
    fake = "postgresql://dockyard:Fake-S3cret-Value@db/dockyard"
    for key in ("database_url", "admin_password"):
        error = refused(EMBEDDED, f"config.{key}={fake}")
        assert f"config.{key}" in error
        assert "Fake-S3cret-Value" not in error


def test_config_file_is_valid_dockyard_settings(tmp_path: Path) -> None:
    docs = render(EXTERNAL, "config.gc_interval_minutes=15", "config.undo_seconds=0")
    text = only(docs, "ConfigMap")["data"]["config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    settings = load_settings(path)  # extra="forbid": an unknown key would fail here
    assert settings.public_url == "https://registry.example.com"
    assert settings.trusted_proxies == ["10.0.0.0/8"]
    assert settings.gc_interval_minutes == 15
    assert settings.undo_seconds == 0
    container = server(docs)
    assert container["args"] == ["--config", "/etc/dockyard/config.yaml"]
    assert {"name": "config", "mountPath": "/etc/dockyard", "readOnly": True} in container[
        "volumeMounts"
    ]


def test_embedded_mode_refuses_more_than_one_replica() -> None:
    error = refused(EMBEDDED, "replicas=2")
    assert "embedded mode" in error
    assert "replicas=1" in error


def test_external_mode_needs_its_secrets() -> None:
    assert "database.existingSecret" in refused(EXTERNAL, "database.existingSecret=")
    assert "s3.existingSecret" in refused(EXTERNAL, "s3.existingSecret=")
    # the token signing key is shared through the database: no Secret of its own is needed
    assert "Deployment" in kinds(render(EXTERNAL, "tokenSigningKey.existingSecret=", "replicas=3"))


def test_embedded_mode_keeps_its_data_on_one_claim() -> None:
    docs = render(EMBEDDED)
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = only(docs, "PersistentVolumeClaim")
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_pdb_only_with_several_replicas() -> None:
    docs = render(EXTERNAL)
    pdb = only(docs, "PodDisruptionBudget")
    deployment = only(docs, "Deployment")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert "PodDisruptionBudget" not in kinds(render(EXTERNAL, "replicas=1"))
    assert "PodDisruptionBudget" not in kinds(render(EMBEDDED))


def test_a_token_signing_key_of_your_own_is_mounted_where_the_first_start_takes_it() -> None:
    spec = only(render(EXTERNAL, "tokenSigningKey.existingSecret=my-key"), "Deployment")["spec"][
        "template"
    ]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["token-signing-key"]["secret"]["secretName"] == "my-key"
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    # the file the first start stores in the database instead of generating a key
    assert mounts["token-signing-key"] == "/var/lib/dockyard/keys"
    items = volumes["token-signing-key"]["secret"]["items"]
    assert items == [{"key": "token-signing.pem", "path": "token-signing.pem"}]
    plain = only(render(EXTERNAL), "Deployment")["spec"]["template"]["spec"]
    assert "token-signing-key" not in {v["name"] for v in plain["volumes"]}


def test_migration_runs_as_a_hook_job_in_external_mode() -> None:
    docs = render(EXTERNAL)
    job = only(docs, "Job")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert sorted(hooks) == ["pre-install", "pre-upgrade"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["dockyard", "migrate"]
    assert container["env"] == [
        {
            "name": "DOCKYARD_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "dockyard-database", "key": "database-url"}},
        }
    ]
    # the Service and the PDB must not send traffic to, or count, the migration's pod
    selector = only(docs, "Service")["spec"]["selector"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= labels.items()
    assert "Job" not in kinds(render(EXTERNAL, "migration.enabled=false"))
    assert "Job" not in kinds(render(EMBEDDED))


def test_ingress_routes_to_the_service_with_nginx_limits_lifted() -> None:
    docs = render(EMBEDDED)
    ingress = only(docs, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "registry.example.com"
    (path,) = rule["http"]["paths"]
    service = only(docs, "Service")
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert "Ingress" not in kinds(render(EMBEDDED, "ingress.enabled=false"))


def test_committed_manifests_are_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [str(REPO_ROOT / "scripts" / "render-manifests"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "HELM": require_tool("helm")},
    )
    for name in ("embedded.yaml", "postgresql-s3.yaml"):
        fresh = (tmp_path / name).read_text()
        assert (MANIFESTS / name).read_text() == fresh, (
            f"deploy/kubernetes/{name} is stale: run scripts/render-manifests"
        )
        assert [doc for doc in yaml.safe_load_all(fresh) if doc]
