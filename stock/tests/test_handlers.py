"""The stock handlers through the real inbox + handler transaction (no Kafka)."""

import json
import uuid

import pytest

from lotus.contracts.diagnostics import Ping
from lotus.contracts.stock import ReleaseStock, ReserveStock, StockBackordered, StockReleased, StockReserved
from lotus.messaging.consumer import Outcome
from lotus.messaging.models import OutboxMessage
from lotus.testing import deliver, deliver_envelope, published
from stock.handlers import REGISTRY
from stock.models import Reservation

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("seeded")]


def command(message):
    return deliver(message, to="stock", handlers=REGISTRY, correlation_id=str(message.order_id))


def test_the_registry_handles_the_stock_commands_and_ping():
    assert REGISTRY.message_types() == sorted(["ReserveStock", "ReleaseStock", "Ping"])
    assert deliver(Ping(note="hi"), to="stock", handlers=REGISTRY)[0] is Outcome.APPLIED


def test_reserve_stock_reserves_and_replies_with_the_command_as_cause(assert_stock_balances, counters):
    order = uuid.uuid4()
    outcome, envelope = command(ReserveStock(order_id=order, product_id=1, quantity=2))
    assert outcome is Outcome.APPLIED
    assert counters(1) == (998, 2, 1000)
    assert published("stock") == [StockReserved(order_id=order, product_id=1, quantity=2)]
    reply = json.loads(OutboxMessage.objects.using("stock").get().body)
    assert reply["causation_id"] == str(envelope.id)
    assert reply["correlation_id"] == str(order)
    assert_stock_balances()


def test_a_duplicate_reserve_stock_is_skipped_without_a_second_effect(assert_stock_balances, counters):
    order = uuid.uuid4()
    _, envelope = command(ReserveStock(order_id=order, product_id=1))
    assert deliver_envelope(envelope, to="stock", handlers=REGISTRY) is Outcome.DUPLICATE
    assert counters(1) == (999, 1, 1000)
    assert len(published("stock")) == 1
    assert_stock_balances()


def test_reserve_stock_of_an_empty_product_backorders(status_of):
    order = uuid.uuid4()
    command(ReserveStock(order_id=order, product_id=2))
    assert status_of(order) == "waiting"
    assert published("stock") == [StockBackordered(order_id=order, product_id=2)]


def test_release_stock_puts_the_item_back_and_a_duplicate_changes_nothing(assert_stock_balances, counters):
    order = uuid.uuid4()
    command(ReserveStock(order_id=order, product_id=1))
    outcome, envelope = command(ReleaseStock(order_id=order))
    assert outcome is Outcome.APPLIED
    assert deliver_envelope(envelope, to="stock", handlers=REGISTRY) is Outcome.DUPLICATE
    assert counters(1) == (1000, 0, 1000)
    assert published("stock", StockReleased) == [StockReleased(order_id=order, quantity=1)]
    assert_stock_balances()


def test_release_before_reserve_wins_the_race_and_the_late_reserve_does_nothing(
    assert_stock_balances, counters, status_of
):
    order = uuid.uuid4()
    command(ReleaseStock(order_id=order))
    outcome, _ = command(ReserveStock(order_id=order, product_id=1))
    assert outcome is Outcome.APPLIED
    assert status_of(order) == "withdrawn"
    assert counters(1) == (1000, 0, 1000)
    assert published("stock") == [StockReleased(order_id=order, quantity=0)]
    assert_stock_balances()


def test_a_redelivered_reserve_after_its_release_does_not_reserve_again(assert_stock_balances, counters):
    order = uuid.uuid4()
    _, reserve = command(ReserveStock(order_id=order, product_id=1))
    command(ReleaseStock(order_id=order))
    # The same command with a new id (e.g. re-sent by the saga) is deduplicated by the order itself.
    command(ReserveStock(order_id=order, product_id=1))
    assert deliver_envelope(reserve, to="stock", handlers=REGISTRY) is Outcome.DUPLICATE
    assert Reservation.objects.get(order_id=order).status == "released"
    assert counters(1) == (1000, 0, 1000)
    assert_stock_balances()


def test_a_release_and_the_late_reserve_of_its_order_in_one_batch_reserve_nothing(
    in_one_batch, counters, status_of, assert_stock_balances
):
    order = uuid.uuid4()
    in_one_batch(ReleaseStock(order_id=order), ReserveStock(order_id=order, product_id=1))
    assert status_of(order) == "withdrawn"
    assert counters(1) == (1000, 0, 1000)
    assert published("stock") == [StockReleased(order_id=order, quantity=0)]
    assert_stock_balances()


def test_the_first_reservations_of_a_new_product_in_one_batch_share_its_item(in_one_batch, counters):
    first, second = uuid.uuid4(), uuid.uuid4()
    in_one_batch(ReserveStock(order_id=first, product_id=77), ReserveStock(order_id=second, product_id=77))
    assert counters(77) == (0, 0, 0)
    assert published("stock") == [
        StockBackordered(order_id=first, product_id=77),
        StockBackordered(order_id=second, product_id=77),
    ]
