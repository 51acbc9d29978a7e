"""Kubernetes manifests under deploy/: every object validates against the vendored strict
OpenAPI-derived schema of its kind, and the pod specs follow the deployment rules (probes on
/health at a declared port, requests and limits, non-root, OTLP to the sidecar on loopback)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
SIDECAR = DEPLOY / "sidecar"
SCALE_OUT = DEPLOY / "scale-out"
SCHEMAS = Path(__file__).parent / "testdata" / "schemas"
SCHEMA_FILES = {
    ("apps/v1", "Deployment"): "deployment-apps-v1.json",
    ("v1", "ConfigMap"): "configmap-v1.json",
    ("v1", "Service"): "service-v1.json",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaim-v1.json",
    ("v1", "ServiceAccount"): "serviceaccount-v1.json",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscaler-autoscaling-v2.json",
}
KUSTOMIZE_KINDS = {"Kustomization", "Component"}
OTEL_PERF_IMAGE = "otel-perf"
Doc = dict[str, Any]


def _docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _yaml_files() -> list[Path]:
    return sorted(p for d in (SIDECAR, SCALE_OUT) for p in d.rglob("*.y*ml"))


def _classify(path: Path) -> str:
    docs = _docs(path)
    if docs and all(d.get("kind") in KUSTOMIZE_KINDS for d in docs):
        return "kustomize"
    if docs and all("apiVersion" in d and "kind" in d for d in docs):
        return "k8s"
    if path.parent == SCALE_OUT and path.name.startswith("collector-"):
        return "collector"
    if path.parent == SCALE_OUT and path.name.startswith("otel-perf-"):
        return "otel-perf"
    return "unknown"


K8S_FILES = [p for p in _yaml_files() if _classify(p) == "k8s"]
KUSTOMIZATIONS = [p for p in _yaml_files() if _classify(p) == "kustomize"]


def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    name = SCHEMA_FILES.get((api_version, kind))
    if name is None:
        raise AssertionError(f"no vendored schema for {api_version} {kind}")
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / name).read_text()))


def schema_errors(doc: Doc) -> list[str]:
    validator = _validator(doc.get("apiVersion", ""), doc.get("kind", ""))
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def _containers(doc: Doc) -> list[Doc]:
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _is_otel_perf(container: Doc) -> bool:
    return OTEL_PERF_IMAGE in container["image"].rsplit("/", 1)[-1].split(":")[0]


def _env(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_rule_errors(doc: Doc) -> list[str]:
    """The deployment rules for one Deployment, as messages naming the container."""
    problems = []
    pod = doc["spec"]["template"]["spec"]
    pod_sc = pod.get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True or not pod_sc.get("runAsUser"):
        problems.append("pod securityContext: needs runAsNonRoot: true and a non-zero runAsUser")
    for c in _containers(doc):
        name = c["name"]
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        probes = [c[k] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c]
        if "livenessProbe" not in c:
            problems.append(f"{name}: no livenessProbe")
        for probe in probes:
            port = probe.get("httpGet", {}).get("port")
            if port not in ports and port not in ports.values():
                problems.append(f"{name}: probe port {port!r} is not a declared containerPort")
            if _is_otel_perf(c):
                if probe.get("httpGet", {}).get("path") != "/health":
                    problems.append(f"{name}: otel-perf probes must GET /health")
                if ports.get(port, port) != 8080:
                    problems.append(f"{name}: otel-perf probes must hit the API port 8080")
        for bound in ("requests", "limits"):
            if set(c.get("resources", {}).get(bound, {})) < {"cpu", "memory"}:
                problems.append(f"{name}: resources.{bound} needs cpu and memory")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("runAsUser", 1) == 0:
            problems.append(f"{name}: must not run as root or escalate privileges")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: must drop ALL capabilities")
        env = _env(c)
        if _is_otel_perf(c) and env.get("OTEL_PERF_API_ENDPOINT") != "0.0.0.0:8080":
            problems.append(f"{name}: OTEL_PERF_API_ENDPOINT must be 0.0.0.0:8080 for the probes")
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if endpoint is not None and urlsplit(endpoint).hostname not in ("127.0.0.1", "localhost"):
            problems.append(f"{name}: OTEL_EXPORTER_OTLP_ENDPOINT must point at the sidecar")
    return problems


def test_every_yaml_file_under_deploy_is_known() -> None:
    assert {p: _classify(p) for p in _yaml_files() if _classify(p) == "unknown"} == {}
    assert {p.name for p in K8S_FILES} >= {
        "deployment.yaml",
        "configmap.yaml",
        "trace-tier.yaml",
        "analysis-tier.yaml",
    }


@pytest.mark.parametrize("path", K8S_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_manifest_validates_against_its_kind_schema(path: Path) -> None:
    for doc in _docs(path):
        assert schema_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("path", K8S_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_deployments_follow_the_pod_rules(path: Path) -> None:
    for doc in _docs(path):
        if doc["kind"] == "Deployment":
            assert pod_rule_errors(doc) == [], doc["metadata"]["name"]


def _sidecar_deployment() -> Doc:
    (doc,) = _docs(SIDECAR / "manifests" / "deployment.yaml")
    return doc


def test_sidecar_pod_has_app_and_otel_perf_sharing_loopback() -> None:
    doc = _sidecar_deployment()
    pod = doc["spec"]["template"]["spec"]
    (sidecar,) = pod["initContainers"]
    assert sidecar["restartPolicy"] == "Always" and _is_otel_perf(sidecar)
    (app,) = pod["containers"]
    assert urlsplit(_env(app)["OTEL_EXPORTER_OTLP_ENDPOINT"]).port == 4317
    # only the API leaves loopback; OTLP keeps the config's 127.0.0.1 default
    assert "OTEL_PERF_GRPC_ENDPOINT" not in _env(sidecar)
    assert _env(sidecar)["OTEL_PERF_FINDINGS_ENDPOINT"].startswith("http://otel-collector.")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["otel-perf-store"]
    assert volumes["otel-perf-config"]["configMap"]["name"] == "otel-perf-config"


def _literal_env(container: Doc) -> dict[str, str]:
    env = {k: v for k, v in _env(container).items() if isinstance(v, str)}
    return {**env, "OTEL_PERF_API_TOKEN": "test-token", "K8S_POD_NAME": "p"}


def test_sidecar_configmap_config_validates_with_the_pod_env(tmp_path: Path) -> None:
    (configmap,) = _docs(SIDECAR / "manifests" / "configmap.yaml")
    config = tmp_path / "config.yaml"
    config.write_text(configmap["data"]["config.yaml"])
    (sidecar,) = _sidecar_deployment()["spec"]["template"]["spec"]["initContainers"]
    result = subprocess.run(
        [sys.executable, "-m", "otel_perf.cli", "print-config", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, **_literal_env(sidecar)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "127.0.0.1:4317"
    assert resolved["extensions"]["api"]["endpoint"] == "0.0.0.0:8080"
    assert resolved["extensions"]["api"]["auth"]["bearer_token"] == "<redacted>"
    assert resolved["service"]["store"]["path"].startswith("/var/lib/otel-perf/")


def test_scale_out_tiers() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for p in K8S_FILES for d in _docs(p)}
    headless = docs[("Service", "otel-perf-trace")]
    assert headless["spec"]["clusterIP"] == "None"
    hpa = docs[("HorizontalPodAutoscaler", "otel-perf-trace")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "otel-perf-trace"
    analysis = docs[("Deployment", "otel-perf-analysis")]
    assert analysis["spec"]["replicas"] == 1 and analysis["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in analysis["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["store"]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in docs
    for name in ("otel-perf-trace", "otel-perf-analysis"):
        (c,) = docs[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
        assert _env(c)["OTEL_PERF_GRPC_ENDPOINT"] == "0.0.0.0:4317"


# -- kustomize ------------------------------------------------------------------------------


def _kustomization_files(path: Path) -> list[Path]:
    (k,) = _docs(path)
    files = [path.parent / r for r in k.get("resources", [])]
    for generator in k.get("configMapGenerator", []):
        files += [path.parent / f.split("=", 1)[-1] for f in generator.get("files", [])]
    return files


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomization_references_existing_files(path: Path) -> None:
    missing = [str(f) for f in _kustomization_files(path) if not f.exists()]
    assert missing == []
    for f in _kustomization_files(path):
        assert f.is_dir() or _classify(f) != "unknown", f


def test_sidecar_manifests_folder_is_exactly_the_base() -> None:
    listed = {f.resolve() for f in _kustomization_files(SIDECAR / "kustomization.yaml")}
    assert listed == {p.resolve() for p in (SIDECAR / "manifests").glob("*.yaml")}


def _json_patch(doc: Doc, ops: list[Doc]) -> Doc:
    """RFC 6902 add/replace, the two operations the pvc component uses."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = op["path"].strip("/").split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if op["op"] == "replace" and (key not in node if isinstance(node, dict) else False):
            raise KeyError(op["path"])
        node[key] = op["value"]
    return doc


