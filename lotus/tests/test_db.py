"""Integration, on PostgreSQL: lotus.db's plain-SQL helpers read and write as the ORM would
(insert_unless_present creates a row once, in one statement), and a unit of work writes
everything it added and sent with one statement at its end, all or nothing."""

import json
import uuid

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.db import insert, insert_unless_present
from lotus.messaging.models import InboxMessage, OutboxMessage
from lotus.messaging.unit_of_work import UnitOfWork

pytestmark = pytest.mark.django_db(databases="__all__")


def inbox(message_id: uuid.UUID, message_type: str = "Ping") -> InboxMessage:
    return InboxMessage(message_id=message_id, message_type=message_type, topic="t")


def test_the_first_insert_creates_the_row_in_one_statement_and_sets_a_generated_key():
    row = OutboxMessage(message_id=uuid.uuid4(), message_type="Ping", topic="t", key="k", body="{}")
    with CaptureQueriesContext(connections["orders"]) as queries:
        assert insert_unless_present(row, unique_fields=("id",), using="orders")
    assert len(queries.captured_queries) == 1
    assert row.pk is not None
    assert not row._state.adding
    assert OutboxMessage.objects.using("orders").get(pk=row.pk).message_id == row.message_id


def test_a_second_insert_of_the_same_unique_values_changes_nothing():
    message_id = uuid.uuid4()
    assert insert_unless_present(inbox(message_id, "First"), unique_fields=("message_id",), using="stock")
    assert not insert_unless_present(inbox(message_id, "Second"), unique_fields=("message_id",), using="stock")
    assert InboxMessage.objects.using("stock").get(message_id=message_id).message_type == "First"


def test_a_conflict_does_not_abort_the_surrounding_transaction():
    taken, other = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic(using="billing"):
        assert insert_unless_present(inbox(taken), unique_fields=("message_id",), using="billing")
        assert not insert_unless_present(inbox(taken), unique_fields=("message_id",), using="billing")
        InboxMessage.objects.using("billing").create(message_id=other, message_type="Ping")
    assert InboxMessage.objects.using("billing").filter(message_id__in=[taken, other]).count() == 2


def test_insert_writes_many_rows_in_order_with_their_keys_in_few_statements():
    from lotus.db import CHUNK

    rows = [
        OutboxMessage(message_id=uuid.uuid4(), message_type="Ping", topic="t", key="many", body=str(n))
        for n in range(CHUNK + 5)
    ]
    with transaction.atomic(using="orders"), CaptureQueriesContext(connections["orders"]) as queries:
        insert(rows, using="orders")
    assert len(queries.captured_queries) == 2
    assert [row.pk for row in rows] == sorted(row.pk for row in rows)
    stored = OutboxMessage.objects.using("orders").filter(key="many").order_by("id")
    assert [(row.pk, row.body) for row in stored] == [(row.pk, row.body) for row in rows]


def test_a_conflict_clause_takes_one_row_only():
    from lotus.db import _insert_all

    with pytest.raises(ValueError, match="single row"):
        _insert_all([inbox(uuid.uuid4()), inbox(uuid.uuid4())], using="orders", on_conflict="ON CONFLICT DO NOTHING")


def test_locked_reads_one_row_for_update_as_the_orm_would():
    from lotus.db import locked

    message_id = uuid.uuid4()
    InboxMessage.objects.using("stock").create(message_id=message_id, message_type="Ping", topic="t")
    with transaction.atomic(using="stock"), CaptureQueriesContext(connections["stock"]) as queries:
        row = locked(InboxMessage, using="stock", message_id=message_id)
        assert locked(InboxMessage, using="stock", message_id=uuid.uuid4()) is None
    assert queries.captured_queries[0]["sql"].rstrip().endswith("FOR UPDATE")
    orm = InboxMessage.objects.using("stock").get(message_id=message_id)
    assert (row.message_id, row.message_type, row.topic, row.processed_at) == (
        orm.message_id,
        orm.message_type,
        orm.topic,
        orm.processed_at,
    )
    assert row._state.db == "stock"
    assert not row._state.adding


def test_update_writes_only_the_named_fields():
    from lotus.db import update

    message_id = uuid.uuid4()
    row = InboxMessage.objects.using("stock").create(message_id=message_id, message_type="Ping", topic="before")
    row.message_type, row.topic = "Changed", "not written"
    update(row, ["message_type"], using="stock")
    stored = InboxMessage.objects.using("stock").get(message_id=message_id)
    assert (stored.message_type, stored.topic) == ("Changed", "before")


def test_get_reads_one_row_without_a_lock():
    from lotus.db import get

    message_id = uuid.uuid4()
    InboxMessage.objects.using("stock").create(message_id=message_id, message_type="Ping", topic="t")
    with CaptureQueriesContext(connections["stock"]) as queries:
        row = get(InboxMessage, using="stock", message_id=message_id, topic="t")
        assert get(InboxMessage, using="stock", message_id=message_id, topic="other") is None
    assert row.message_type == "Ping"
    assert "FOR UPDATE" not in queries.captured_queries[0]["sql"]


