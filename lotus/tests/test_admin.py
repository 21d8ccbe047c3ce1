"""Integration: the admin shows each service's messaging tables and replays dead letters."""

import uuid

import pytest
from django.db import transaction

from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.messaging.models import DeadLetter, InboxMessage
from lotus.messaging.outbox import publish

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def operator_client(client, django_user_model):
    operator = django_user_model.objects.create_superuser("admin@lotus.test", "a-long-admin-password")
    client.force_login(operator)
    return client


@pytest.mark.parametrize(
    "page", ["billingoutboxmessage", "ordersinboxmessage", "stockdeadletter", "profilesoutboxmessage"]
)
def test_each_services_messaging_pages_render(operator_client, page):
    with transaction.atomic(using="billing"):
        publish(Ping(note="shown"), service="billing", correlation_id="k")
    response = operator_client.get(f"/admin/messaging/{page}/")
    assert response.status_code == 200


def test_the_billing_outbox_page_lists_billing_rows_only(operator_client):
    with transaction.atomic(using="billing"):
        publish(Ping(note="billing row"), service="billing", correlation_id="billing-key")
    with transaction.atomic(using="orders"):
        publish(Ping(note="orders row"), service="orders", correlation_id="orders-key")
    page = operator_client.get("/admin/messaging/billingoutboxmessage/").content.decode()
    assert "billing-key" in page
    assert "orders-key" not in page


def test_the_replay_action_applies_a_dead_letter_once(operator_client):
    envelope = Envelope.wrap(Ping(note="replay me"), source="orders", correlation_id=str(uuid.uuid4()))
    letter = DeadLetter.objects.using("notifications").create(
        message_id=envelope.id, message_type="Ping", topic="diagnostics.commands", body=envelope.to_json(), error="boom"
    )
    url = "/admin/messaging/notificationsdeadletter/"
    for _ in range(2):
        response = operator_client.post(url, {"action": "replay_selected", "_selected_action": [letter.id]})
        assert response.status_code == 302
    assert InboxMessage.objects.using("notifications").filter(message_id=envelope.id).count() == 1
    letter.refresh_from_db(using="notifications")
    assert letter.replayed_at is not None