def test_pvc_component_gives_a_valid_single_replica_deployment_on_the_claim() -> None:
    (component,) = _docs(SIDECAR / "components" / "pvc" / "kustomization.yaml")
    (claim,) = _docs(SIDECAR / "components" / "pvc" / "pvc.yaml")
    (patch,) = component["patches"]
    patched = _json_patch(_sidecar_deployment(), yaml.safe_load(patch["patch"]))
    assert schema_errors(patched) == [] and pod_rule_errors(patched) == []
    volumes = {v["name"]: v for v in patched["spec"]["template"]["spec"]["volumes"]}
    assert volumes["otel-perf-store"] == {
        "name": "otel-perf-store",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    }
    assert patched["spec"]["replicas"] == 1


def _kubectl_render(folder: Path) -> list[Doc]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_kustomize_renders_valid_objects(tmp_path: Path) -> None:
    """With kubectl (kustomize built in) on the machine, render every kustomization and
    validate what it gives; without it the tests above check the same files piecewise."""
    if shutil.which("kubectl") is None:
        for path in KUSTOMIZATIONS:
            assert all(f.exists() for f in _kustomization_files(path))
        return
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(SIDECAR, overlay)
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{base}]\ncomponents: [{base}/components/pvc]\n"
    )
    for folder in (SIDECAR, overlay, SCALE_OUT):
        docs = _kubectl_render(folder)
        for doc in docs:
            assert schema_errors(doc) == [], f"{folder}: {doc['kind']}/{doc['metadata']['name']}"
            if doc["kind"] == "Deployment":
                assert pod_rule_errors(doc) == [], doc["metadata"]["name"]
        kinds = sorted(d["kind"] for d in docs)
        if folder == overlay:
            assert "PersistentVolumeClaim" in kinds
        if folder == SCALE_OUT:
            assert kinds.count("ConfigMap") == 3 and "HorizontalPodAutoscaler" in kinds


