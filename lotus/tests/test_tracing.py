"""Tracing (lotus.tracing): off by default and then inert; on, the trace context travels in the
envelope and the Kafka header, and every hop is a parent-child link.

The "on" tests give the hooks a tracer of their own that records in memory; they never call
:func:`lotus.tracing.setup`, which would instrument this test process for good."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from confluent_kafka import KafkaError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from lotus import tracing
from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.messaging.consumer import Applicable, Consumer
from lotus.messaging.outbox import Row
from lotus.messaging.producer import Publisher
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.tests.support import ECHO

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class FakeKafkaProducer:
    """Takes records and acknowledges (or refuses with ``refuse``) them at ``flush``."""

    def __init__(self, refuse: str | None = None) -> None:
        self.records: list[dict] = []
        self.refuse = refuse
        self._pending: list = []

    def produce(self, topic, *, value, key, headers, on_delivery):
        self.records.append({"topic": topic, "key": key, "headers": dict(headers)})
        self._pending.append(on_delivery)

    def flush(self, timeout):
        error = None if self.refuse is None else FakeError(self.refuse)
        for callback in self._pending:
            callback(error, None)
        self._pending = []
        return 0

    def poll(self, timeout):
        return 0


class FakeError:
    def __init__(self, text: str) -> None:
        self.text = text

    def str(self) -> str:
        return self.text

    def fatal(self) -> bool:
        return False

    def code(self) -> int:
        return KafkaError.MSG_SIZE_TOO_LARGE  # the record's fault, not the cluster's


class FakeRecord:
    def __init__(self, envelope: Envelope, headers: list | None = None) -> None:
        self.envelope = envelope
        self._headers = headers

    def headers(self):
        return self._headers

    def topic(self):
        return "t.diagnostics.commands"

    def partition(self):
        return 0

    def offset(self):
        return 7

    def value(self):
        return self.envelope.to_json().encode()


def row_for(envelope: Envelope, number: int = 1) -> Row:
    return Row(number, "t.diagnostics.commands", envelope.correlation_id, envelope.to_json(), str(envelope.id), "Ping")


def envelope(traceparent: str | None = None) -> Envelope:
    return Envelope.wrap(Ping(note="n"), source="test", correlation_id=str(uuid.uuid4()), traceparent=traceparent)


@pytest.fixture
def spans(monkeypatch) -> InMemorySpanExporter:
    """Tracing on for the hooks, spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing._statements_in_a_trace())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def hexes(span) -> tuple[str, str]:
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


# -- the switch ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_TRACES_EXPORTER": ""},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
    ],
)
def test_tracing_is_off_unless_an_exporter_is_named(environ):
    assert tracing.exporters_from_env(environ) == []
    assert tracing.setup(role="web", services=["orders"], environ=environ) is False
    assert not tracing.enabled()


def test_exporters_are_read_from_the_standard_variable_and_unknown_ones_refused():
    assert tracing.exporters_from_env({"OTEL_TRACES_EXPORTER": "otlp, Console"}) == ["otlp", "console"]
    assert tracing.exporters_from_env({"OTEL_TRACES_EXPORTER": "lotus_file", "LOTUS_TRACE_FILE": "/x"}) == [
        "lotus_file"
    ]
    with pytest.raises(ValueError, match="jaeger"):
        tracing.exporters_from_env({"OTEL_TRACES_EXPORTER": "jaeger"})
    with pytest.raises(ValueError, match="LOTUS_TRACE_FILE"):
        tracing.exporters_from_env({"OTEL_TRACES_EXPORTER": "lotus_file"})


def test_a_process_is_named_after_its_service():
    assert tracing.service_name(["billing"], "consume") == "lotus-billing"
    assert tracing.service_name(["billing", "orders"], "relay") == "lotus"
    assert tracing.service_name(["billing", "orders"], "web") == "lotus-web"


# -- off: the hooks make nothing -------------------------------------------------------------
def test_off_the_hooks_are_shared_no_ops_and_make_no_span():
    assert tracing.traceparent() is None
    assert tracing.publishing("relay") is None
    record = FakeRecord(envelope(PARENT), [("traceparent", OTHER.encode())])
    assert tracing.consuming("stock", record, record.envelope) is tracing._NOOP
    assert tracing.consuming_batch("stock", [(record, record.envelope)]) is tracing._NOOP
    assert tracing.span("anything", a=1) is tracing._NOOP


def test_off_records_carry_no_traceparent_header():
    client = FakeKafkaProducer()
    Publisher("test", client=client).produce([row_for(envelope(PARENT))])
    assert set(client.records[0]["headers"]) == {"type", "id", "correlation_id"}


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_off_a_sent_envelope_has_no_traceparent():
    with UnitOfWork("orders", publisher=None) as uow:
        (sent,) = uow.send(Ping(note="untraced"))
    assert sent.traceparent is None
    assert json.loads(sent.to_json())["traceparent"] is None


# -- on -------------------------------------------------------------------------------------
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_sent_envelope_keeps_the_context_it_was_sent_in(spans):
    with tracing.span("request") as current, UnitOfWork("orders", publisher=None) as uow:
        (sent,) = uow.send(Ping(note="traced"))
    assert sent.traceparent == tracing.w3c(current.get_span_context())
    assert sent.traceparent.split("-")[2] == f"{current.get_span_context().span_id:016x}"
    by_name = {span.name: span for span in spans.get_finished_spans()}
    # The outbox write is a span of its own, inside the request's.
    assert by_name["orders outbox write"].parent.span_id == current.get_span_context().span_id


