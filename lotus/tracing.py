"""OpenTelemetry tracing: one order is one trace, from ``POST /order/place`` to its last notification.

Off unless the environment names an exporter, and then nothing is instrumented: the hooks the
messaging core calls on its hot paths (:func:`traceparent`, :func:`publishing`,
:func:`consuming`, :func:`span`) check one module variable and return ``None`` or a shared
no-op context, without making a span. The switch is the standard ``OTEL_TRACES_EXPORTER``:

* unset or ``none`` (or ``OTEL_SDK_DISABLED=true``): off;
* ``otlp``: OTLP over HTTP/protobuf to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default
  ``http://localhost:4318``; Jaeger, an OpenTelemetry Collector, Tempo...);
* ``zipkin``: Zipkin's JSON API at ``OTEL_EXPORTER_ZIPKIN_ENDPOINT`` (default
  ``http://localhost:9411/api/v2/spans``): the local viewer of ``LOTUS_TRACING=zipkin make up``;
* ``console``: the SDK's console exporter (stdout, one JSON document per span);
* ``lotus_file``: one JSON line per span appended to ``LOTUS_TRACE_FILE`` (``{pid}`` in the
  path is replaced by the process id), with its trace, span and parent ids, name, kind,
  ``service.name``, role and process id: what the end-to-end test reads;
* several, comma-separated.

Every other ``OTEL_*`` variable keeps its standard meaning (``OTEL_TRACES_SAMPLER``,
``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_RESOURCE_ATTRIBUTES``...). ``OTEL_SERVICE_NAME`` defaults
to ``lotus-<service>`` for a process of one service (``lotus`` when it runs several), and the
resource says the process's role (``lotus.role``: web, relay, consume, deadlines) and pid.

:func:`setup` is called once by each process entrypoint (``lotus.wsgi``, the ``relay``,
``consume`` and ``expire_orders`` commands), before any request or database connection:
it installs the Django instrumentation (a span per HTTP request) and the psycopg one (a span
per SQL statement). Kafka is traced here, by hand, because the messaging core batches what
the contrib confluent-kafka instrumentation sees one call at a time:

* a unit of work that *sends* a message stores the current span's context in the envelope
  (``Envelope.traceparent``, W3C ``00-<trace id>-<span id>-<flags>``), so it is committed with
  the outbox row and survives a crash until the relay publishes it;
* the publisher (the relay, or a web request or consumer right after its commit) records a
  ``<topic> publish`` span, a child of that stored context, and sends *its* context in the
  Kafka header ``traceparent``;
* the consumer handles each message of a batch in a ``<topic> process`` span, a child of the
  header's context (the envelope's when the header is missing); what its handler sends
  inherits that span. The batch's own statements (its one ``INSERT``, the commit) are in a
  ``<service> consume batch`` span, a child of its first message's context and linked to all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

#: The tracer when tracing is on; None when it is off (every hook checks this first).
_tracer: Tracer | None = None
_NOOP = contextlib.nullcontext()
_TRACEPARENT_IN_BODY = re.compile(r'"traceparent":"([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"')
EXPORTERS = ("otlp", "zipkin", "console", "lotus_file")


def enabled() -> bool:
    return _tracer is not None


def exporters_from_env(environ: Any = os.environ) -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names; empty when tracing is off. An unknown
    name is refused (``ValueError``) rather than silently traced nowhere."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    names = [name for name in names if name != "none"]
    unknown = sorted(set(names) - set(EXPORTERS))
    if unknown:
        raise ValueError(f"OTEL_TRACES_EXPORTER names {', '.join(unknown)}; Lotus knows {', '.join(EXPORTERS)}, none")
    if "lotus_file" in names and not environ.get("LOTUS_TRACE_FILE"):
        raise ValueError("OTEL_TRACES_EXPORTER=lotus_file needs LOTUS_TRACE_FILE (a path; {pid} is the process id)")
    return names


def service_name(services: Sequence[str], role: str) -> str:
    """``lotus-<service>`` for a process of one service; ``lotus-web`` or ``lotus`` otherwise."""
    if len(services) == 1:
        return f"lotus-{services[0]}"
    return "lotus-web" if role == "web" else "lotus"


def setup(*, role: str, services: Sequence[str], environ: Any = os.environ) -> bool:
    """Turn tracing on for this process if the environment asks for it; return whether it is on.
    Call once, from the process's entrypoint, before it serves or connects to a database."""
    global _tracer
    names = exporters_from_env(environ)
    if not names or _tracer is not None:
        return _tracer is not None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": environ.get("OTEL_SERVICE_NAME") or service_name(services, role),
            "service.namespace": "lotus",
            "lotus.role": role,
            "lotus.services": ",".join(services),
            "process.pid": os.getpid(),
        }
    )
    provider = TracerProvider(resource=resource, sampler=_statements_in_a_trace())
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))
    trace.set_tracer_provider(provider)
    _instrument(role)
    _tracer = provider.get_tracer("lotus")
    return True