# -- the checkers refuse what they should ---------------------------------------------------


def test_schema_check_rejects_unknown_fields_and_wrong_types() -> None:
    doc = _sidecar_deployment()
    doc["spec"]["replica"] = 2
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    errors = "\n".join(schema_errors(doc))
    assert "'replica' was unexpected" in errors
    assert "spec.template.spec.containers.0.ports.0.containerPort" in errors
    with pytest.raises(AssertionError, match="no vendored schema"):
        schema_errors({"apiVersion": "v1", "kind": "Secret"})


def test_pod_rules_reject_bad_pods() -> None:
    doc = _sidecar_deployment()
    pod = doc["spec"]["template"]["spec"]
    (sidecar,) = pod["initContainers"]
    (app,) = pod["containers"]
    sidecar["livenessProbe"]["httpGet"]["port"] = "metrics"
    sidecar["startupProbe"]["httpGet"]["path"] = "/"
    del sidecar["resources"]["limits"]
    sidecar["env"] = [e for e in sidecar["env"] if e["name"] != "OTEL_PERF_API_ENDPOINT"]
    app["securityContext"]["runAsUser"] = 0
    app["env"][1]["value"] = "http://otel-collector.observability:4317"
    pod["securityContext"]["runAsNonRoot"] = False
    assert pod_rule_errors(doc) == [
        "pod securityContext: needs runAsNonRoot: true and a non-zero runAsUser",
        "otel-perf: otel-perf probes must GET /health",
        "otel-perf: probe port 'metrics' is not a declared containerPort",
        "otel-perf: otel-perf probes must hit the API port 8080",
        "otel-perf: resources.limits needs cpu and memory",
        "otel-perf: OTEL_PERF_API_ENDPOINT must be 0.0.0.0:8080 for the probes",
        "app: must not run as root or escalate privileges",
        "app: OTEL_EXPORTER_OTLP_ENDPOINT must point at the sidecar",
    ]


def test_json_patch_refuses_a_path_that_is_not_there() -> None:
    with pytest.raises(KeyError):
        _json_patch({"spec": {}}, [{"op": "replace", "path": "/spec/replicas", "value": 1}])