def test_a_publish_span_is_a_child_of_the_stored_context_and_travels_in_the_header(spans):
    client = FakeKafkaProducer()
    produced = Publisher("relay orders", client=client).produce([row_for(envelope(PARENT))])

    assert len(produced.delivered) == 1
    (published,) = spans.get_finished_spans()
    assert published.kind is SpanKind.PRODUCER
    assert published.name == "t.diagnostics.commands publish"
    assert (
        f"{published.parent.trace_id:032x}-{published.parent.span_id:016x}"
        == "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"
    )
    assert published.parent.is_remote
    trace_id, span_id = hexes(published)
    assert client.records[0]["headers"]["traceparent"].split("-")[1:3] == [trace_id, span_id]
    assert published.attributes["lotus.publisher"] == "relay orders"
    assert published.status.status_code is StatusCode.UNSET


def test_a_refused_record_ends_its_publish_span_as_an_error(spans):
    Publisher("web", client=FakeKafkaProducer(refuse="topic gone")).produce([row_for(envelope(PARENT))])
    (published,) = spans.get_finished_spans()
    assert published.status.status_code is StatusCode.ERROR
    assert published.status.description == "topic gone"


def test_a_row_sent_without_a_context_starts_a_trace_of_its_own(spans):
    with tracing.span("a consumer's batch"):
        Publisher("relay orders", client=FakeKafkaProducer()).produce([row_for(envelope(None))])
    published, _ = spans.get_finished_spans()
    assert published.parent is None
    # A malformed one is not a reason to refuse the message, nor a parent.
    Publisher("relay orders", client=FakeKafkaProducer()).produce([row_for(envelope("00-nothex-01"))])
    assert spans.get_finished_spans()[-1].parent is None


def test_a_consumer_span_is_a_child_of_the_header_else_of_the_envelope(spans):
    with_header = FakeRecord(envelope(PARENT), [("type", b"Ping"), ("traceparent", OTHER.encode())])
    without = FakeRecord(envelope(PARENT), [("type", b"Ping")])
    untraced = FakeRecord(envelope(None), None)
    # Inside another span (a batch's), as in the consumer: an untraced message still starts a trace.
    with tracing.span("batch"):
        for record in (with_header, without, untraced):
            with tracing.consuming("stock", record, record.envelope):
                pass
    first, second, third, _ = spans.get_finished_spans()
    assert first.kind is SpanKind.CONSUMER
    assert f"{first.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert f"{second.parent.span_id:016x}" == "b7ad6b7169203331"
    assert third.parent is None
    assert first.attributes["messaging.message.id"] == str(with_header.envelope.id)


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_batch_handles_each_message_in_its_own_span_and_what_it_sends_inherits_it(spans):
    records = [FakeRecord(envelope(PARENT), [("traceparent", OTHER.encode())]), FakeRecord(envelope(PARENT))]
    batch = [Applicable(record, record.envelope, record.envelope.open(Ping)) for record in records]
    consumer = Consumer("stock", ECHO, kafka=object(), publisher=None)

    consumer.apply(batch)

    finished = spans.get_finished_spans()
    processed = [span for span in finished if span.kind is SpanKind.CONSUMER]
    assert [f"{span.parent.span_id:016x}" for span in processed] == ["00f067aa0ba902b7", "b7ad6b7169203331"]
    (batch_span,) = [span for span in finished if span.name == "stock consume batch"]
    assert f"{batch_span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert {f"{link.context.span_id:016x}" for link in batch_span.links} == {"00f067aa0ba902b7", "b7ad6b7169203331"}
    # The echoes each handler sent carry the context of their message's span.
    from lotus.messaging.models import OutboxMessage

    bodies = [
        json.loads(body) for body in OutboxMessage.objects.using("stock").order_by("id").values_list("body", flat=True)
    ]
    assert [body["traceparent"].split("-")[1:3] for body in bodies] == [list(hexes(span)) for span in processed]


def test_statements_outside_any_span_are_not_recorded(spans):
    tracer = tracing._tracer
    with tracer.start_as_current_span("poll", kind=SpanKind.CLIENT):
        pass
    with tracer.start_as_current_span("request"), tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        pass
    assert sorted(span.name for span in spans.get_finished_spans()) == ["SELECT", "request"]


def test_the_file_exporter_writes_a_line_per_span_with_ids_service_and_pid(tmp_path, monkeypatch):
    from opentelemetry.sdk.resources import Resource

    path = tmp_path / "spans-{pid}.jsonl"
    exporter = tracing._exporter("lotus_file", {"LOTUS_TRACE_FILE": str(path)})
    provider = TracerProvider(
        resource=Resource.create({"service.name": "lotus-stock", "lotus.role": "consume", "process.pid": 42})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer") as outer, tracer.start_as_current_span("inner"):
        pass
    (written,) = tmp_path.glob("spans-*.jsonl")
    assert written.name == f"spans-{os.getpid()}.jsonl"
    inner, outer_line = (json.loads(line) for line in written.read_text().splitlines())
    assert inner["name"] == "inner"
    assert inner["parent_id"] == f"{outer.get_span_context().span_id:016x}"
    assert outer_line["parent_id"] is None
    assert inner["trace_id"] == outer_line["trace_id"] == f"{outer.get_span_context().trace_id:032x}"
    assert (inner["service.name"], inner["lotus.role"], inner["pid"]) == ("lotus-stock", "consume", 42)


@pytest.mark.parametrize(
    ("name", "class_name"),
    [("otlp", "OTLPSpanExporter"), ("zipkin", "ZipkinExporter"), ("console", "ConsoleSpanExporter")],
)
def test_each_exporter_name_makes_its_exporter(name, class_name):
    assert type(tracing._exporter(name, {})).__name__ == class_name