def _statements_in_a_trace():
    """``OTEL_TRACES_SAMPLER``'s sampler, except that a database statement outside any span (a
    relay's poll, a lease renewal, housekeeping) is not recorded: it would be a trace of its own
    every second, about no saga."""
    from opentelemetry.sdk.trace import sampling
    from opentelemetry.trace import SpanKind, get_current_span

    configured = sampling._get_from_env_or_default()

    class StatementsInATrace(sampling.Sampler):
        def should_sample(
            self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
        ):
            if kind is SpanKind.CLIENT and not get_current_span(parent_context).get_span_context().is_valid:
                return sampling.SamplingResult(sampling.Decision.DROP)
            return configured.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"StatementsInATrace({configured.get_description()})"

    return StatementsInATrace()


def _exporter(name: str, environ: Any):
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    return JsonLinesExporter(environ["LOTUS_TRACE_FILE"].replace("{pid}", str(os.getpid())))


def _instrument(role: str) -> None:
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    PsycopgInstrumentor().instrument(skip_dep_check=True)
    if role == "web":
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        # Probes and scrapes are not part of any saga (OTEL_PYTHON_DJANGO_EXCLUDED_URLS overrides).
        excluded = None if os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") else "healthz,readyz,metrics"
        DjangoInstrumentor().instrument(excluded_urls=excluded)


# -- the hooks of the messaging core ---------------------------------------------------------
def traceparent() -> str | None:
    """The current span's context in W3C form, to store in an envelope; None when off or
    outside any span."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return w3c(context) if context.is_valid else None


def w3c(context: Any) -> str:
    """A span context as a W3C ``traceparent``: ``00-<trace id>-<span id>-<flags>``."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _context(traceparent_value: str | None):
    """An OpenTelemetry context whose parent is ``traceparent_value``; without one (or with a
    malformed one) an empty context, so that the span starts a trace rather than joining
    whatever span is current (a batch's)."""
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not traceparent_value:
        return Context()
    return TraceContextTextMapPropagator().extract({"traceparent": traceparent_value}, context=Context())


def body_traceparent(body: str) -> str | None:
    """The ``traceparent`` stored in an outbox row's envelope (its JSON body), if any."""
    found = _TRACEPARENT_IN_BODY.search(body)
    return found.group(1) if found else None


class Publishing:
    """The publish spans of one :meth:`~lotus.messaging.producer.Publisher.produce` call, one per
    row, each a child of the context its envelope stored; ended when the broker answers."""

    def __init__(self, tracer: Tracer, who: str) -> None:
        self.tracer = tracer
        self.who = who
        self.spans: dict[int, Span] = {}
        self._lock = threading.Lock()

    def start(self, *, row_id: int, topic: str, key: str, body: str, message_id: str, message_type: str) -> str:
        """Start the span of one row; return the ``traceparent`` header to send with it."""
        from opentelemetry.trace import SpanKind

        span = self.tracer.start_span(
            f"{topic} publish",
            context=_context(body_traceparent(body)),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "messaging.message.id": message_id,
                "messaging.kafka.message.key": key,
                "lotus.message_type": message_type,
                "lotus.publisher": self.who,
                "lotus.outbox_row": row_id,
            },
        )
        self.spans[row_id] = span
        return w3c(span.get_span_context())

    def answered(self, row_id: int, error: str | None) -> None:
        """The broker acknowledged the row (``error`` None) or refused it: end its span."""
        with self._lock:
            span = self.spans.pop(row_id, None)
        if span is None:
            return
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, error))
        span.end()

    def finish(self) -> None:
        """End the spans of rows the broker did not answer in time, as errors."""
        with self._lock:
            left = list(self.spans)
        for row_id in left:
            self.answered(row_id, "not acknowledged in time")


