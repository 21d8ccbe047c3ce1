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
EXTERNAL_KAFKA_SECRET = "shop-kafka-users"
EXTERNAL_ORDERS_RO_DB = "postgresql://reader:pw@db.example:6432/shop_orders"
OTLP_ENDPOINT = "http://otel-collector.monitoring.svc:4318"
VIEWER_URL = "https://jaeger.example/trace/{trace_id}"
# Secrets the operator created before installing (not rendered by the chart).
GIVEN_JWT_SECRET = "shop-jwt"
GIVEN_DJANGO_SECRET = "shop-django"


def sets(*assignments: str) -> list[str]:
    return [arg for assignment in assignments for arg in ("--set", assignment)]


SCENARIOS: dict[str, list[str]] = {
    "defaults": [],
    # A laptop or minikube without a policy-enforcing CNI: no SASL, no NetworkPolicies, no admin.
    "laptop": sets("kafka.sasl.enabled=false", "networkPolicy.enabled=false", "admin.enabled=false"),
    "external": sets(
        "postgresql.enabled=false",
        "kafka.enabled=false",
        f"externalDatabase.url={EXTERNAL_DB}",
        f"externalDatabase.urls.billing={EXTERNAL_BILLING_DB}",
        "externalKafka.bootstrapServers=" + EXTERNAL_KAFKA.replace(",", "\\,"),
        "externalKafka.securityProtocol=SASL_SSL",
        f"externalKafka.existingSecret={EXTERNAL_KAFKA_SECRET}",
        f"externalDatabase.readOnlyUrls.orders={EXTERNAL_ORDERS_RO_DB}",
    ),
    "no-servicemonitor": sets("metrics.serviceMonitor.enabled=false"),
    "scaled": sets(
        "services.orders.web.replicas=3",
        "services.orders.consumer.replicas=3",
        "services.billing.relay.replicas=2",
        "kafka.partitions=6",
        "kafka.retentionHours=72",
        f"secrets.jwt.existingSecret={GIVEN_JWT_SECRET}",
        f"secrets.djangoExistingSecret={GIVEN_DJANGO_SECRET}",
        "secrets.operatorPassword=given-operator-password",
        "config.LOTUS_PAYMENT_TIMEOUT=900",
        "ingress.tls.secretName=lotus-tls",
        "ingress.exposeAdmin=true",
        "ingress.exposeMetrics=true",
        "kafka.topicNamespace=shop1",
        "deadlines.enabled=false",
    ),
    # helm/lotus/values-production.yaml: three Kafka nodes, three copies, more replicas.
    "production": ["--values", str(CHART / "values-production.yaml")],
    # Spans to an OpenTelemetry collector, one saga in four, linked from the admin.
    "tracing": [
        *sets(
            "tracing.enabled=true", f"tracing.otlpEndpoint={OTLP_ENDPOINT}", "tracing.sampler=parentbased_traceidratio"
        ),
        *("--set-string", "tracing.samplerArg=0.25", "--set-string", f"tracing.viewerUrl={VIEWER_URL}"),
    ],
}

# Ingress prefix -> the service whose web serves it (by default; OPTIONAL_ROUTES only when a
# value says so).
ROUTES = {
    "/profile": "profiles",
    "/billing": "billing",
    "/order": "orders",
    "/stock": "stock",
    "/delivery": "delivery",
    "/notification": "notifications",
    "/api": "profiles",
    "/api-auth": "profiles",
    "/static": "profiles",
    "/healthz": "profiles",
    "/readyz": "profiles",
}
OPTIONAL_ROUTES = {"/admin": "admin", "/metrics": "profiles"}
API_PREFIXES = ("/profile", "/billing", "/order", "/stock", "/delivery", "/notification")

# The image's commands: what the chart may run from the Lotus image.
MANAGE_COMMANDS = {"relay", "consume", "expire_orders", "createdbs", "migrateall", "kafka_topics", "seed", "reconcile"}


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


def render_with(*assignments: str) -> list[dict]:
    """The manifests of the defaults with ``--set`` ``assignments``."""
    out = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *sets(*assignments)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


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


def secret_data(docs: list[dict], owner: str) -> dict[str, str]:
    """The decoded data of the Secret <release>-<owner> (a service, admin, jobs, postgresql, kafka)."""
    secret = of_kind(docs, "Secret")[f"{RELEASE}-{owner}"]
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def all_secrets(docs: list[dict]) -> dict[str, dict[str, str]]:
    return {
        name: {key: base64.b64decode(value).decode() for key, value in doc["data"].items()}
        for name, doc in of_kind(docs, "Secret").items()
    }


GIVEN_SECRETS = {GIVEN_JWT_SECRET, GIVEN_DJANGO_SECRET, EXTERNAL_KAFKA_SECRET}


