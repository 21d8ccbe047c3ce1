"""Integration: a unit of work writes its state, its messages and its inbox ids together, with
one statement at the end, and commits or rolls them back as one (real PostgreSQL and Kafka)."""

import json
import uuid

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from lotus.contracts import Envelope
from lotus.contracts.billing import PaymentTaken
from lotus.contracts.diagnostics import Ping
from lotus.messaging.consumer import Consumer
from lotus.messaging.models import DeadLetter, InboxMessage, OutboxMessage
from lotus.messaging.relay import Relay
from lotus.messaging.unit_of_work import AppliedBefore, UnitOfWork, UnitOfWorkError
from lotus.testing import Worker, wait_for
from lotus.tests.support import ECHO, echoes_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


class Boom(Exception):
    pass


def notes(alias: str, key: str) -> list[str]:
    bodies = OutboxMessage.objects.using(alias).filter(key=key).order_by("id").values_list("body", flat=True)
    return [json.loads(body)["payload"]["note"] for body in bodies]


def test_sending_outside_the_with_block_is_refused():
    uow = UnitOfWork("billing")
    with pytest.raises(UnitOfWorkError, match="with block"):
        uow.send(Ping())
    with uow:
        pass
    with pytest.raises(UnitOfWorkError):
        uow.send(Ping())
    assert not OutboxMessage.objects.using("billing").exists()


def send_then_fail(note: str) -> list[Envelope]:
    sent = []
    with pytest.raises(Boom), UnitOfWork("orders", publisher=None) as uow:  # noqa: PT012 -- the block is the subject
        sent += uow.send(Ping(note=note))
        raise Boom
    return sent


def test_rollback_sends_nothing_and_a_commit_is_applied_exactly_once(kafka_namespace):
    (rolled_back,) = send_then_fail("rolled back")
    with UnitOfWork("orders", publisher=None) as uow:
        (committed,) = uow.send(Ping(note="committed"))

    assert list(OutboxMessage.objects.using("orders").values_list("message_id", flat=True)) == [committed.id]
    consumer = Worker(lambda stop: Consumer("stock", ECHO, stop=stop), name="consumer")
    with Worker(lambda stop: Relay("orders", stop=stop), name="relay"), consumer:
        wait_for(lambda: echoes_of(committed.id, alias="stock"), timeout=30, message="the committed ping applied")
        with UnitOfWork("orders", publisher=None) as uow:
            (marker,) = uow.send(Ping(note="marker"))
        wait_for(lambda: echoes_of(marker.id, alias="stock"), timeout=30, message="the marker applied")
    assert echoes_of(committed.id, alias="stock") == 1
    assert echoes_of(rolled_back.id, alias="stock") == 0
    assert OutboxMessage.objects.using("orders").filter(sent_at__isnull=True).count() == 0


def test_rows_and_messages_are_written_with_one_statement_at_the_end_in_order():
    letters = [DeadLetter(topic="t", body=f"letter {n}", error="e") for n in range(2)]
    cause = Envelope.wrap(Ping(note="cause"), source="test", correlation_id="saga-1")
    with CaptureQueriesContext(connections["orders"]) as queries, UnitOfWork("orders", publisher=None) as uow:
        with uow.handling(cause, topic="diagnostics.commands"):
            uow.add(*letters)
            uow.send(Ping(note="n0"), Ping(note="n1"))
            uow.send(Ping(note="n2"))
        assert not OutboxMessage.objects.using("orders").exists(), "nothing is written before the end"
        assert not DeadLetter.objects.using("orders").exists()
        writes_before_the_end = len(queries.captured_queries)
    writes = [query["sql"] for query in queries.captured_queries[writes_before_the_end:] if "INSERT" in query["sql"]]
    assert len(writes) == 1, writes
    assert all(table in writes[0] for table in ("deadletter", "outboxmessage", "inboxmessage"))
    assert notes("orders", "saga-1") == ["n0", "n1", "n2"]
    assert [letter.pk for letter in letters] == list(
        DeadLetter.objects.using("orders").order_by("pk").values_list("pk", flat=True)
    )
    assert InboxMessage.objects.using("orders").filter(message_id=cause.id).exists()


def test_a_message_takes_its_key_from_itself_and_its_causation_from_the_message_handled():
    cause = Envelope.wrap(Ping(note="cause"), source="test", correlation_id="saga-2")
    order_id = uuid.uuid4()
    with UnitOfWork("billing", publisher=None) as uow:
        (alone,) = uow.send(Ping(note="alone"))
        with uow.handling(cause):
            (echo, taken) = uow.send(Ping(note="echo"), PaymentTaken(order_id=order_id, customer_id=1, amount=5))
    assert alone.causation_id is None
    assert uuid.UUID(alone.correlation_id), "a message without a key or a cause starts a conversation"
    assert (echo.correlation_id, echo.causation_id) == ("saga-2", cause.id)
    assert (taken.correlation_id, taken.causation_id) == (str(order_id), cause.id)
    assert OutboxMessage.objects.using("billing").get(message_id=taken.id).key == str(order_id)


def test_a_message_handled_before_rolls_the_whole_unit_of_work_back():
    envelope = Envelope.wrap(Ping(note="once"), source="test", correlation_id="saga-3")
    with UnitOfWork("stock", publisher=None) as uow, uow.handling(envelope):
        uow.send(Ping(note="first effect"))
    with pytest.raises(AppliedBefore) as raised, UnitOfWork("stock", publisher=None) as uow, uow.handling(envelope):
        uow.send(Ping(note="second effect"))
    assert raised.value.ids == {envelope.id}
    assert notes("stock", "saga-3") == ["first effect"]
    assert InboxMessage.objects.using("stock").count() == 1


def test_a_unit_of_work_that_raises_writes_nothing_and_the_next_one_starts_empty():
    send_then_fail("lost")
    with UnitOfWork("orders", publisher=None) as uow:
        uow.send(Ping(note="kept"))
    assert [
        json.loads(body)["payload"]["note"]
        for body in OutboxMessage.objects.using("orders").values_list("body", flat=True)
    ] == ["kept"]


def test_units_of_work_on_two_databases_are_independent():
    with UnitOfWork("orders", publisher=None) as orders, UnitOfWork("billing", publisher=None) as billing:
        orders.send(Ping(note="orders"))
        billing.send(Ping(note="billing"))
    assert OutboxMessage.objects.using("orders").count() == 1
    assert OutboxMessage.objects.using("billing").count() == 1
