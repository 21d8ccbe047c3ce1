"""End to end: one order is one trace, across the split stack's processes and every Kafka hop.

A stack of its own with tracing on (``scripts/stack.sh`` passes the environment to every
process), exporting spans to JSON-lines files (``OTEL_TRACES_EXPORTER=lotus_file``); the other
end-to-end tests keep their untraced stack. Its web processes do not publish after their commit
(``LOTUS_WEB_PUBLISHES=false``), so that a saga's first hop goes through a relay: both kinds of
publisher, a relay and a consumer after its commit, are then in the trace.
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from lotus.testing import wait_for
from tests.e2e.conftest import ROOT, Stack

pytestmark = pytest.mark.e2e

NAME = os.environ.get("LOTUS_E2E_TRACE_STACK", "e2etrace")
PORT = os.environ.get("LOTUS_E2E_TRACE_PORT", "8150")
SAGA = {"lotus-orders", "lotus-billing", "lotus-stock", "lotus-delivery", "lotus-notifications"}


@pytest.fixture(scope="module")
def traced(tmp_path_factory) -> tuple[Stack, Path]:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.fail("end-to-end tests need DATABASE_URL pointing at PostgreSQL (make test sets it)")
    spans = tmp_path_factory.mktemp("spans")
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "lotus_file",
        "LOTUS_TRACE_FILE": str(spans / "spans-{pid}.jsonl"),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "LOTUS_WEB_PUBLISHES": "false",
    }
    env.pop("OTEL_SDK_DISABLED", None)
    env.pop("OTEL_SERVICE_NAME", None)
    script = ROOT / "scripts" / "stack.sh"
    subprocess.run([script, "start", NAME, PORT], check=True, cwd=ROOT, env=env)
    try:
        exported = subprocess.run([script, "env", NAME], check=True, cwd=ROOT, capture_output=True, text=True).stdout
        values = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exported.splitlines() if line
        )
        yield Stack(values), spans
    finally:
        subprocess.run([script, "stop", NAME], cwd=ROOT, check=False, env=env)


def read_spans(folder: Path) -> list[dict]:
    spans = []
    for path in folder.glob("spans-*.jsonl"):
        for line in path.read_text().splitlines():
            if line.endswith("}"):  # a line being written is skipped until the next read
                spans.append(json.loads(line))
    return spans


def keyed(spans: list[dict], key: str) -> list[dict]:
    return [s for s in spans if s["attributes"].get("messaging.kafka.message.key") == key]


def test_one_order_is_one_trace_across_every_process_and_kafka_hop(traced):
    stack, folder = traced
    api = stack.customer(money=1000)
    placed = api.call("POST", "/order/place?idSubscription=1")
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]
    wait_for(
        lambda: api.call("GET", f"/order/{order_id}").json()["status"] == "NotifyingSourceSystem",
        timeout=30,
        message="the order in delivery",
    )

    def last_notification_traced():
        spans = read_spans(folder)
        done = any(
            s["kind"] == "CONSUMER" and s["attributes"].get("lotus.message_type") == "OrderInDelivery"
            and s["service.name"] == "lotus-notifications"
            for s in keyed(spans, order_id)
        )  # fmt: skip
        return done and spans

    wait_for(last_notification_traced, timeout=30, interval=0.2, message="the last notification's span")

    def whole(spans: list[dict]) -> bool:
        """Every parent of the order's spans is written too (each process exports on its own)."""
        ids = {s["span_id"] for s in spans}
        traces = {s["trace_id"] for s in keyed(spans, order_id)}
        return all(s["parent_id"] in ids for s in spans if s["trace_id"] in traces and s["parent_id"])

    spans = wait_for(
        lambda: (spans := read_spans(folder)) and whole(spans) and spans, timeout=10, message="whole trace"
    )

    # One order, one trace: every span that names the order is in it.
    trace_ids = {s["trace_id"] for s in keyed(spans, order_id)}
    assert len(trace_ids) == 1, trace_ids
    (trace_id,) = trace_ids
    trace = [s for s in spans if s["trace_id"] == trace_id]
    by_id = {s["span_id"]: s for s in trace}

    # It starts at the HTTP request, in the orders web process.
    roots = [s for s in trace if s["parent_id"] is None]
    assert [(r["service.name"], r["lotus.role"], r["kind"], r["name"]) for r in roots] == [
        ("lotus-orders", "web", "SERVER", "POST order/place")
    ]
    # Every span but the root hangs from a span of the same trace (none is lost on the way).
    assert all(s["parent_id"] in by_id for s in trace if s["parent_id"] is not None)

    # The five services of the saga take part, each in processes of its own: the orders web
    # process, the relay that published the request's messages, and a consumer per service.
    processes = {(s["service.name"], s["lotus.role"], s["pid"]) for s in trace}
    assert {name for name, _, _ in processes} == SAGA
    roles = collections.defaultdict(set)
    for name, role, _ in processes:
        roles[name].add(role)
    assert roles["lotus-orders"] == {"web", "relay", "consume"}
    for name in SAGA - {"lotus-orders"}:
        assert roles[name] == {"consume"}, (name, roles[name])
    assert len({pid for _, _, pid in processes}) == 7

    # Every Kafka hop is a parent-child link between processes: each consumer span's parent is
    # the span that published that very message, in another process.
    consumed = [s for s in trace if s["kind"] == "CONSUMER"]
    for span in consumed:
        parent = by_id[span["parent_id"]]
        assert parent["kind"] == "PRODUCER", (span["name"], parent["name"])
        assert parent["pid"] != span["pid"]
        assert parent["attributes"]["messaging.message.id"] == span["attributes"]["messaging.message.id"]
        assert parent["attributes"]["messaging.destination.name"] == span["attributes"]["messaging.destination.name"]
    hops = {
        (by_id[s["parent_id"]]["service.name"], s["service.name"], s["attributes"]["lotus.message_type"])
        for s in consumed
    }
    assert {
        ("lotus-orders", "lotus-billing", "ChargeOrder"),
        ("lotus-billing", "lotus-orders", "PaymentTaken"),
        ("lotus-orders", "lotus-stock", "ReserveStock"),
        ("lotus-stock", "lotus-orders", "StockReserved"),
        ("lotus-orders", "lotus-delivery", "ReserveCourier"),
        ("lotus-delivery", "lotus-orders", "CourierReserved"),
        ("lotus-orders", "lotus-notifications", "OrderInDelivery"),
    } <= hops, hops

    # The relay published the request's command, as a child of the request's span.
    (charge,) = [s for s in trace if s["kind"] == "PRODUCER" and s["attributes"]["lotus.message_type"] == "ChargeOrder"]
    assert charge["lotus.role"] == "relay"
    assert by_id[charge["parent_id"]]["lotus.role"] == "web"
    # A consumer publishes what its handler sent, as a child of the message's span.
    (stock,) = [s for s in trace if s["kind"] == "PRODUCER" and s["attributes"]["lotus.message_type"] == "ReserveStock"]
    assert stock["lotus.role"] == "consume"
    assert by_id[stock["parent_id"]]["kind"] == "CONSUMER"

    # Database statements are traced (psycopg) in the web process and in every consumer.
    statements = {(s["service.name"], s["lotus.role"]) for s in trace if s["kind"] == "CLIENT"}
    assert {("lotus-orders", "web")} | {(name, "consume") for name in SAGA} <= statements

    # Each sent message's envelope keeps the context it was sent in, in every service's outbox.
    for service in ("orders", "billing", "stock", "delivery"):
        bodies = [json.loads(body) for (body,) in stack.sql(
            service, "SELECT body FROM messaging_outboxmessage WHERE key = %s", (order_id,)
        )]  # fmt: skip
        assert bodies, service
        for body in bodies:
            assert body["traceparent"].split("-")[1] == trace_id, (service, body["type"])


def test_a_registration_is_traced_from_profiles_to_billing(traced):
    stack, folder = traced
    stack.customer()

    def account_traced():
        spans = read_spans(folder)
        return [
            s for s in spans
            if s["kind"] == "CONSUMER" and s["attributes"].get("lotus.message_type") == "UserRegistered"
        ] and spans  # fmt: skip

    spans = wait_for(account_traced, timeout=30, interval=0.2, message="billing's span of UserRegistered")
    by_id = {s["span_id"]: s for s in spans}
    for consumed in [s for s in spans if s["attributes"].get("lotus.message_type") == "UserRegistered"]:
        if consumed["kind"] != "CONSUMER":
            continue
        assert consumed["service.name"] == "lotus-billing"
        published = by_id[consumed["parent_id"]]
        assert (published["service.name"], published["lotus.role"]) == ("lotus-profiles", "relay")
        request = by_id[published["parent_id"]]
        assert (request["service.name"], request["lotus.role"], request["kind"]) == ("lotus-profiles", "web", "SERVER")
        assert request["parent_id"] is None
