"""Integration: /healthz answers while the process lives; /readyz checks databases and Kafka."""

import pytest

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


def test_readyz_is_unavailable_when_kafka_is_unreachable(client, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["kafka"].startswith("unavailable")
    assert body["checks"]["database:orders"] == "ok"


def test_unknown_paths_answer_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
