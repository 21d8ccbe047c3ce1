"""Unit tests: message contracts and envelopes."""

import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from lotus import contracts
from lotus.contracts import ContractError, Envelope
from lotus.contracts.billing import ChargeOrder, PaymentFailed
from lotus.contracts.stock import ReserveStock, StockReserved


def test_commands_travel_on_the_receivers_commands_topic_and_events_on_the_senders_events_topic():
    assert ReserveStock.topic == "stock.commands"
    assert StockReserved.topic == "stock.events"
    assert ChargeOrder.topic == "billing.commands"
    assert PaymentFailed.topic == "billing.events"


def test_messages_are_frozen_and_validated_when_built():
    message = ReserveStock(order_id=uuid.uuid4(), product_id=1)
    with pytest.raises(ValidationError):
        message.product_id = 2
    with pytest.raises(ValidationError):
        ReserveStock(order_id="not-a-uuid", product_id=1)
    with pytest.raises(ValidationError):
        ReserveStock(order_id=uuid.uuid4(), product_id=1, quantity=0)
    with pytest.raises(ValidationError):
        ChargeOrder(order_id=uuid.uuid4(), customer_id=1, amount=Decimal("-1"))
    with pytest.raises(ValidationError):
        ReserveStock(order_id=uuid.uuid4(), product_id=1, unexpected=True)


def test_an_envelope_round_trips_through_json_and_opens_into_the_same_message():
    order_id = uuid.uuid4()
    cause = uuid.uuid4()
    message = ChargeOrder(order_id=order_id, customer_id=7, amount=Decimal("300.00"))
    envelope = Envelope.wrap(message, source="orders", correlation_id=str(order_id), causation_id=cause)
    again = Envelope.from_bytes(envelope.to_json().encode())
    assert again == envelope
    assert again.type == "ChargeOrder"
    assert again.version == 1
    assert again.correlation_id == str(order_id)
    assert again.causation_id == cause
    assert again.open(ChargeOrder) == message


@pytest.mark.parametrize("raw", [b"", b"not json", b'{"type": "ChargeOrder"}', b"[]"])
def test_malformed_bytes_are_a_contract_error(raw):
    with pytest.raises(ContractError):
        Envelope.from_bytes(raw)


def test_a_payload_that_breaks_the_contract_is_a_contract_error():
    envelope = Envelope(type="ReserveStock", version=1, correlation_id="x", source="orders", payload={"product_id": 1})
    with pytest.raises(ContractError, match="payload is invalid"):
        envelope.open(ReserveStock)


def test_another_version_is_refused():
    envelope = Envelope(type="ReserveStock", version=2, correlation_id="x", source="orders", payload={})
    with pytest.raises(ContractError, match="version 2 is not supported"):
        envelope.open(ReserveStock)


def test_only_lotus_messages_can_be_wrapped():
    with pytest.raises(ContractError):
        Envelope.wrap({"type": "ChargeOrder"}, source="orders", correlation_id="x")


def test_every_contract_is_listed_once_and_found_by_type():
    names = [cls.type_name() for cls in contracts.MESSAGES]
    assert len(names) == len(set(names))
    assert contracts.message_class("StockReserved") is StockReserved
    assert contracts.message_class("NoSuchMessage") is None
    assert "billing.commands" in contracts.topics()
