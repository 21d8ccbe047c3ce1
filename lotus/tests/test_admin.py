"""Integration: the admin shows each service's messaging tables and replays dead letters."""

import uuid

import pytest

from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.messaging.models import DeadLetter, InboxMessage
from lotus.messaging.unit_of_work import UnitOfWork

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
    with UnitOfWork("billing", publisher=None) as uow:
        uow.send(Ping(note="shown"))
    response = operator_client.get(f"/admin/messaging/{page}/")
    assert response.status_code == 200


def test_the_billing_outbox_page_lists_billing_rows_only(operator_client):
    with UnitOfWork("billing", publisher=None) as uow:
        (billing_row,) = uow.send(Ping(note="billing row"))
    with UnitOfWork("orders", publisher=None) as uow:
        (orders_row,) = uow.send(Ping(note="orders row"))
    page = operator_client.get("/admin/messaging/billingoutboxmessage/").content.decode()
    assert billing_row.correlation_id in page
    assert orders_row.correlation_id not in page


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