def outbox_rows(key: str, count: int, *, using: str = "delivery") -> list[OutboxMessage]:
    rows = [
        OutboxMessage(message_id=uuid.uuid4(), message_type="Ping", topic=f"t{n % 2}", key=key, body=str(n))
        for n in range(count)
    ]
    return OutboxMessage.objects.using(using).bulk_create(rows)


def test_select_returns_the_rows_the_orm_would_as_instances_in_the_order_asked():
    from lotus.db import select

    rows = outbox_rows("select", 5)
    found = select(OutboxMessage, using="delivery", order_by=("id",), key="select", topic="t0", id__gt=rows[0].pk)
    expected = OutboxMessage.objects.using("delivery").filter(key="select", topic="t0", id__gt=rows[0].pk)
    assert [row.pk for row in found] == [row.pk for row in expected.order_by("id")] == [rows[2].pk, rows[4].pk]
    assert all(isinstance(row, OutboxMessage) and row._state.db == "delivery" for row in found)
    assert [row.message_id for row in found] == [rows[2].message_id, rows[4].message_id]
    assert found[0].created_at == rows[2].created_at, "converted as the ORM does (an aware datetime)"


def test_select_by_membership_and_for_update():
    from lotus.db import select

    rows = outbox_rows("member", 3)
    wanted = [rows[0].pk, rows[2].pk]
    with transaction.atomic(using="delivery"), CaptureQueriesContext(connections["delivery"]) as queries:
        found = select(OutboxMessage, using="delivery", for_update=True, order_by=("id",), id__in=wanted)
    assert [row.pk for row in found] == wanted
    assert queries.captured_queries[-1]["sql"].endswith("FOR UPDATE")
    assert select(OutboxMessage, using="delivery", id__in=[]) == []


def test_exists_and_unsupported_lookups():
    from lotus.db import exists, select

    outbox_rows("exists", 1)
    assert exists(OutboxMessage, using="delivery", key="exists", topic="t0")
    assert not exists(OutboxMessage, using="delivery", key="exists", topic="t1")
    with pytest.raises(ValueError, match="key__startswith"):
        select(OutboxMessage, using="delivery", key__startswith="ex")


def test_a_unit_of_work_writes_the_rows_added_to_it_with_one_statement_at_the_end_and_sets_their_keys():
    outbox = [
        OutboxMessage(message_id=uuid.uuid4(), message_type="Ping", topic="t", key="together", body=str(n))
        for n in range(3)
    ]
    received = [inbox(uuid.uuid4(), f"Type{n}") for n in range(2)]
    with CaptureQueriesContext(connections["orders"]) as queries, UnitOfWork("orders", publisher=None) as uow:
        uow.add(*outbox[:2])
        uow.add(*received)
        uow.add(*outbox[2:])
        assert all(row.pk is None for row in outbox)
        assert not OutboxMessage.objects.using("orders").filter(key="together").exists()
    assert len([q for q in queries.captured_queries if "INSERT" in q["sql"]]) == 1
    stored = OutboxMessage.objects.using("orders").filter(key="together").order_by("id")
    assert [(row.pk, row.body) for row in stored] == [(row.pk, row.body) for row in outbox]
    assert not any(row._state.adding for row in outbox + received)
    by_key = {
        row.pk: row.message_type for row in InboxMessage.objects.using("orders").filter(pk__in=[r.pk for r in received])
    }
    assert by_key == {row.pk: row.message_type for row in received}


def test_a_unit_of_work_writes_its_messages_and_added_rows_with_one_statement_at_the_end_in_send_order():
    received = inbox(uuid.uuid4(), "Added")
    with CaptureQueriesContext(connections["orders"]) as queries, UnitOfWork("orders", publisher=None) as uow:
        first = uow.send(Ping(note="first"), Ping(note="second"))
        uow.add(received)
        last = uow.send(Ping(note="third"))
        inside = len(queries.captured_queries)
    assert not any("INSERT" in q["sql"] for q in queries.captured_queries[:inside]), "nothing written before the end"
    assert len([q for q in queries.captured_queries if "INSERT" in q["sql"]]) == 1
    envelopes = first + last
    stored = OutboxMessage.objects.using("orders").filter(message_id__in=[e.id for e in envelopes]).order_by("id")
    assert [row.message_id for row in stored] == [envelope.id for envelope in envelopes]
    assert [json.loads(row.body)["payload"]["note"] for row in stored] == ["first", "second", "third"]
    assert InboxMessage.objects.using("orders").filter(pk=received.pk, message_type="Added").exists()


def test_a_failing_part_of_a_unit_of_works_statement_writes_none_of_its_rows():
    from django.db import IntegrityError

    taken = uuid.uuid4()
    insert([inbox(taken)], using="orders")
    row = OutboxMessage(message_id=uuid.uuid4(), message_type="Ping", topic="t", key="all-or-none", body="{}")

    def write_all() -> Envelope:
        with UnitOfWork("orders", publisher=None) as uow:
            (envelope,) = uow.send(Ping(note="not sent"))
            uow.add(row)
            uow.add(inbox(taken))  # the same message id again: a unique violation
        return envelope

    with pytest.raises(IntegrityError):
        write_all()
    assert not OutboxMessage.objects.using("orders").filter(key="all-or-none").exists()
    assert not OutboxMessage.objects.using("orders").filter(message_type="Ping", body__contains="not sent").exists()
