"""The Helm chart (helm/lotus) and the image's entrypoints, checked offline.

The chart is rendered with ``helm template`` (``scripts/helm.sh`` builds Helm once into
``var/tools``) in several configurations; every manifest is validated strictly against the
Kubernetes JSON schemas shipped by kubernetes-validate (ServiceMonitors, a CRD, are checked by
hand) and the wiring is read back from the YAML: environment, Secret keys, ingress routes,
probes, hook order, ServiceMonitors.

Docker cannot build here, so the image is approximated: the build context (``.dockerignore``
applied) is copied, ``collectstatic`` runs in it as in the Dockerfile, and the commands the chart
runs are started from it with this interpreter (``--help`` / ``gunicorn --check-config``).
No database is used.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ
import pytest
import yaml

from lotus.topology import SERVICES, database_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "lotus"
HELM = ROOT / "scripts" / "helm.sh"
RELEASE = "lotus"
NAMESPACE = "shop"
IMAGE = "lotus:0.1.0"

# Kubernetes versions the manifests must be valid for: an older supported one and the newest
# schemas of the pinned kubernetes-validate.
K8S_VERSIONS = ("1.30.0", "1.37.0")

EXTERNAL_DB = "postgresql://shop:s3cr%40t@db.example:6432/shop?sslmode=require"
EXTERNAL_BILLING_DB = "postgresql://ledger:pw@ledger.example:5432/ledger"
EXTERNAL_KAFKA = "kafka-0.example:9092,kafka-1.example:9092"


def sets(*assignments: str) -> list[str]:
    return [arg for assignment in assignments for arg in ("--set", assignment)]


SCENARIOS: dict[str, list[str]] = {
    "defaults": [],
    "external": sets(
        "postgresql.enabled=false",
        "kafka.enabled=false",
        f"externalDatabase.url={EXTERNAL_DB}",
        f"externalDatabase.urls.billing={EXTERNAL_BILLING_DB}",
        "externalKafka.bootstrapServers=" + EXTERNAL_KAFKA.replace(",", "\\,"),
    ),
    "no-servicemonitor": sets("metrics.serviceMonitor.enabled=false"),
    "scaled": sets(
        "services.orders.web.replicas=3",
        "services.orders.consumer.replicas=3",
        "services.billing.relay.replicas=2",
        "kafka.partitions=6",
        "kafka.retentionHours=72",
        "secrets.jwtSigningKey=given-jwt-key",
        "secrets.operatorPassword=given-operator-password",
        "config.LOTUS_PAYMENT_TIMEOUT=900",
        "ingress.tls[0].secretName=lotus-tls",
        "ingress.tls[0].hosts[0]=arch.homework",
        "deadlines.enabled=false",
    ),
}

# Ingress prefix -> the service whose web serves it.
ROUTES = {
    "/profile": "profiles",
    "/billing": "billing",
    "/order": "orders",
    "/stock": "stock",
    "/delivery": "delivery",
    "/notification": "notifications",
    "/admin": "profiles",
    "/api": "profiles",
    "/api-auth": "profiles",
    "/static": "profiles",
    "/healthz": "profiles",
    "/readyz": "profiles",
}
API_PREFIXES = ("/profile", "/billing", "/order", "/stock", "/delivery", "/notification")

# The image's commands: what the chart may run from the Lotus image.
MANAGE_COMMANDS = {"relay", "consume", "expire_orders", "createdbs", "migrateall", "kafka_topics", "seed"}


# -- rendering ------------------------------------------------------------------------------


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    home = ROOT / "var" / "tools" / "helm-home"
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    # The first call may build Helm (about two minutes).
    result = subprocess.run(
        [str(HELM), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def template_args(scenario: str) -> list[str]:
    return ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *SCENARIOS[scenario]]


@cache
def _render(scenario: str) -> tuple[dict, ...]:
    out = helm(*template_args(scenario)).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def render(scenario: str) -> list[dict]:
    """The manifests of a scenario (a fresh copy: tests may not change the cache)."""
    return copy.deepcopy(list(_render(scenario)))


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def name(service: str, component: str) -> str:
    return f"{RELEASE}-{service}-{component}"


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def all_containers(doc: dict) -> list[dict]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(docs: list[dict]) -> list[dict]:
    return [doc for doc in docs if doc["kind"] in {"Deployment", "StatefulSet", "Job"}]


def lotus_containers(docs: list[dict]) -> list[tuple[dict, dict]]:
    """(workload, container) for every container that runs the Lotus image."""
    return [(doc, c) for doc in workloads(docs) for c in all_containers(doc) if c["image"] == IMAGE]


def secret_data(docs: list[dict]) -> dict[str, str]:
    secret = of_kind(docs, "Secret")[RELEASE]
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def resolve_env(container: dict, docs: list[dict]) -> dict[str, tuple[str, str]]:
    """Name -> (source, value) as the kubelet would see it; source is value, configmap or secret."""
    configmaps = {name: doc.get("data", {}) for name, doc in of_kind(docs, "ConfigMap").items()}
    secrets = secret_data(docs)
    env: dict[str, tuple[str, str]] = {}
    for source in container.get("envFrom", []):
        for key, value in configmaps[source["configMapRef"]["name"]].items():
            env[key] = ("configmap", value)
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = ("value", var["value"])
        elif "configMapKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = ("configmap", configmaps[ref["name"]][ref["key"]])
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["name"] == RELEASE, f"{var['name']} reads an unknown Secret {ref['name']}"
            assert ref["key"] in secrets, f"{var['name']} reads the missing Secret key {ref['key']}"
            env[var["name"]] = ("secret", secrets[ref["key"]])
        else:
            env[var["name"]] = ("field", "")
    return env


def argv(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


# -- lint and schemas -------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_chart_lints_strictly(scenario):
    result = helm("lint", "--strict", str(CHART), *SCENARIOS[scenario])
    assert "0 chart(s) failed" in result.stdout


def check_service_monitor(doc: dict, docs: list[dict]) -> None:
    """What the Prometheus Operator's CRD requires, and that it selects real endpoints."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}
    spec = doc["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "targetLabels", "jobLabel", "podTargetLabels"}
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    match = spec["selector"]["matchLabels"]
    assert match
    assert all(isinstance(v, str) for v in match.values())
    selected = [svc for svc in of_kind(docs, "Service").values() if match.items() <= svc["metadata"]["labels"].items()]
    assert selected, f"{doc['metadata']['name']} selects no Service"
    assert spec["endpoints"]
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["path"] == "/metrics"
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])
        assert re.fullmatch(r"\d+[smh]", endpoint["scrapeTimeout"])
        for svc in selected:
            assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}, svc["metadata"]["name"]
    for label in spec.get("targetLabels", []):
        assert all(label in svc["metadata"]["labels"] for svc in selected)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_manifests_are_valid_kubernetes(scenario, version):
    import kubernetes_validate

    docs = render(scenario)
    assert docs
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            assert doc["kind"] == "ServiceMonitor", where
            check_service_monitor(doc, docs)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where} is not valid Kubernetes {version}: {exc.message} at {list(exc.path)}")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_names_labels_and_selectors_hold_together(scenario):
    """What the API server checks beyond the schemas: names, and selectors that select."""
    docs = render(scenario)
    assert len({(doc["kind"], doc["metadata"]["name"]) for doc in docs}) == len(docs), "duplicate resources"
    for doc in docs:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
        assert len(doc["metadata"]["name"]) <= 63
        assert "namespace" not in doc["metadata"] or doc["metadata"]["namespace"] == NAMESPACE
    pod_labels = []
    for doc in workloads(docs):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        pod_labels.append(labels)
        if doc["kind"] != "Job":
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), doc["metadata"]["name"]
    for svc in of_kind(docs, "Service").values():
        selector = svc["spec"]["selector"].items()
        assert sum(selector <= labels.items() for labels in pod_labels) == 1, svc["metadata"]["name"]
        targets = [
            c
            for doc in workloads(docs)
            if selector <= doc["spec"]["template"]["metadata"]["labels"].items()
            for c in all_containers(doc)
        ]
        port_names = {p["name"] for c in targets for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{svc['metadata']['name']}: no container port {port}"
    for pdb in of_kind(docs, "PodDisruptionBudget").values():
        match = pdb["spec"]["selector"]["matchLabels"].items()
        assert sum(match <= labels.items() for labels in pod_labels) == 1


# -- the services -----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_service_runs_web_relay_and_consumer(scenario):
    docs = render(scenario)
    deployments = of_kind(docs, "Deployment")
    services = of_kind(docs, "Service")
    for service in SERVICES:
        web = deployments[name(service, "web")]
        (container,) = pod_spec(web)["containers"]
        assert argv(container)[:4] == ["gunicorn", "lotus.wsgi", "--bind", "0.0.0.0:8000"]
        assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
        svc = services[name(service, "web")]
        assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
        for component, command in (("relay", "relay"), ("consumer", "consume")):
            (worker,) = pod_spec(deployments[name(service, component)])["containers"]
            assert argv(worker) == ["python", "manage.py", command, "--service", service]
            init = [argv(c) for c in pod_spec(deployments[name(service, component)]).get("initContainers", [])]
            assert init == ([["python", "manage.py", "kafka_topics"]] if component == "consumer" else [])
            metrics = services[f"{name(service, component)}-metrics"]
            assert metrics["spec"]["clusterIP"] == "None"
            assert metrics["spec"]["ports"][0]["port"] == 9100
    deadlines = deployments.get(f"{RELEASE}-orders-deadlines")
    if scenario == "scaled":
        assert deadlines is None
    else:
        (checker,) = pod_spec(deadlines)["containers"]
        assert argv(checker) == ["python", "manage.py", "expire_orders", "--loop"]
        assert deadlines["spec"]["replicas"] == 1


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_lotus_container_gets_its_environment(scenario):
    docs = render(scenario)
    secrets = secret_data(docs)
    for doc, container in lotus_containers(docs):
        where = f"{doc['metadata']['name']}/{container['name']}"
        env = resolve_env(container, docs)
        labels = doc["metadata"]["labels"]
        service = labels.get("lotus/service")
        expected_services = service or ",".join(SERVICES)
        assert env["LOTUS_SERVICES"] == ("value", expected_services), where
        for each in SERVICES:
            source, url = env[f"DATABASE_URL_{each.upper()}"]
            assert source == "secret", where
            assert url == secrets[f"database-url-{each}"]
        assert env["DJANGO_SECRET_KEY"][0] == "secret", where
        assert env["LOTUS_JWT_SIGNING_KEY"][0] == "secret", where
        kafka = EXTERNAL_KAFKA if scenario == "external" else f"{RELEASE}-kafka.{NAMESPACE}.svc.cluster.local:9092"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == ("configmap", kafka), where
        expected_partitions = "6" if scenario == "scaled" else "3"
        assert env["LOTUS_KAFKA_PARTITIONS"] == ("configmap", expected_partitions), where
        # The topics Job creates topics with this retention and every process checks the
        # inbox retention against it, so all of them read the same value.
        expected_retention = "72" if scenario == "scaled" else "168"
        assert env["LOTUS_KAFKA_RETENTION_HOURS"] == ("configmap", expected_retention), where
        assert env["DJANGO_ALLOWED_HOSTS"] == ("configmap", "*"), where
        component = labels["app.kubernetes.io/component"]
        if component in {"relay", "consumer"} and container in pod_spec(doc)["containers"]:
            assert env["LOTUS_METRICS_PORT"] == ("value", "9100"), where
            assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container["ports"]
        else:
            assert "LOTUS_METRICS_PORT" not in env, where
        if component == "seed":
            assert env["LOTUS_OPERATOR_EMAIL"] == ("secret", "operator@lotus.local")
            assert env["LOTUS_OPERATOR_PASSWORD"][0] == "secret"
        else:
            assert "LOTUS_OPERATOR_PASSWORD" not in env, f"{where} does not need the operator password"
        if scenario == "scaled":
            assert env["LOTUS_PAYMENT_TIMEOUT"] == ("configmap", "900")


def test_database_urls_point_at_the_charts_postgresql():
    docs = render("defaults")
    secrets = secret_data(docs)
    postgres = of_kind(docs, "StatefulSet")[f"{RELEASE}-postgresql"]
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:15"
    assert f"{RELEASE}-postgresql" in of_kind(docs, "Service")
    for service in SERVICES:
        url = urlsplit(secrets[f"database-url-{service}"])
        assert url.scheme == "postgresql"
        assert url.hostname == f"{RELEASE}-postgresql.{NAMESPACE}.svc.cluster.local"
        assert url.port == 5432
        assert url.path == f"/lotus_{service}"
        assert url.username == "lotus"
        assert unquote(url.password) == secrets["postgresql-password"]
    (container,) = pod_spec(postgres)["containers"]
    env = resolve_env(container, docs)
    assert env["POSTGRES_PASSWORD"] == ("secret", secrets["postgresql-password"])
    assert env["POSTGRES_USER"] == ("value", "lotus")
    # The databases created on the volume's first start are the ones the URLs name.
    initdb = of_kind(docs, "ConfigMap")[f"{RELEASE}-postgresql-initdb"]["data"]["lotus-databases.sql"]
    assert sorted(re.findall(r'CREATE DATABASE "(\w+)";', initdb)) == sorted(f"lotus_{s}" for s in SERVICES)


def test_external_database_urls_follow_the_settings_rules(monkeypatch, tmp_path):
    """The chart's per-service URLs give the same DATABASES as DATABASE_URL (+ overrides) would."""
    docs = render("external")
    secrets = secret_data(docs)
    assert "postgresql-password" not in secrets
    assert not of_kind(docs, "StatefulSet")

    for key in [k for k in os.environ if k.startswith("DATABASE_URL")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", EXTERNAL_DB)
    monkeypatch.setenv("DATABASE_URL_BILLING", EXTERNAL_BILLING_DB)
    expected = database_settings(environ.Env(), tmp_path)

    monkeypatch.delenv("DATABASE_URL")
    for service in SERVICES:
        monkeypatch.setenv(f"DATABASE_URL_{service.upper()}", secrets[f"database-url-{service}"])
    assert database_settings(environ.Env(), tmp_path) == expected
    assert expected["billing"]["NAME"] == "ledger"
    assert expected["orders"]["NAME"] == "shop_orders"
    assert expected["orders"]["PASSWORD"] == "s3cr@t"


@pytest.mark.parametrize("scenario", ["defaults", "external"])
def test_kafka_bootstrap_servers(scenario):
    docs = render(scenario)
    config = of_kind(docs, "ConfigMap")[f"{RELEASE}-config"]["data"]
    if scenario == "external":
        assert config["KAFKA_BOOTSTRAP_SERVERS"] == EXTERNAL_KAFKA
        assert not [c for doc in workloads(docs) for c in all_containers(doc) if c["name"].startswith("wait-for")]
        return
    kafka_service = of_kind(docs, "Service")[f"{RELEASE}-kafka"]
    assert kafka_service["spec"]["clusterIP"] == "None"
    assert {"name": "kafka", "port": 9092, "targetPort": "kafka", "protocol": "TCP"} in kafka_service["spec"]["ports"]
    host, port = config["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)
    assert (host, port) == (f"{RELEASE}-kafka.{NAMESPACE}.svc.cluster.local", "9092")

    kafka = of_kind(docs, "StatefulSet")[f"{RELEASE}-kafka"]
    assert kafka["spec"]["serviceName"] == f"{RELEASE}-kafka"
    assert kafka["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    (container,) = pod_spec(kafka)["containers"]
    assert container["image"] == "apache/kafka:4.1.1"
    env = {var["name"]: var.get("value") for var in container["env"]}
    assert env["KAFKA_NODE_ID"] == "1"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"
    assert env["KAFKA_LISTENERS"] == "PLAINTEXT://:9092,CONTROLLER://:9093"
    advertised = f"PLAINTEXT://$(POD_NAME).{RELEASE}-kafka.{NAMESPACE}.svc.cluster.local:9092"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == advertised
    assert [var["name"] for var in container["env"]].index("POD_NAME") == 0, "$(POD_NAME) must be defined first"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    for factor in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
        "KAFKA_MIN_INSYNC_REPLICAS",
    ):
        assert env[factor] == "1", factor
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
    # Service links would add KAFKA_*-looking variables that the image turns into properties.
    assert pod_spec(kafka)["enableServiceLinks"] is False


def test_ingress_routes_each_path_to_its_service():
    docs = render("defaults")
    (ingress,) = of_kind(docs, "Ingress").values()
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "arch.homework"
    services = of_kind(docs, "Service")
    routes = {}
    for path in rule["http"]["paths"]:
        assert path["pathType"] == "Prefix"
        backend = path["backend"]["service"]
        assert backend["port"] == {"name": "http"}
        assert "http" in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
        routes[path["path"]] = backend["name"]
    assert routes == {prefix: name(service, "web") for prefix, service in ROUTES.items()}

    scaled = of_kind(render("scaled"), "Ingress")[RELEASE]
    assert scaled["spec"]["tls"] == [{"secretName": "lotus-tls", "hosts": ["arch.homework"]}]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_probes(scenario):
    deployments = of_kind(render(scenario), "Deployment")
    for service in SERVICES:
        (web,) = pod_spec(deployments[name(service, "web")])["containers"]
        assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
        for component in ("relay", "consumer"):
            (worker,) = pod_spec(deployments[name(service, component)])["containers"]
            probe = worker["livenessProbe"]
            target = probe.get("tcpSocket") or probe.get("httpGet")
            assert target["port"] in ("metrics", 9100)
            assert probe.get("httpGet", {}).get("path", "/metrics") == "/metrics"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_container_has_resources_and_runs_unprivileged(scenario):
    docs = render(scenario)
    for doc in workloads(docs):
        spec = pod_spec(doc)
        assert spec["enableServiceLinks"] is False, doc["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, doc["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in all_containers(doc):
            where = f"{doc['metadata']['name']}/{container['name']}"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{where}: {kind}"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
    for doc, container in lotus_containers(docs):
        assert pod_spec(doc)["securityContext"]["runAsUser"] == 10001
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


@pytest.mark.parametrize("scenario", ["defaults", "scaled"])
def test_replicas_and_disruption_budgets(scenario):
    docs = render(scenario)
    deployments = of_kind(docs, "Deployment")
    budgets = of_kind(docs, "PodDisruptionBudget")
    assert set(budgets) == {name(service, "web") for service in SERVICES}
    for service in SERVICES:
        replicas = deployments[name(service, "web")]["spec"]["replicas"]
        budget = budgets[name(service, "web")]["spec"]
        if replicas > 1:
            assert budget["minAvailable"] == 1
            assert "maxUnavailable" not in budget
        else:
            assert budget["maxUnavailable"] == 1
            assert "minAvailable" not in budget
    if scenario == "scaled":
        assert deployments[name("orders", "web")]["spec"]["replicas"] == 3
        assert deployments[name("orders", "consumer")]["spec"]["replicas"] == 3
        assert deployments[name("billing", "relay")]["spec"]["replicas"] == 2
        assert deployments[name("billing", "consumer")]["spec"]["replicas"] == 1


@pytest.mark.parametrize("scenario", ["defaults", "external"])
def test_hook_jobs_migrate_then_create_topics_then_seed(scenario):
    jobs = of_kind(render(scenario), "Job")
    order = [f"{RELEASE}-migrate", f"{RELEASE}-kafka-topics", f"{RELEASE}-seed"]
    assert sorted(jobs) == sorted(order)
    weights = []
    for job_name in order:
        annotations = jobs[job_name]["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
        assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}
        weights.append(int(annotations["helm.sh/hook-weight"]))
        assert pod_spec(jobs[job_name])["restartPolicy"] == "Never"
    assert weights == sorted(set(weights)), weights

    def lotus_steps(job_name):
        return [argv(c)[2:] for c in all_containers(jobs[job_name]) if c["image"] == IMAGE]

    assert lotus_steps(f"{RELEASE}-migrate") == [["createdbs"], ["migrateall"]]
    assert lotus_steps(f"{RELEASE}-kafka-topics") == [["kafka_topics"]]
    assert lotus_steps(f"{RELEASE}-seed") == [["seed"]]
    waits = {c["name"] for job in jobs.values() for c in pod_spec(job).get("initContainers", []) if c["image"] != IMAGE}
    assert waits == (set() if scenario == "external" else {"wait-for-postgresql", "wait-for-kafka"})


@pytest.mark.parametrize("scenario", ["defaults", "no-servicemonitor"])
def test_service_monitors_follow_the_flag(scenario):
    docs = render(scenario)
    monitors = of_kind(docs, "ServiceMonitor")
    # The metrics Services exist either way (any Prometheus can use them).
    metrics_services = {n for n in of_kind(docs, "Service") if n.endswith("-metrics")}
    assert metrics_services == {f"{name(s, c)}-metrics" for s in SERVICES for c in ("relay", "consumer")}
    if scenario == "no-servicemonitor":
        assert monitors == {}
        assert not [doc for doc in docs if doc["apiVersion"].startswith("monitoring.coreos.com")]
        return
    assert set(monitors) == {f"{RELEASE}-web", f"{RELEASE}-relay", f"{RELEASE}-consumer"}
    ports = {n: [e["port"] for e in m["spec"]["endpoints"]] for n, m in monitors.items()}
    assert ports == {f"{RELEASE}-web": ["http"], f"{RELEASE}-relay": ["metrics"], f"{RELEASE}-consumer": ["metrics"]}
    services = of_kind(docs, "Service")
    for monitor in monitors.values():
        match = monitor["spec"]["selector"]["matchLabels"].items()
        selected = {n for n, svc in services.items() if match <= svc["metadata"]["labels"].items()}
        component = monitor["metadata"]["labels"]["app.kubernetes.io/component"]
        suffix = "web" if component == "web" else f"{component}-metrics"
        assert selected == {f"{RELEASE}-{s}-{suffix}" for s in SERVICES}


def test_secret_is_generated_once_and_kept_on_upgrade():
    template = (CHART / "templates" / "secret.yaml").read_text()
    assert re.search(r'lookup "v1" "Secret" \.Release\.Namespace \$name', template)
    assert "randAlphaNum" in template

    again = [doc for doc in yaml.safe_load_all(helm(*template_args("defaults")).stdout) if doc]
    first, second = secret_data(render("defaults")), secret_data(again)
    secret = of_kind(render("defaults"), "Secret")[RELEASE]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for key in ("django-secret-key", "jwt-signing-key", "operator-password", "postgresql-password"):
        # No cluster to look up in `helm template`: each render generates, so they differ.
        assert len(first[key]) == 50, key
        assert first[key] != second[key], key
    given = secret_data(render("scaled"))
    assert given["jwt-signing-key"] == "given-jwt-key"
    assert given["operator-password"] == "given-operator-password"


def test_values_schema_and_required_values_reject_mistakes():
    typo = helm("template", RELEASE, str(CHART), "--set", "services.biling.web.replicas=2", check=False)
    assert typo.returncode != 0
    assert "biling" in typo.stderr
    not_a_number = helm("template", RELEASE, str(CHART), "--set", "services.orders.web.replicas=many", check=False)
    assert not_a_number.returncode != 0
    no_retention = helm("template", RELEASE, str(CHART), "--set", "kafka.retentionHours=0", check=False)
    assert no_retention.returncode != 0
    assert "retentionHours" in no_retention.stderr
    no_database = helm("template", RELEASE, str(CHART), "--set", "postgresql.enabled=false", check=False)
    assert no_database.returncode != 0
    assert "externalDatabase.url" in no_database.stderr
    no_kafka = helm("template", RELEASE, str(CHART), "--set", "kafka.enabled=false", check=False)
    assert no_kafka.returncode != 0
    assert "externalKafka.bootstrapServers" in no_kafka.stderr


# -- the image --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_builds_a_runtime_only_non_root_image():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    assert "requirements-dev" not in (ROOT / "Dockerfile").read_text()
    # No key is baked in: collectstatic runs with DEBUG on, which starts without one (lotus.keys).
    assert "DJANGO_DEBUG=1 python manage.py collectstatic --noinput" in runs
    assert "SECRET_KEY" not in (ROOT / "Dockerfile").read_text()
    (user,) = [arg for op, arg in instructions if op == "USER"]
    assert not user.startswith(("root", "0")), user
    (cmd,) = [json.loads(arg) for op, arg in instructions if op == "CMD"]
    assert cmd[:4] == ["gunicorn", "lotus.wsgi", "--bind", "0.0.0.0:8000"]
    # USER comes after every RUN: the build runs as root, the container never does.
    ops = [op for op, _ in instructions]
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN")


def dockerignore_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions are not modelled by this test"
        regex = ""
        rest = line.strip("/")
        while rest:
            if rest.startswith("**/"):
                regex, rest = regex + "(?:.*/)?", rest[3:]
            elif rest.startswith("**"):
                regex, rest = regex + ".*", rest[2:]
            elif rest[0] == "*":
                regex, rest = regex + "[^/]*", rest[1:]
            elif rest[0] == "?":
                regex, rest = regex + "[^/]", rest[1:]
            else:
                regex, rest = regex + re.escape(rest[0]), rest[1:]
        patterns.append(re.compile(regex + r"\Z"))
    return patterns


def copy_build_context(dest: Path) -> set[str]:
    """Copy what `docker build .` would send (.dockerignore applied); return the copied paths."""
    patterns = dockerignore_patterns()

    def ignored(relative: str) -> bool:
        return any(pattern.match(relative) for pattern in patterns)

    copied = set()
    for folder, dirs, files in os.walk(ROOT):
        base = Path(folder).relative_to(ROOT)
        dirs[:] = [d for d in dirs if not ignored((base / d).as_posix())]
        for file in files:
            relative = (base / file).as_posix()
            if not ignored(relative):
                (dest / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / relative, dest / relative)
                copied.add(relative)
    return copied


ROUTES_SCRIPT = """
import json, django, lotus
django.setup()
from django.conf import settings
from django.urls import get_resolver
from django.urls.resolvers import URLResolver

def walk(patterns, prefix=""):
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, route)
        else:
            yield route

routes = sorted(set(walk(get_resolver().url_patterns)))
print(json.dumps({"routes": routes, "static": settings.STATIC_URL, "origin": lotus.__file__}))
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The build context as the image holds it, after the Dockerfile's collectstatic."""
    app = tmp_path_factory.mktemp("image") / "app"
    app.mkdir()
    files = copy_build_context(app)
    env = image_env(secrets=False, DJANGO_DEBUG="1")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=app,
        env=env,
        check=True,
        timeout=300,
    )
    return app, files


def image_env(*, secrets: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a container: no Lotus variables but, unless ``secrets`` is False, the
    secret key and JWT keys that the chart gives every pod (here this checkout's)."""
    from lotus import local_secrets

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LOTUS_", "KAFKA_", "PYTHONPATH"))}
    env.pop("DJANGO_SECRET_KEY", None)
    if secrets:
        env.update(local_secrets.environment(local_secrets.secrets_dir(), environ={}))
    env["DJANGO_SETTINGS_MODULE"] = "lotus.settings"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_in_image(app: Path, command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the image with this interpreter (python -> sys.executable)."""
    if command[0] == "python":
        command = [sys.executable, *command[1:]]
    elif command[0] == "gunicorn":
        command = [sys.executable, "-m", "gunicorn", *command[1:]]
    env.setdefault("LOTUS_VAR_DIR", str(app.parent / "var"))
    return subprocess.run(command, cwd=app, env=image_env(**env), capture_output=True, text=True, timeout=120)


def test_build_context_holds_the_project_and_nothing_else(image):
    app, files = image
    for needed in ("manage.py", "requirements.txt", "lotus/settings.py", "lotus/wsgi.py", "orders/migrations"):
        assert any(f == needed or f.startswith(needed + "/") for f in files), needed
    for service in SERVICES:
        assert f"{service}/apps.py" in files
    for unwanted in (".venv/", "var/", "node_modules/", ".git/", "tests/", ".pytest_cache/", "staticfiles/"):
        assert not [f for f in files if f.startswith(unwanted)], unwanted
    assert not [f for f in files if "/tests/" in f or "__pycache__" in f]
    assert (app / "staticfiles" / "admin").is_dir(), "collectstatic collected the admin's files"


ENTRYPOINTS = {
    "import lotus.wsgi": ["python", "-c", "import lotus.wsgi"],
    "gunicorn --check-config": ["gunicorn", "--check-config", "lotus.wsgi"],
    "relay --help": ["python", "manage.py", "relay", "--help"],
    "consume --help": ["python", "manage.py", "consume", "--help"],
    "expire_orders --help": ["python", "manage.py", "expire_orders", "--help"],
}


@pytest.fixture(scope="module")
def started(image):
    """Every entrypoint, the chart's own gunicorn command lines and each web's URLs, run at once."""
    app, _ = image
    jobs = {label: (command, {}) for label, command in ENTRYPOINTS.items()}
    for command in sorted({tuple(argv(c)) for s in SCENARIOS for _, c in lotus_containers(render(s))}):
        if command[0] == "gunicorn":
            jobs[shlex.join(command)] = (["gunicorn", "--check-config", *command[1:]], {})
    for service in SERVICES:
        jobs[f"routes {service}"] = (["python", "-c", ROUTES_SCRIPT], {"LOTUS_SERVICES": service})
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {label: pool.submit(run_in_image, app, command, **env) for label, (command, env) in jobs.items()}
        return {label: future.result() for label, future in futures.items()}


@pytest.mark.parametrize("label", list(ENTRYPOINTS))
def test_image_entrypoint_starts(started, label):
    result = started[label]
    assert result.returncode == 0, f"{label}: {result.stdout}\n{result.stderr}"
    if label.endswith("--help"):
        assert "usage: manage.py" in result.stdout


def test_chart_runs_only_the_images_commands(started):
    """Every Lotus container's command is an entrypoint of the image, with arguments it accepts."""
    from django.core.management import get_commands, load_command_class

    commands = get_commands()
    seen = set()
    for scenario in SCENARIOS:
        for doc, container in lotus_containers(render(scenario)):
            command = argv(container)
            where = f"{scenario}: {doc['metadata']['name']}/{container['name']}: {shlex.join(command)}"
            if command[0] == "gunicorn":
                assert command[1] == "lotus.wsgi", where
                result = started[shlex.join(command)]
                assert result.returncode == 0, f"{where}\n{result.stderr}"
                seen.add("gunicorn")
                continue
            assert command[:2] == ["python", "manage.py"], where
            subcommand, args = command[2], command[3:]
            assert subcommand in MANAGE_COMMANDS, where
            parser = load_command_class(commands[subcommand], subcommand).create_parser("manage.py", subcommand)
            options = parser.parse_args(args)
            if "--service" in args:
                assert options.service == [doc["metadata"]["labels"]["lotus/service"]], where
            seen.add(subcommand)
    assert seen == MANAGE_COMMANDS | {"gunicorn"}


def test_each_ingress_path_is_served_by_its_backend(image, started):
    """A web with LOTUS_SERVICES=<service> serves the paths the ingress sends it, and no other API."""
    served = {}
    for service in SERVICES:
        result = started[f"routes {service}"]
        assert result.returncode == 0, result.stderr
        served[service] = json.loads(result.stdout.strip().splitlines()[-1])
        assert Path(served[service]["origin"]).is_relative_to(image[0]), "the copied build context was imported"

    def serves(service: str, prefix: str) -> bool:
        bare = prefix.lstrip("/")
        return any(route == bare or route.startswith(bare + "/") for route in served[service]["routes"])

    for prefix, service in ROUTES.items():
        if prefix == "/static":
            # Static files come from WhiteNoise (middleware), collected into the image at build.
            assert served[service]["static"].strip("/") == "static"
            continue
        assert serves(service, prefix), f"{prefix} is routed to {service}, which does not serve it"
    for prefix in API_PREFIXES:
        assert [s for s in SERVICES if serves(s, prefix)] == [ROUTES[prefix]], prefix
