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


def test_a_write_the_read_only_admin_attempts_is_a_message_not_a_500(operator_client):
    """Issue 14, item 7: deployed, the admin runs with read-only roles; a write it tries is
    refused by PostgreSQL (SQLSTATE 42501) and shown to the operator on the page, nothing changed."""
    from django.db import connections

    letter = DeadLetter.objects.using("billing").create(
        message_id=uuid.uuid4(), message_type="Ping", topic="diagnostics.commands", body="{}", error="boom"
    )
    with connections["billing"].cursor() as cursor:  # as a read-only role; undone with the test's transaction
        cursor.execute(f"REVOKE DELETE ON {DeadLetter._meta.db_table} FROM CURRENT_USER")
    url = f"/admin/messaging/billingdeadletter/{letter.id}/delete/"
    response = operator_client.post(url, {"post": "yes"})
    assert response.status_code == 302, response.content[:300]
    assert response["Location"] == url
    shown = [str(m) for m in operator_client.get("/admin/").context["messages"]]
    assert any("may not change them: nothing was changed" in m for m in shown), shown
    assert DeadLetter.objects.using("billing").filter(id=letter.id).exists()
