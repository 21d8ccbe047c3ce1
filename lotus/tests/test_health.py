"""Integration: /healthz answers while the process lives; /readyz checks databases and Kafka."""

import pytest
from django.db import OperationalError, connections

from lotus.topology import SERVICES

pytestmark = pytest.mark.django_db(databases="__all__")


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.integration
def test_readyz_is_ready_when_every_database_and_kafka_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert checks["kafka"] == "ok"
    assert checks["database:billing"] == "ok"
    assert len(checks) == 7


@pytest.mark.integration
def test_readyz_names_every_dependency_with_ok(client):
    response = client.get("/readyz")
    assert response.json() == {
        "status": "ready",
        "checks": {**{f"database:{service}": "ok" for service in SERVICES}, "kafka": "ok"},
    }


def test_readyz_is_unavailable_when_kafka_is_unreachable(client, settings, caplog):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["kafka"] == "failed"
    assert body["checks"]["database:orders"] == "ok"
    assert "127.0.0.1:1" not in response.content.decode()
    assert any(record.getMessage().startswith("readyz: kafka failed: ") for record in caplog.records)


def test_readyz_reports_a_failed_database_without_the_errors_text_and_logs_it(client, monkeypatch, caplog):
    secret = 'password authentication failed for user "lotus_billing" at db-billing.internal:5432'

    def refused(*args, **kwargs):
        raise OperationalError(secret)

    monkeypatch.setattr(connections["billing"], "cursor", refused)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database:billing"] == "failed"
    assert body["checks"]["database:orders"] == "ok"
    assert set(body["checks"].values()) <= {"ok", "failed"}
    text = response.content.decode()
    for leak in ("lotus_billing", "db-billing", "OperationalError", "password"):
        assert leak not in text
    assert f"readyz: database:billing failed: OperationalError: {secret}" in [r.getMessage() for r in caplog.records]


def test_unknown_paths_answer_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