def secret_refs(container: dict) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) of every secretKeyRef of a container."""
    return {
        var["name"]: (var["valueFrom"]["secretKeyRef"]["name"], var["valueFrom"]["secretKeyRef"]["key"])
        for var in container.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }


def resolve_env(container: dict, docs: list[dict]) -> dict[str, tuple[str, str]]:
    """Name -> (source, value) as the kubelet would see it; source is value, configmap or secret
    (a Secret the operator gives resolves to ("given", "<secret>/<key>"))."""
    configmaps = {name: doc.get("data", {}) for name, doc in of_kind(docs, "ConfigMap").items()}
    secrets = all_secrets(docs)
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
            if ref["name"] in GIVEN_SECRETS:
                env[var["name"]] = ("given", f"{ref['name']}/{ref['key']}")
                continue
            assert ref["name"] in secrets, f"{var['name']} reads an unknown Secret {ref['name']}"
            data = secrets[ref["name"]]
            assert ref["key"] in data, f"{var['name']} reads the missing key {ref['key']} of {ref['name']}"
            env[var["name"]] = ("secret", data[ref["key"]])
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
            topics = ["python", "manage.py", "kafka_topics"] + (
                ["--wait", "--service", service] if sasl(scenario) else []
            )
            assert init == ([topics] if component == "consumer" else [])
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


def owner_of(doc: dict) -> str:
    """Whose Secret a Lotus workload reads: its service, the admin, or the hook Jobs."""
    labels = doc["metadata"]["labels"]
    if labels.get("lotus/service"):
        return labels["lotus/service"]
    return "admin" if labels["app.kubernetes.io/component"] in {"admin", "reconcile"} else "jobs"


#: The databases each kind of workload opens; a service's own pods open only its own.
DATABASES_OF = {"admin": SERVICES, "reconcile": SERVICES, "migrate": SERVICES, "seed": SERVICES, "kafka-topics": ()}


def sasl(scenario: str) -> bool:
    return scenario not in {"laptop", "external"}


def kafka_pod_host(index: int) -> str:
    return f"{RELEASE}-kafka-{index}.{RELEASE}-kafka.{NAMESPACE}.svc.cluster.local"


def bootstrap_servers(scenario: str) -> str:
    """KAFKA_BOOTSTRAP_SERVERS: the external cluster, the one node's Service, or every node."""
    if scenario == "external":
        return EXTERNAL_KAFKA
    if scenario == "production":
        return ",".join(f"{kafka_pod_host(i)}:9092" for i in range(3))
    return f"{RELEASE}-kafka.{NAMESPACE}.svc.cluster.local:9092"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_lotus_container_gets_its_environment(scenario):
    docs = render(scenario)
    for doc, container in lotus_containers(docs):
        where = f"{doc['metadata']['name']}/{container['name']}"
        env = resolve_env(container, docs)
        labels = doc["metadata"]["labels"]
        service = labels.get("lotus/service")
        expected_services = service or ",".join(SERVICES)
        assert env["LOTUS_SERVICES"] == ("value", expected_services), where
        assert env["DJANGO_SECRET_KEY"][0] in {"secret", "given"}, where
        assert env["LOTUS_JWT_PUBLIC_KEY"][0] in {"secret", "given"}, where
        assert "LOTUS_JWT_SIGNING_KEY" not in env, f"{where}: the shared HS256 key is gone"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == ("configmap", bootstrap_servers(scenario)), where
        expected_partitions = "6" if scenario in {"scaled", "production"} else "3"
        assert env["LOTUS_KAFKA_PARTITIONS"] == ("configmap", expected_partitions), where
        # The topics Job creates the topics with them; every process reads the same values.
        expected_copies = ("3", "2") if scenario == "production" else ("1", "1")
        assert (env["LOTUS_KAFKA_REPLICATION_FACTOR"], env["LOTUS_KAFKA_MIN_INSYNC_REPLICAS"]) == tuple(
            ("configmap", value) for value in expected_copies
        ), where
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
        assert ("LOTUS_TLS" in env) is (scenario == "scaled"), where


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_pod_holds_only_its_own_secrets(scenario):
    """No pod of service A gets B's database URL, another component's Django key or Kafka
    password, and only profiles gets the JWT private key; each reads only its own Secret."""
    docs = render(scenario)
    secrets = all_secrets(docs)
    django_keys: dict[str, set[str]] = {}
    for doc, container in lotus_containers(docs):
        where = f"{doc['metadata']['name']}/{container['name']}"
        owner = owner_of(doc)
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        env = resolve_env(container, docs)
        refs = secret_refs(container)
        own = f"{RELEASE}-{owner}"
        for variable, (secret, _key) in refs.items():
            assert secret in {own} | GIVEN_SECRETS, f"{where}: {variable} reads {secret}, not its own {own}"

        databases = DATABASES_OF.get(component, (owner,))
        assert {v for v in env if v.startswith("DATABASE_URL")} == {f"DATABASE_URL_{s.upper()}" for s in databases}, (
            where
        )
        for each in databases:
            assert env[f"DATABASE_URL_{each.upper()}"] == ("secret", secrets[own][f"database-url-{each}"]), where

        private = "LOTUS_JWT_PRIVATE_KEY" in env
        assert private is (owner == "profiles"), f"{where}: the JWT private key belongs to profiles alone"
        if scenario == "scaled":
            assert env["LOTUS_JWT_PUBLIC_KEY"] == ("given", f"{GIVEN_JWT_SECRET}/public-key"), where
            assert env["DJANGO_SECRET_KEY"] == ("given", f"{GIVEN_DJANGO_SECRET}/django-secret-key-{owner}"), where
            if private:
                assert env["LOTUS_JWT_PRIVATE_KEY"] == ("given", f"{GIVEN_JWT_SECRET}/private-key"), where
        else:
            assert env["LOTUS_JWT_PUBLIC_KEY"] == ("secret", secrets[own]["jwt-public-key"]), where
            django_keys.setdefault(owner, set()).add(env["DJANGO_SECRET_KEY"][1])
            assert len(env["DJANGO_SECRET_KEY"][1]) == 64, where

        principal = {"jobs": "kafka-admin"}.get(owner, owner)
        kafka_user = component in {"web", "relay", "consumer", "deadlines", "admin", "kafka-topics"}
        if sasl(scenario) and kafka_user:
            assert env["KAFKA_SASL_USERNAME"] == ("value", principal), where
            assert env["KAFKA_SASL_PASSWORD"] == ("secret", secrets[f"{RELEASE}-kafka"][f"password-{principal}"]), where
        elif scenario == "external" and kafka_user:
            assert env["KAFKA_SASL_USERNAME"] == ("given", f"{EXTERNAL_KAFKA_SECRET}/username-{owner}"), where
            assert env["KAFKA_SASL_PASSWORD"] == ("given", f"{EXTERNAL_KAFKA_SECRET}/password-{owner}"), where
        else:
            assert "KAFKA_SASL_PASSWORD" not in env, f"{where} does not talk to Kafka with credentials"
    if scenario != "scaled":
        # Each component its own Django key: one leaked pod cannot sign another's sessions.
        assert all(len(keys) == 1 for keys in django_keys.values()), django_keys
        values = [next(iter(keys)) for keys in django_keys.values()]
        assert len(set(values)) == len(values), "two components share a Django key"
    jwt_holders = {name for name, data in secrets.items() if "jwt-private-key" in data}
    assert jwt_holders == (set() if scenario == "scaled" else {f"{RELEASE}-profiles"})


def test_database_urls_point_at_the_charts_postgresql():
    """Each service logs in as its own role to its own database; the admin as read-only roles;
    PostgreSQL's superuser password reaches only PostgreSQL and the migrate Job's psql steps."""
    docs = render("defaults")
    secrets = all_secrets(docs)
    passwords = secrets[f"{RELEASE}-postgresql"]
    postgres = of_kind(docs, "StatefulSet")[f"{RELEASE}-postgresql"]
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:15"
    assert f"{RELEASE}-postgresql" in of_kind(docs, "Service")
    for owner, services, suffix in [
        *((service, [service], "") for service in SERVICES),
        ("jobs", SERVICES, ""),
        ("admin", SERVICES, "_ro"),
    ]:
        for service in services:
            url = urlsplit(secrets[f"{RELEASE}-{owner}"][f"database-url-{service}"])
            assert url.scheme == "postgresql"
            assert url.hostname == f"{RELEASE}-postgresql.{NAMESPACE}.svc.cluster.local"
            assert url.port == 5432
            assert url.path == f"/lotus_{service}"
            assert url.username == f"lotus_{service}{suffix}", owner
            assert unquote(url.password) == passwords[f"password-{service}{suffix.replace('_', '-')}"]
    all_passwords = [v for k, v in passwords.items() if k.startswith("password-")]
    assert len(set(all_passwords)) == len(all_passwords) == 2 * len(SERVICES)
    (container,) = pod_spec(postgres)["containers"]
    env = resolve_env(container, docs)
    assert env["POSTGRES_PASSWORD"] == ("secret", passwords["postgres-password"])
    assert env["POSTGRES_USER"] == ("value", "lotus")
    for service in SERVICES:
        assert env[f"PW_{service.upper()}"] == ("secret", passwords[f"password-{service}"])
        assert env[f"PW_{service.upper()}_RO"] == ("secret", passwords[f"password-{service}-ro"])
    superuser = {
        f"{doc['metadata']['name']}/{c['name']}"
        for doc in workloads(docs)
        for c in all_containers(doc)
        if any(key == "postgres-password" for _, key in secret_refs(c).values())
    }
    assert superuser == {
        f"{RELEASE}-postgresql/postgresql",
        f"{RELEASE}-migrate/postgresql-roles",
        f"{RELEASE}-migrate/postgresql-grants",
    }