def publishing(who: str) -> Publishing | None:
    """The publish spans of one produce call; None when tracing is off."""
    return None if _tracer is None else Publishing(_tracer, who)


def record_traceparent(headers: list[tuple[str, bytes]] | None) -> str | None:
    if headers:
        for name, value in headers:
            if name == "traceparent" and value:
                return value.decode("ascii", errors="replace") if isinstance(value, bytes) else str(value)
    return None


def consuming(service: str, record: Any, envelope: Any):
    """A context manager: the ``<topic> process`` span of one message a consumer applies, a
    child of the producing side's span (Kafka header ``traceparent``, else the envelope's).
    A shared no-op when tracing is off."""
    if _tracer is None:
        return _NOOP
    return _consuming(_tracer, service, record, envelope)


@contextlib.contextmanager
def _consuming(tracer: Tracer, service: str, record: Any, envelope: Any) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind

    parent = record_traceparent(record.headers()) or envelope.traceparent
    with tracer.start_as_current_span(
        f"{record.topic()} process",
        context=_context(parent),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic(),
            "messaging.destination.partition.id": str(record.partition()),
            "messaging.kafka.offset": record.offset(),
            "messaging.message.id": str(envelope.id),
            "messaging.kafka.message.key": envelope.correlation_id,
            "messaging.consumer.group.name": f"lotus.{service}",
            "lotus.message_type": envelope.type,
            "lotus.service": service,
        },
    ) as span:
        yield span


def consuming_batch(service: str, parents: Sequence[tuple[Any, Any]]):
    """A context manager: the span of a consumer's batch (its transaction: the one statement
    that writes what the handlers sent and the inbox ids, and the commit), a child of the first
    message's producing span and linked to every message's. No-op when off."""
    if _tracer is None or not parents:
        return _NOOP
    return _consuming_batch(_tracer, service, parents)


@contextlib.contextmanager
def _consuming_batch(tracer: Tracer, service: str, parents: Sequence[tuple[Any, Any]]) -> Iterator[Span]:
    from opentelemetry import trace

    contexts = [_context(record_traceparent(record.headers()) or envelope.traceparent) for record, envelope in parents]
    links = []
    for context in contexts:
        span_context = trace.get_current_span(context).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    with tracer.start_as_current_span(
        f"{service} consume batch",
        context=contexts[0],
        links=links,
        attributes={"lotus.service": service, "messaging.batch.message_count": len(parents)},
    ) as span:
        yield span


def span(name: str, **attributes: Any):
    """A context manager: an internal span named ``name`` (the outbox write, a deadline check);
    the shared no-op when tracing is off."""
    if _tracer is None:
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=attributes)


# -- the file exporter (tests) ----------------------------------------------------------------
class JsonLinesExporter:
    """Appends one JSON object per span to a file: ids in hex, name, kind, times, the resource's
    ``service.name``, ``lotus.role`` and ``process.pid``, attributes, links and status. Each line
    is one ``write`` to a file opened for appending, so processes may share a file."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def export(self, spans) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = []
        for finished in spans:
            context = finished.context
            resource = finished.resource.attributes
            lines.append(
                json.dumps(
                    {
                        "trace_id": f"{context.trace_id:032x}",
                        "span_id": f"{context.span_id:016x}",
                        "parent_id": f"{finished.parent.span_id:016x}" if finished.parent else None,
                        "name": finished.name,
                        "kind": finished.kind.name,
                        "start": finished.start_time,
                        "end": finished.end_time,
                        "service.name": resource.get("service.name"),
                        "lotus.role": resource.get("lotus.role"),
                        "pid": resource.get("process.pid"),
                        "attributes": dict(finished.attributes or {}),
                        "links": [
                            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
                            for link in finished.links
                        ],
                        "status": finished.status.status_code.name,
                    },
                    default=str,
                )
                + "\n"
            )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for line in lines:
                os.write(fd, line.encode())
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
