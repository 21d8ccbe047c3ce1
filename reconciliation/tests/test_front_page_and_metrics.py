"""The last run on the admin's front page and in the metrics (PostgreSQL)."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from reconciliation.metrics import ReconciliationCollector
from reconciliation.models import ReconciliationRun

pytestmark = pytest.mark.django_db(databases="__all__")

ORDER = "5b0c1f9e-3b7e-4c55-9d1e-0c6f3f3c2a11"


@pytest.fixture
def operator_client(client, django_user_model):
    operator = django_user_model.objects.create_superuser("admin@lotus.test", "a-long-admin-password")
    client.force_login(operator)
    return client


def a_run(**counts) -> ReconciliationRun:
    disagreements = [
        {"kind": kind, "order_id": ORDER, "row": None, "message": f"{kind} off"}
        for kind, n in counts.items()
        for _ in range(n)
    ]
    return ReconciliationRun.objects.create(duration_seconds=0.25, disagreements=disagreements, counts=counts)


def test_the_front_page_says_when_nothing_ran_yet(operator_client):
    page = operator_client.get("/admin/").content.decode()
    assert "No run yet" in page


def test_the_front_page_shows_the_last_run_and_its_disagreements(operator_client):
    a_run()
    a_run(charge=1, overdue=2)
    page = operator_client.get("/admin/").content.decode()
    assert 'data-disagreements="3"' in page
    assert f'order <a href="/admin/sagas/?q={ORDER}"><code>{ORDER}</code></a>' in page  # its saga, one click away
    assert "charge off" in page
    assert "overdue off" in page


def test_the_front_page_leads_to_the_saga_pages(operator_client):
    page = operator_client.get("/admin/").content.decode()
    assert 'action="/admin/sagas/"' in page
    assert 'href="/admin/sagas/stuck/"' in page


def test_the_front_page_of_a_clean_run(operator_client):
    a_run(charge=1)
    a_run()
    page = operator_client.get("/admin/").content.decode()
    assert 'data-disagreements="0"' in page
    assert "charge off" not in page


def test_metrics_export_the_last_run_by_kind():
    registry = CollectorRegistry()
    registry.register(ReconciliationCollector())
    assert b"lotus_reconciliation_disagreements" not in generate_latest(registry)
    run = a_run(ledger=2)
    text = generate_latest(registry).decode()
    assert 'lotus_reconciliation_disagreements{kind="ledger"} 2.0' in text
    assert 'lotus_reconciliation_disagreements{kind="charge"} 0.0' in text
    stamp = next(line for line in text.splitlines() if line.startswith("lotus_reconciliation_last_run_timestamp"))
    assert float(stamp.split()[1]) == pytest.approx(run.started_at.timestamp())
    assert "lotus_reconciliation_duration_seconds 0.25" in text