def test_postgresql_roles_script_covers_every_service_and_the_admins_tables():
    """lotus-roles.sh (the volume's first start and the migrate Job) creates the roles and
    databases the URLs name, and grants the admin's read-only role on profiles exactly the
    tables Django's admin writes when an operator signs in."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    from reconciliation.models import ReconciliationRun

    docs = render("defaults")
    statefulset = of_kind(docs, "StatefulSet")[f"{RELEASE}-postgresql"]
    mounts = {m["mountPath"]: m["name"] for m in pod_spec(statefulset)["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(statefulset)["volumes"]}
    assert volumes[mounts["/docker-entrypoint-initdb.d"]]["configMap"]["name"] == f"{RELEASE}-postgresql-initdb"
    # Executed, not sourced into the entrypoint's shell.
    assert volumes[mounts["/docker-entrypoint-initdb.d"]]["configMap"]["defaultMode"] == 0o555
    script = of_kind(docs, "ConfigMap")[f"{RELEASE}-postgresql-initdb"]["data"]["lotus-roles.sh"]
    (services,) = re.findall(r"^for service in ([\w ]+); do$", script, re.M)
    assert services.split() == list(SERVICES)
    assert 'database="${POSTGRES_DB}_$service"' in script
    assert "REVOKE ALL ON DATABASE" in script
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in script
    granted = set(re.findall(r"GRANT [A-Za-z, ()_]+ ON public\.(\w+) TO", script))
    assert granted == {
        Session._meta.db_table,
        get_user_model()._meta.db_table,
        LogEntry._meta.db_table,
        ReconciliationRun._meta.db_table,
    }
    assert f"GRANT UPDATE (last_login) ON public.{get_user_model()._meta.db_table}" in script

    migrate = of_kind(docs, "Job")[f"{RELEASE}-migrate"]
    steps = [c["name"] for c in all_containers(migrate)]
    assert steps == ["wait-for-postgresql", "postgresql-roles", "createdbs", "migrateall", "postgresql-grants"]
    for container in all_containers(migrate)[1:]:
        if container["name"].startswith("postgresql-"):
            assert argv(container) == ["sh", "/scripts/lotus-roles.sh"]


def test_external_database_urls_follow_the_settings_rules(monkeypatch, tmp_path):
    """The chart's per-service URLs give the same DATABASES as DATABASE_URL (+ overrides) would."""
    docs = render("external")
    secrets = all_secrets(docs)
    assert f"{RELEASE}-postgresql" not in secrets
    assert not of_kind(docs, "StatefulSet")

    for key in [k for k in os.environ if k.startswith("DATABASE_URL")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", EXTERNAL_DB)
    monkeypatch.setenv("DATABASE_URL_BILLING", EXTERNAL_BILLING_DB)
    expected = database_settings(environ.Env(), tmp_path)

    monkeypatch.delenv("DATABASE_URL")
    for service in SERVICES:
        own = secrets[f"{RELEASE}-{service}"][f"database-url-{service}"]
        assert secrets[f"{RELEASE}-jobs"][f"database-url-{service}"] == own
        monkeypatch.setenv(f"DATABASE_URL_{service.upper()}", own)
        admin = secrets[f"{RELEASE}-admin"][f"database-url-{service}"]
        assert admin == (EXTERNAL_ORDERS_RO_DB if service == "orders" else own), service
    assert database_settings(environ.Env(), tmp_path) == expected
    assert expected["billing"]["NAME"] == "ledger"
    assert expected["orders"]["NAME"] == "shop_orders"
    assert expected["orders"]["PASSWORD"] == "s3cr@t"


def kafka_files(docs: list[dict]) -> dict[str, str]:
    return of_kind(docs, "ConfigMap")[f"{RELEASE}-kafka-config"]["data"]


def properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.parametrize("scenario", ["defaults", "laptop", "external"])
def test_kafka_bootstrap_servers(scenario):
    docs = render(scenario)
    config = of_kind(docs, "ConfigMap")[f"{RELEASE}-config"]["data"]
    if scenario == "external":
        assert config["KAFKA_BOOTSTRAP_SERVERS"] == EXTERNAL_KAFKA
        assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
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
    assert argv(container) == ["bash", "/etc/lotus-kafka/start.sh"]
    env = {var["name"]: var.get("value") for var in container["env"]}
    assert [var["name"] for var in container["env"]].index("POD_NAME") == 0, "$(POD_NAME) must be defined first"
    assert env["ADVERTISED_HOST"] == f"$(POD_NAME).{RELEASE}-kafka.{NAMESPACE}.svc.cluster.local"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
    files = kafka_files(docs)
    props = properties(files["server.properties"])
    listener = "SASL_PLAINTEXT" if sasl(scenario) else "PLAINTEXT"
    assert config["KAFKA_SECURITY_PROTOCOL"] == listener
    assert props["node.id"] == "1"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@localhost:9093"
    assert props["listeners"] == f"{listener}://:9092,CONTROLLER://localhost:9093"
    assert props["listener.security.protocol.map"] == f"CONTROLLER:PLAINTEXT,{listener}:{listener}"
    assert props["inter.broker.listener.name"] == listener
    assert f'echo "advertised.listeners={listener}://${{ADVERTISED_HOST}}:9092"' in files["start.sh"]
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for factor in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "default.replication.factor",
        "min.insync.replicas",
    ):
        assert props[factor] == "1", factor
    # Service links would add KAFKA_*-looking variables.
    assert pod_spec(kafka)["enableServiceLinks"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(kafka)["volumes"]}
    assert volumes[mounts["/etc/lotus-kafka"]]["configMap"]["name"] == f"{RELEASE}-kafka-config"
    # A changed configuration or ACL list restarts the broker, whose start-up applies it.
    assert kafka["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


@pytest.mark.parametrize("scenario", ["defaults", "scaled", "laptop"])
def test_kafka_takes_sasl_scram_with_an_authorizer_by_default(scenario):
    docs = render(scenario)
    files = kafka_files(docs)
    props = properties(files["server.properties"])
    env = {
        var["name"]: var for var in pod_spec(of_kind(docs, "StatefulSet")[f"{RELEASE}-kafka"])["containers"][0]["env"]
    }
    principals = ["broker", "kafka-admin", "admin", *SERVICES]
    if not sasl(scenario):
        assert not {key for key in props if key.startswith(("sasl.", "authorizer", "super.users"))}
        assert "--add-scram" not in files["start.sh"]
        assert not [name for name in env if name.startswith("SCRAM_")]
        assert f"{RELEASE}-kafka" not in of_kind(docs, "Secret")
        return
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    # ANONYMOUS only exists on the controller listener, which listens on localhost alone.
    assert props["super.users"] == "User:broker;User:kafka-admin;User:ANONYMOUS"
    assert "CONTROLLER://localhost:9093" in props["listeners"]
    passwords = secret_data(docs, "kafka")
    assert set(passwords) == {f"password-{p}" for p in principals}
    assert len(set(passwords.values())) == len(principals)
    for principal in principals:
        variable = f"SCRAM_PASSWORD_{principal.upper().replace('-', '_')}"
        assert env[variable]["valueFrom"]["secretKeyRef"] == {
            "name": f"{RELEASE}-kafka",
            "key": f"password-{principal}",
        }
        # Created when the volume is formatted, upserted at every start.
        assert f'--add-scram "SCRAM-SHA-512=[name={principal},password=${{{variable}}}]"' in files["start.sh"]
        assert f"--entity-name {principal} \\\n" in files["setup.sh"]
    assert "kafka-storage.sh format --ignore-formatted" in files["start.sh"]
    assert 'username=\\"broker\\" password=\\"${SCRAM_PASSWORD_BROKER}\\"' in files["start.sh"]
    assert "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config" in files["start.sh"]
    assert 'username=\\"kafka-admin\\"' in files["setup.sh"]


def code_acls() -> dict[str, dict[str, set[str]]]:
    """Each service's Kafka rights as the code implies them (logical names):
    write: the topics of the contracts its non-handler modules use (what its services send),
           diagnostics.commands (`manage.py ping` sends a Ping from any service's outbox) and
           its dead letters (the outbox publishes them);
    read:  the topics its consumer subscribes to (lotus.bootstrap.handlers_for)."""
    import ast

    from lotus import contracts
    from lotus.bootstrap import handlers_for

    by_name = {cls.__name__: cls for cls in contracts.MESSAGES}
    acls = {}
    for service in SERVICES:
        sent = set()
        for module in sorted((ROOT / service).glob("*.py")):
            if module.name == "handlers.py":
                continue
            for node in ast.walk(ast.parse(module.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lotus.contracts"):
                    sent |= {by_name[alias.name].topic for alias in node.names if alias.name in by_name}
        # A handler may send too: any contract built inside a send(...) call there.
        handlers = ast.parse((ROOT / service / "handlers.py").read_text())
        for call in ast.walk(handlers):
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "send":
                for inner in ast.walk(call):
                    if isinstance(inner, ast.Name) and inner.id in by_name:
                        sent.add(by_name[inner.id].topic)
        acls[service] = {
            "write": sent | {"diagnostics.commands", f"{service}.deadletter"},
            "read": set(handlers_for(service).topics()),
        }
    return acls


def rendered_acls(docs: list[dict], prefix: str = "") -> dict[str, dict[str, set[str]]]:
    acls: dict[str, dict[str, set[str]]] = {}
    for line in kafka_files(docs)["acls.txt"].splitlines():
        if not line.strip():
            continue
        principal, operation, kind, *names = line.split()
        assert all(name.startswith(prefix) for name in names), line
        names = {name.removeprefix(prefix) for name in names}
        entry = acls.setdefault(principal, {"write": set(), "read": set(), "group": set()})
        if kind == "group":
            assert operation == "Read", line
            entry["group"] |= names
        else:
            assert (kind, operation) in {("topic", "Write"), ("topic", "Read")}, line
            entry[operation.lower()] |= names
    return acls


@pytest.mark.parametrize("scenario", ["defaults", "scaled"])
def test_kafka_acls_match_the_codes_topology(scenario):
    """Each service may write only the topics it sends on and read only those it consumes, in
    its own consumer group; the topics the broker creates are exactly the code's."""
    from lotus.messaging import kafka

    docs = render(scenario)
    prefix = "shop1." if scenario == "scaled" else ""
    expected = code_acls()
    acls = rendered_acls(docs, prefix)
    assert set(acls) == set(SERVICES), "a principal per service, and no ACL for admin or anyone else"
    for service in SERVICES:
        assert acls[service]["write"] == expected[service]["write"], service
        assert acls[service]["read"] == expected[service]["read"], service
        with override_kafka_namespace(prefix.rstrip(".")):
            assert acls[service]["group"] == {kafka.consumer_group(service).removeprefix(prefix)}
    # Commands are sent by orders alone; nobody but a topic's owner publishes its events.
    for topic in {t for acl in acls.values() for t in acl["write"]}:
        owner, kind = topic.split(".")
        writers = {s for s in SERVICES if topic in acls[s]["write"]}
        if kind == "events" or kind == "deadletter":
            assert writers == {owner}, topic
    assert {s for s in SERVICES if "billing.commands" in acls[s]["write"]} == {"orders"}
    topics = [line for line in kafka_files(docs)["topics.txt"].splitlines() if line]
    with override_kafka_namespace(""):
        assert sorted(t.removeprefix(prefix) for t in topics) == sorted(kafka.all_topics())
    assert f"--config retention.ms={(72 if scenario == 'scaled' else 168) * 3600000}" in kafka_files(docs)["setup.sh"]


def override_kafka_namespace(namespace: str):
    from lotus.testing import lotus_override

    return lotus_override("KAFKA", NAMESPACE=namespace)


@pytest.mark.parametrize("scenario", ["defaults", "laptop"])
def test_consumers_wait_for_their_topics_where_they_may_not_create_them(scenario):
    deployments = of_kind(render(scenario), "Deployment")
    for service in SERVICES:
        (init,) = pod_spec(deployments[name(service, "consumer")])["initContainers"]
        if sasl(scenario):
            assert argv(init) == ["python", "manage.py", "kafka_topics", "--wait", "--service", service]
        else:
            assert argv(init) == ["python", "manage.py", "kafka_topics"]


@pytest.mark.parametrize("scenario", ["defaults", "scaled"])
def test_ingress_routes_each_path_to_its_service(scenario):
    """/admin (to the admin's own Deployment) and /metrics only when a value says so; TLS when
    ingress.tls.secretName is given."""
    docs = render(scenario)
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
    expected = {prefix: name(service, "web") for prefix, service in ROUTES.items()}
    if scenario == "scaled":
        expected |= {"/admin": f"{RELEASE}-admin", "/metrics": name("profiles", "web")}
        assert ingress["spec"]["tls"] == [{"secretName": "lotus-tls", "hosts": ["arch.homework"]}]
        config = of_kind(docs, "ConfigMap")[f"{RELEASE}-config"]["data"]
        assert config["DJANGO_CSRF_TRUSTED_ORIGINS"] == "https://arch.homework"
    else:
        assert "tls" not in ingress["spec"]
    assert routes == expected
    # No prefix of the default routes reaches /admin or /metrics by accident.
    for hidden in OPTIONAL_ROUTES:
        if scenario == "defaults":
            assert not [p for p in routes if hidden == p or hidden.startswith(p.rstrip("/") + "/")], hidden


def test_the_admin_runs_on_its_own_with_read_only_roles():
    docs = render("defaults")
    admin = of_kind(docs, "Deployment")[f"{RELEASE}-admin"]
    (container,) = pod_spec(admin)["containers"]
    assert argv(container)[:4] == ["gunicorn", "lotus.wsgi", "--bind", "0.0.0.0:8000"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = resolve_env(container, docs)
    assert env["LOTUS_SERVICES"] == ("value", ",".join(SERVICES))
    for service in SERVICES:
        assert urlsplit(env[f"DATABASE_URL_{service.upper()}"][1]).username == f"lotus_{service}_ro"
    assert of_kind(docs, "Service")[f"{RELEASE}-admin"]["spec"]["selector"] == pod_spec_labels(admin, selector=True)
    assert f"{RELEASE}-admin" not in of_kind(render("laptop"), "Deployment")


def test_the_reconciliation_runs_on_a_schedule_with_the_admins_read_only_roles():
    docs = render("defaults")
    reconcile = of_kind(docs, "Deployment")[f"{RELEASE}-reconcile"]
    (container,) = pod_spec(reconcile)["containers"]
    assert argv(container) == ["python", "manage.py", "reconcile", "--every", "300"]
    assert reconcile["spec"]["replicas"] == 1
    assert reconcile["spec"]["strategy"] == {"type": "Recreate"}
    env = resolve_env(container, docs)
    assert env["LOTUS_RECONCILE_GRACE_SECONDS"] == ("value", "60")
    for service in SERVICES:
        assert urlsplit(env[f"DATABASE_URL_{service.upper()}"][1]).username == f"lotus_{service}_ro"
    assert "KAFKA_SASL_PASSWORD" not in env, "it reads only databases"
    policy = of_kind(docs, "NetworkPolicy")[f"{RELEASE}-postgresql"]
    sources = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert "reconcile" in sources
    assert f"{RELEASE}-reconcile" not in of_kind(render("laptop"), "Deployment"), "no admin Secret, no reconcile"
    tuned = of_kind(render_with("reconcile.everySeconds=60", "reconcile.graceSeconds=5"), "Deployment")[
        f"{RELEASE}-reconcile"
    ]
    (container,) = pod_spec(tuned)["containers"]
    assert argv(container)[-1] == "60"
    assert {"name": "LOTUS_RECONCILE_GRACE_SECONDS", "value": "5"} in container["env"]
    disabled = render_with("reconcile.enabled=false")
    assert f"{RELEASE}-reconcile" not in of_kind(disabled, "Deployment")


def pod_spec_labels(doc: dict, *, selector: bool = False) -> dict[str, str]:
    return doc["spec"]["selector"]["matchLabels"] if selector else doc["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against a label set."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def component_of(doc: dict) -> str:
    return doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]


@pytest.mark.parametrize("scenario", ["defaults", "laptop", "external"])
def test_network_policies_admit_only_the_right_pods(scenario):
    """web/admin <- the ingress controller; PostgreSQL <- the pods holding a database URL;
    Kafka <- the Lotus pods that talk to it; everything else of the release refuses ingress."""
    docs = render(scenario)
    policies = of_kind(docs, "NetworkPolicy")
    if scenario == "laptop":
        assert policies == {}
        return
    pods = {doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"] for doc in workloads(docs)}
    port_names = {
        doc["metadata"]["name"]: {p["name"] for c in all_containers(doc) for p in c.get("ports", [])}
        for doc in workloads(docs)
    }

    def selected(policy: dict) -> set[str]:
        return {n for n, labels in pods.items() if selects(policy["spec"]["podSelector"], labels)}

    deny = policies[f"{RELEASE}-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    assert selected(policies[f"{RELEASE}-default-deny"]) == set(pods), "every pod of the release"
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for target in selected(policy):
            for rule in policy["spec"].get("ingress", []):
                for port in rule["ports"]:
                    assert port["port"] in port_names[target], (policy["metadata"]["name"], target, port)

    def admitted(policy_name: str) -> set[str]:
        (rule,) = policies[f"{RELEASE}-{policy_name}"]["spec"]["ingress"]
        (peer,) = rule["from"]
        assert set(peer) == {"podSelector"}, "pods of this namespace only"
        return {n for n, labels in pods.items() if selects(peer["podSelector"], labels)}

    web = policies[f"{RELEASE}-web"]
    assert selected(web) == {name(s, "web") for s in SERVICES} | {f"{RELEASE}-admin"}
    controller, metrics = web["spec"]["ingress"]
    assert controller["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    assert controller["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    workers = policies[f"{RELEASE}-workers"]
    assert selected(workers) == {name(s, c) for s in SERVICES for c in ("relay", "consumer")}
    assert [rule["ports"] for rule in workers["spec"]["ingress"]] == [[{"port": "metrics", "protocol": "TCP"}]]

    lotus_pods = {doc["metadata"]["name"] for doc, _ in lotus_containers(docs)}
    with_database = {
        doc["metadata"]["name"]
        for doc, c in lotus_containers(docs)
        if any(k.startswith("DATABASE_URL") for k in resolve_env(c, docs))
    }
    with_kafka = {
        doc["metadata"]["name"]
        for doc, c in lotus_containers(docs)
        if component_of(doc) in {"web", "relay", "consumer", "deadlines", "admin", "kafka-topics"}
    }
    if scenario == "external":
        assert f"{RELEASE}-postgresql" not in policies
        assert f"{RELEASE}-kafka" not in policies
        return
    assert selected(policies[f"{RELEASE}-postgresql"]) == {f"{RELEASE}-postgresql"}
    assert admitted("postgresql") == with_database
    assert with_database < lotus_pods
    assert f"{RELEASE}-kafka-topics" not in with_database
    assert selected(policies[f"{RELEASE}-kafka"]) == {f"{RELEASE}-kafka"}
    assert admitted("kafka") == with_kafka | {f"{RELEASE}-kafka"}
    assert {f"{RELEASE}-migrate", f"{RELEASE}-seed"}.isdisjoint(with_kafka)


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


def budget_of(docs: list[dict], workload: dict) -> list[dict]:
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return [pdb for pdb in of_kind(docs, "PodDisruptionBudget").values() if selects(pdb["spec"]["selector"], labels)]


def test_production_kafka_is_a_three_node_quorum():
    """values-production.yaml: three KRaft nodes, each broker and controller, one volume each,
    started together, spread over Kubernetes nodes, drained one at a time, three copies."""
    docs = render("production")
    kafka = of_kind(docs, "StatefulSet")[f"{RELEASE}-kafka"]
    spec = kafka["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "Parallel", "a quorum cannot form one ready pod at a time"
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    (container,) = pod_spec(kafka)["containers"]
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}["/var/lib/kafka/data"] == "data"
    assert {"name": "controller", "containerPort": 9093, "protocol": "TCP"} in container["ports"]
    env = {var["name"]: var.get("value") for var in container["env"]}
    assert env["ADVERTISED_HOST"] == f"$(POD_NAME).{RELEASE}-kafka.{NAMESPACE}.svc.cluster.local"

    pods = spec["template"]["metadata"]["labels"]
    (term,) = pod_spec(kafka)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert selects(term["labelSelector"], pods)
    assert not [
        doc for doc in workloads(docs) if doc is not kafka and selects(term["labelSelector"], pod_spec_labels(doc))
    ]

    (budget,) = budget_of(docs, kafka)
    assert budget["spec"] == {"maxUnavailable": 1, "selector": budget["spec"]["selector"]}

    files = kafka_files(docs)
    props = properties(files["server.properties"])
    # node.id: the pod's ordinal, so node i is the voter i@<pod i>.
    assert "node.id" not in props
    assert 'echo "node.id=${POD_NAME##*-}" >> "$config"' in files["start.sh"]
    voters = props["controller.quorum.voters"].split(",")
    assert voters == [f"{i}@{kafka_pod_host(i)}:9093" for i in range(3)]
    assert spec["serviceName"] == f"{RELEASE}-kafka"
    assert props["process.roles"] == "broker,controller"
    # The controllers reach each other across pods, as the principal broker over SASL/PLAIN
    # (SCRAM credentials live in the metadata the quorum serves); ANONYMOUS is no super user.
    assert props["listeners"] == "SASL_PLAINTEXT://:9092,CONTROLLER://:9093"
    assert props["listener.security.protocol.map"] == "CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert props["super.users"] == "User:broker;User:kafka-admin"
    assert (
        'PlainLoginModule required username=\\"broker\\" password=\\"${SCRAM_PASSWORD_BROKER}\\" '
        'user_broker=\\"${SCRAM_PASSWORD_BROKER}\\";'
    ) in files["start.sh"]
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["num.partitions"] == "6"
    setup = files["setup.sh"]
    assert "--partitions 6 --replication-factor 3" in setup
    assert "--config min.insync.replicas=2" in setup
    # Topics wait for three live brokers; credentials and ACLs come first, from any node.
    assert setup.index("kafka-broker-api-versions.sh") < setup.index("--create --if-not-exists")
    assert setup.index("kafka-acls.sh") < setup.index("kafka-broker-api-versions.sh")
    assert "-ge 3 ]" in setup

    config = of_kind(docs, "ConfigMap")[f"{RELEASE}-config"]["data"]
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap_servers("production")

    # Only Kafka's own pods reach the controller port.
    policies = of_kind(docs, "NetworkPolicy")
    quorum = policies[f"{RELEASE}-kafka-quorum"]["spec"]
    assert selects(quorum["podSelector"], pods)
    (rule,) = quorum["ingress"]
    (peer,) = rule["from"]
    assert {
        doc["metadata"]["name"] for doc in workloads(docs) if selects(peer["podSelector"], pod_spec_labels(doc))
    } == {f"{RELEASE}-kafka"}
    assert rule["ports"] == [{"port": "controller", "protocol": "TCP"}]
    assert not [
        r
        for r in policies[f"{RELEASE}-kafka"]["spec"]["ingress"]
        for port in r["ports"]
        if port["port"] == "controller"
    ]


def test_production_runs_several_replicas_of_every_service():
    deployments = of_kind(render("production"), "Deployment")
    for service in SERVICES:
        assert deployments[name(service, "web")]["spec"]["replicas"] >= 2
        assert deployments[name(service, "relay")]["spec"]["replicas"] >= 2
        # Consumers beyond the partitions would stand idle.
        assert 2 <= deployments[name(service, "consumer")]["spec"]["replicas"] <= 6


@pytest.mark.parametrize("scenario", ["defaults", "laptop"])
def test_default_kafka_is_one_node_without_a_budget(scenario):
    docs = render(scenario)
    kafka = of_kind(docs, "StatefulSet")[f"{RELEASE}-kafka"]
    assert kafka["spec"]["replicas"] == 1
    assert "podManagementPolicy" not in kafka["spec"], "immutable: an upgrade of a one-node release keeps it"
    assert "affinity" not in pod_spec(kafka)
    assert budget_of(docs, kafka) == []
    assert f"{RELEASE}-kafka-quorum" not in of_kind(docs, "NetworkPolicy")
    setup = kafka_files(docs)["setup.sh"]
    assert "--partitions 3 --replication-factor 1" in setup
    assert "kafka-broker-api-versions.sh" not in setup


def quantity(value: str | int | float) -> float:
    """A Kubernetes quantity as cores or bytes."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(value)
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def requested(docs: list[dict]) -> tuple[float, float]:
    """CPU and memory the long-running pods request, plus the largest hook Job (one at a time)."""
    cpu = memory = 0.0
    for doc in workloads(docs):
        if doc["kind"] == "Job":
            continue
        for container in pod_spec(doc)["containers"]:
            cpu += doc["spec"]["replicas"] * quantity(container["resources"]["requests"]["cpu"])
            memory += doc["spec"]["replicas"] * quantity(container["resources"]["requests"]["memory"])
    jobs = [
        (
            sum(quantity(c["resources"]["requests"]["cpu"]) for c in pod_spec(doc)["containers"]),
            sum(quantity(c["resources"]["requests"]["memory"]) for c in pod_spec(doc)["containers"]),
        )
        for doc in workloads(docs)
        if doc["kind"] == "Job"
    ]
    return cpu + max(j[0] for j in jobs), memory + max(j[1] for j in jobs)


def test_default_values_fit_a_minikube_and_production_needs_a_cluster():
    """values.yaml promises a minikube with 4 CPUs and 8 GiB (leaving it room for its own
    system pods and the ingress controller); the production values ask for a real cluster."""
    cpu, memory = requested(render("defaults"))
    assert cpu <= 2.5, cpu
    assert memory <= 5 * 2**30, memory / 2**30
    kafka = of_kind(render("defaults"), "StatefulSet")[f"{RELEASE}-kafka"]
    assert quantity(pod_spec(kafka)["containers"][0]["resources"]["limits"]["memory"]) <= 2**30
    production_cpu, production_memory = requested(render("production"))
    assert production_cpu > cpu
    assert production_memory > memory


def test_replication_values_reach_the_topics_job_and_the_consumers():
    for assignments, expected in (
        ((), ("1", "1")),
        (("kafka.replicas=3", "kafka.replicationFactor=3"), ("3", "1")),
        (("kafka.replicas=5", "kafka.replicationFactor=3", "kafka.minInsyncReplicas=2"), ("3", "2")),
        # A managed cluster: the chart cannot count its brokers, the topics Job checks them.
        (
            (
                "kafka.enabled=false",
                "externalKafka.bootstrapServers=k:9092",
                "kafka.replicationFactor=3",
                "kafka.minInsyncReplicas=2",
            ),
            ("3", "2"),
        ),
    ):
        docs = render_with(*assignments)
        consumers = [of_kind(docs, "Deployment")[name(service, "consumer")] for service in SERVICES]
        for doc in [of_kind(docs, "Job")[f"{RELEASE}-kafka-topics"], *consumers]:
            for container in all_containers(doc):
                if container["image"] != IMAGE:
                    continue
                env = resolve_env(container, docs)
                got = (env["LOTUS_KAFKA_REPLICATION_FACTOR"][1], env["LOTUS_KAFKA_MIN_INSYNC_REPLICAS"][1])
                assert got == expected, (assignments, doc["metadata"]["name"])


def test_the_topics_job_alters_existing_topics_only_when_asked():
    def steps(docs: list[dict]) -> list[list[str]]:
        job = of_kind(docs, "Job")[f"{RELEASE}-kafka-topics"]
        return [argv(c)[2:] for c in all_containers(job) if c["image"] == IMAGE]

    assert steps(render("defaults")) == [["kafka_topics"]]
    assert steps(render("production")) == [["kafka_topics"]]
    assert steps(render_with("kafka.fixTopics=true", "kafka.partitions=6")) == [["kafka_topics", "--fix"]]


def test_inconsistent_replication_values_fail_with_a_clear_message():
    for assignments, says in (
        (("kafka.replicationFactor=3",), "kafka.replicationFactor (3) is larger than kafka.replicas (1)"),
        (
            ("kafka.replicas=3", "kafka.replicationFactor=2", "kafka.minInsyncReplicas=3"),
            "kafka.minInsyncReplicas (3) is larger than kafka.replicationFactor (2)",
        ),
        (
            ("kafka.enabled=false", "externalKafka.bootstrapServers=k:9092", "kafka.minInsyncReplicas=2"),
            "kafka.minInsyncReplicas (2) is larger than kafka.replicationFactor (1)",
        ),
        (
            ("kafka.enabled=false", "externalKafka.bootstrapServers=k:9093", "externalKafka.tls.caSecret=ca"),
            "externalKafka.tls.caSecret needs externalKafka.securityProtocol SSL or SASL_SSL",
        ),
        (("kafka.replicas=0",), "replicas"),
        (("kafka.replicationFactor=0",), "replicationFactor"),
        (("kafka.minInsyncReplicas=two",), "minInsyncReplicas"),
        (("kafka.podAntiAffinity=always",), "podAntiAffinity"),
        # A misspelt Kafka value is refused rather than ignored.
        (("kafka.replica=3",), "replica"),
        (("externalKafka.tls.ca=x",), "ca"),
    ):
        result = helm("template", RELEASE, str(CHART), *sets(*assignments), check=False)
        assert result.returncode != 0, assignments
        assert says in result.stderr, (assignments, result.stderr)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_a_managed_kafkas_ca_bundle_reaches_every_lotus_container(version):
    """externalKafka.tls.caSecret: mounted read-only into every Lotus container, and
    KAFKA_SSL_CA_LOCATION (lotus/settings.py) names the mounted file."""
    import kubernetes_validate

    docs = render_with(
        "postgresql.enabled=false",
        f"externalDatabase.url={EXTERNAL_DB}",
        "kafka.enabled=false",
        "externalKafka.bootstrapServers=b-1.kafka.example:9096",
        "externalKafka.securityProtocol=SASL_SSL",
        f"externalKafka.existingSecret={EXTERNAL_KAFKA_SECRET}",
        "externalKafka.tls.caSecret=shop-kafka-ca",
        "externalKafka.tls.caKey=bundle.pem",
    )
    for doc in docs:
        if doc["apiVersion"] != "monitoring.coreos.com/v1":
            kubernetes_validate.validate(doc, version, strict=True)
    containers = lotus_containers(docs)
    assert containers
    for doc, container in containers:
        where = f"{doc['metadata']['name']}/{container['name']}"
        env = resolve_env(container, docs)
        assert env["KAFKA_SSL_CA_LOCATION"] == ("configmap", "/etc/lotus/kafka-ca/ca.crt"), where
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/lotus/kafka-ca"]["readOnly"] is True, where
        volume = {v["name"]: v for v in pod_spec(doc)["volumes"]}[mounts["/etc/lotus/kafka-ca"]["name"]]
        assert volume["secret"] == {"secretName": "shop-kafka-ca", "items": [{"key": "bundle.pem", "path": "ca.crt"}]}
    external = render("external")
    for _doc, container in lotus_containers(external):
        assert "KAFKA_SSL_CA_LOCATION" not in resolve_env(container, external)
        assert "/etc/lotus/kafka-ca" not in {m["mountPath"] for m in container["volumeMounts"]}


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
    assert waits == (set() if scenario == "external" else {"wait-for-postgresql", "postgresql-roles", "wait-for-kafka"})


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


def test_secrets_are_generated_once_and_kept_on_upgrade():
    template = (CHART / "templates" / "secret.yaml").read_text()
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    # Every generated value is looked up in the Secret that holds it first.
    for secret in ("$fullname", "$pgName", "$kafkaName", "$name", '(printf "%s-profiles" $fullname)'):
        assert f'lookup "v1" "Secret" $ns {secret}' in template, secret
    assert "randAlphaNum 64" in helpers
    assert 'genCA "lotus-jwt" 3650' in template

    again = [doc for doc in yaml.safe_load_all(helm(*template_args("defaults")).stdout) if doc]
    first, second = all_secrets(render("defaults")), all_secrets(again)
    for secret in of_kind(render("defaults"), "Secret").values():
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    generated = [(f"{RELEASE}-{owner}", "django-secret-key") for owner in (*SERVICES, "admin", "jobs")] + [
        (f"{RELEASE}-jobs", "operator-password"),
        (f"{RELEASE}-postgresql", "postgres-password"),
        *((f"{RELEASE}-postgresql", f"password-{s}{ro}") for s in SERVICES for ro in ("", "-ro")),
        *((f"{RELEASE}-kafka", f"password-{p}") for p in ("broker", "kafka-admin", "admin", *SERVICES)),
    ]
    for secret, key in generated:
        # No cluster to look up in `helm template`: each render generates, so they differ.
        assert len(first[secret][key]) == 64, (secret, key)
        assert first[secret][key] != second[secret][key], (secret, key)
    assert first[f"{RELEASE}-profiles"]["jwt-private-key"] != second[f"{RELEASE}-profiles"]["jwt-private-key"]
    given = all_secrets(render("scaled"))
    assert given[f"{RELEASE}-jobs"]["operator-password"] == "given-operator-password"
    assert not [key for data in given.values() for key in data if key.startswith(("jwt-", "django-"))]


def test_generated_jwt_pair_is_an_rsa_key_and_its_certificate():
    """profiles signs RS256 with the private key; every service verifies with the certificate."""
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    secrets = all_secrets(render("defaults"))
    private = serialization.load_pem_private_key(secrets[f"{RELEASE}-profiles"]["jwt-private-key"].encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size >= 2048
    public_pems = {secrets[f"{RELEASE}-{owner}"]["jwt-public-key"] for owner in (*SERVICES, "admin", "jobs")}
    (public_pem,) = public_pems
    certificate = x509.load_pem_x509_certificate(public_pem.encode())
    assert certificate.public_key().public_numbers() == private.public_key().public_numbers()
    assert "PRIVATE" not in public_pem


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
    # The values this issue added, and the ones it removed.
    for mistake in (
        "secrets.jwtSigningKey=old-shared-key",
        "ingress.tls[0].secretName=old-list-form",
        "networkPolicy.enable=true",
        "kafka.sasl.mechanism=PLAIN",
        "admin.replicas=-1",
        "externalKafka.securityProtocol=SASL",
        "externalDatabase.readOnlyUrls.biling=postgresql://x",
    ):
        result = helm("template", RELEASE, str(CHART), "--set", mistake, check=False)
        assert result.returncode != 0, mistake
    no_users = helm(
        "template",
        RELEASE,
        str(CHART),
        *sets(
            "kafka.enabled=false", "externalKafka.bootstrapServers=k:9092", "externalKafka.securityProtocol=SASL_SSL"
        ),
        check=False,
    )
    assert no_users.returncode != 0
    assert "externalKafka.existingSecret" in no_users.stderr


@pytest.mark.parametrize("scenario", ["defaults", "tracing"])
def test_tracing_values_reach_every_lotus_pod_or_none(scenario):
    from lotus import tracing

    docs = render(scenario)
    pods = [(doc, c) for doc, c in lotus_containers(docs) if doc["kind"] == "Deployment"]
    assert {doc["metadata"]["labels"].get("lotus/service", "admin") for doc, _ in pods} == {*SERVICES, "admin"}
    for doc, container in pods:
        env = {key: value for key, (_, value) in resolve_env(container, docs).items()}
        where = doc["metadata"]["name"]
        if scenario == "defaults":
            # Off: the process finds no exporter, so it instruments nothing.
            assert not [key for key in env if key.startswith("OTEL_")], where
            assert "LOTUS_TRACE_VIEWER_URL" not in env, where
            assert tracing.exporters_from_env(env) == [], where
            continue
        assert tracing.exporters_from_env(env) == ["otlp"], where
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == OTLP_ENDPOINT
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert (env["OTEL_TRACES_SAMPLER"], env["OTEL_TRACES_SAMPLER_ARG"]) == ("parentbased_traceidratio", "0.25")
        assert env["LOTUS_TRACE_VIEWER_URL"] == VIEWER_URL
        # Each pod names itself after its service, as the process would (lotus.tracing.service_name).
        service = doc["metadata"]["labels"].get("lotus/service")
        if service:
            assert env["OTEL_SERVICE_NAME"] == tracing.service_name([service], "web") == f"lotus-{service}", where
        else:
            assert env["OTEL_SERVICE_NAME"] == "lotus-admin", where


def test_tracing_values_are_checked():
    for mistakes, says in (
        (sets("tracing.enabled=true"), "tracing.otlpEndpoint"),
        (sets("tracing.enabled=true", f"tracing.otlpEndpoint={OTLP_ENDPOINT}", "tracing.sampler=sometimes"), "sampler"),
        (sets("tracing.otlpEndpoint=collector:4318"), "otlpEndpoint"),
        (["--set-string", "tracing.viewerUrl=https://jaeger.example/trace/"], "viewerUrl"),
        (sets("tracing.enable=true"), "enable"),
    ):
        result = helm("template", RELEASE, str(CHART), *mistakes, check=False)
        assert result.returncode != 0, mistakes
        assert says in result.stderr, (mistakes, result.stderr)


# -- the image --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each a list of instructions starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for op, arg in dockerfile_instructions():
        if op == "FROM":
            stages.append([])
        stages[-1].append((op, arg))
    return stages


def test_dockerfile_builds_a_runtime_only_non_root_image():
    # The image is the last stage; earlier ones only build files that it copies.
    instructions = dockerfile_stages()[-1]
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


def asyncapi_ui_copies() -> list[tuple[str, str]]:
    """(path in the asyncapi-ui stage, destination in /app) of the image's COPY --from lines."""
    copies = []
    for op, arg in dockerfile_stages()[-1]:
        if op == "COPY" and arg.startswith("--from=asyncapi-ui "):
            source, dest = arg.split()[1:]
            copies.append((source, dest))
    return copies


def test_dockerfile_installs_the_asyncapi_renderer_from_the_lock_and_copies_only_its_bundle():
    """The /api/asyncapi page's renderer comes from npm at the pinned version (npm ci, no dev
    packages, no install scripts) in a stage of its own; the image gets its two files only."""
    stages = {stage[0][1].split(" AS ")[-1]: stage for stage in dockerfile_stages()[:-1]}
    ui = stages["asyncapi-ui"]
    assert ("COPY", "package.json package-lock.json ./") in ui
    (run,) = [arg for op, arg in ui if op == "RUN"]
    assert run.startswith("npm ci --omit=dev --ignore-scripts"), run
    package = json.loads((ROOT / "package.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["dependencies"]["@asyncapi/react-component"]), "pin it exactly"
    assert sorted(source.rsplit("/", 1)[1] for source, _ in asyncapi_ui_copies()) == ["default.min.css", "index.js"]


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
    # The Dockerfile's COPY --from=asyncapi-ui, from this checkout's npm packages (the same lock).
    for source, dest in asyncapi_ui_copies():
        found = ROOT / source.removeprefix("/build/")
        assert found.is_file(), f"{found} is missing: run scripts/npm.sh"
        (app / dest).mkdir(parents=True, exist_ok=True)
        shutil.copy2(found, app / dest / found.name)
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
    for name in ("index.js", "default.min.css"):
        assert (app / "staticfiles" / "asyncapi" / name).is_file(), f"the AsyncAPI page's {name} was not collected"


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
    jobs["routes admin"] = (["python", "-c", ROUTES_SCRIPT], {"LOTUS_SERVICES": ",".join(SERVICES)})
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
    for service in (*SERVICES, "admin"):
        result = started[f"routes {service}"]
        assert result.returncode == 0, result.stderr
        served[service] = json.loads(result.stdout.strip().splitlines()[-1])
        assert Path(served[service]["origin"]).is_relative_to(image[0]), "the copied build context was imported"

    def serves(service: str, prefix: str) -> bool:
        bare = prefix.lstrip("/")
        return any(route == bare or route.startswith(bare + "/") for route in served[service]["routes"])

    for prefix, service in (ROUTES | OPTIONAL_ROUTES).items():
        if prefix == "/static":
            # Static files come from WhiteNoise (middleware), collected into the image at build.
            assert served[service]["static"].strip("/") == "static"
            continue
        assert serves(service, prefix), f"{prefix} is routed to {service}, which does not serve it"
    for prefix in API_PREFIXES:
        assert [s for s in SERVICES if serves(s, prefix)] == [ROUTES[prefix]], prefix


def test_web_pods_trust_one_proxy_hop_for_the_client_address():
    """Behind the ingress every request comes from the controller: the per-address throttles
    must read the client from X-Forwarded-For, one hop back, or all clients share one counter."""
    config = of_kind(render("defaults"), "ConfigMap")[f"{RELEASE}-config"]["data"]
    assert config["LOTUS_NUM_PROXIES"] == "1"
