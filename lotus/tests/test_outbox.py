"""Integration: the outbox commits and rolls back with the caller's transaction."""

import json
import uuid

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from lotus.contracts.diagnostics import Ping
from lotus.db import DeferredInsertError, deferred_inserts
from lotus.messaging.consumer import Consumer
from lotus.messaging.models import OutboxMessage
from lotus.messaging.outbox import OutboxError, publish, publish_all
from lotus.messaging.relay import Relay
from lotus.testing import Worker, wait_for
from lotus.tests.support import ECHO, echoes_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


class Boom(Exception):
    pass


def test_publishing_outside_a_transaction_is_refused():
    with pytest.raises(OutboxError, match=r"transaction\.atomic"):
        publish(Ping(), service="billing", correlation_id=uuid.uuid4())
    assert not OutboxMessage.objects.using("billing").exists()


def test_publishing_inside_a_transaction_on_another_database_is_refused():
    message = Ping()
    with transaction.atomic(using="orders"), pytest.raises(OutboxError):
        publish(message, service="billing", correlation_id="k")


def test_rollback_publishes_nothing_and_commit_is_applied_exactly_once(kafka_namespace):
    key = uuid.uuid4()
    rolled_back = None

    def publish_then_fail():
        nonlocal rolled_back
        with transaction.atomic(using="orders"):
            rolled_back = publish(Ping(note="rolled back"), service="orders", correlation_id=key)
            raise Boom

    with pytest.raises(Boom):
        publish_then_fail()
    with transaction.atomic(using="orders"):
        committed = publish(Ping(note="committed"), service="orders", correlation_id=key)

    assert list(OutboxMessage.objects.using("orders").values_list("message_id", flat=True)) == [committed.id]
    consumer = Worker(lambda stop: Consumer("stock", ECHO, stop=stop), name="consumer")
    with Worker(lambda stop: Relay("orders", stop=stop), name="relay"), consumer:
        wait_for(lambda: echoes_of(committed.id, alias="stock"), timeout=30, message="the committed ping applied")
        # Publish a marker after both and wait for it: everything before it has been consumed.
        with transaction.atomic(using="orders"):
            marker = publish(Ping(note="marker"), service="orders", correlation_id=key)
        wait_for(lambda: echoes_of(marker.id, alias="stock"), timeout=30, message="the marker applied")
    assert echoes_of(committed.id, alias="stock") == 1
    assert echoes_of(rolled_back.id, alias="stock") == 0
    assert OutboxMessage.objects.using("orders").filter(sent_at__isnull=True).count() == 0


def test_a_batch_writes_its_rows_with_one_insert_at_the_end_in_publish_order():
    key = uuid.uuid4()
    with transaction.atomic(using="orders"), CaptureQueriesContext(connections["orders"]) as queries:
        with deferred_inserts("orders"):
            notes = [f"n{index}" for index in range(4)]
            for note in notes[:2]:
                publish(Ping(note=note), service="orders", correlation_id=key)
            assert not OutboxMessage.objects.using("orders").filter(key=key).exists(), "nothing written yet"
            publish_all([Ping(note=note) for note in notes[2:]], service="orders", correlation_id=key)
        bodies = OutboxMessage.objects.using("orders").filter(key=key).order_by("id").values_list("body", flat=True)
        assert [json.loads(body)["payload"]["note"] for body in bodies] == notes
    inserts = [query for query in queries.captured_queries if 'INSERT INTO "messaging_outboxmessage"' in query["sql"]]
    assert len(inserts) == 1


def test_a_batch_that_raises_writes_nothing_and_the_next_batch_starts_empty():
    key = uuid.uuid4()

    def publish_then_fail():
        with transaction.atomic(using="orders"), deferred_inserts("orders"):
            publish(Ping(note="lost"), service="orders", correlation_id=key)
            raise Boom

    with pytest.raises(Boom):
        publish_then_fail()
    with transaction.atomic(using="orders"), deferred_inserts("orders"):
        publish(Ping(note="kept"), service="orders", correlation_id=key)
    bodies = OutboxMessage.objects.using("orders").filter(key=key).values_list("body", flat=True)
    assert [json.loads(body)["payload"]["note"] for body in bodies] == ["kept"]


def test_batches_do_not_nest_and_other_databases_are_written_at_once():
    key = uuid.uuid4()
    with transaction.atomic(using="orders"), deferred_inserts("orders"):
        with pytest.raises(DeferredInsertError, match="do not nest"), deferred_inserts("orders"):
            pass
        with transaction.atomic(using="billing"):
            publish(Ping(note="billing"), service="billing", correlation_id=key)
            assert OutboxMessage.objects.using("billing").filter(key=key).exists()
