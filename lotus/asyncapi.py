"""The AsyncAPI 3.0 document of every topic and message, generated from the code.

The OpenAPI schema (``/api/schema``) describes the HTTP API; this document describes what the
services say to each other over Kafka, so that a new consumer (another team, a data pipeline)
can read the contracts without reading Python. Nothing in it is written by hand, so it cannot
drift from what runs:

* **messages**: every class of :data:`lotus.contracts.MESSAGES`, its payload the pydantic model's
  JSON Schema (``model_json_schema``), wrapped in the :class:`~lotus.contracts.Envelope` (the
  Kafka value), whose own schema comes from the Envelope model, so that a new envelope field
  appears without anyone touching this module; the envelope's ``type`` and ``version`` are
  pinned to the message's;
* **key and headers**: the Kafka key is the correlation id (:meth:`Message.key`, the saga's order
  id for most messages); the headers are those the publisher sets
  (:mod:`lotus.messaging.producer`) plus the optional W3C ``traceparent``;
* **who receives**: each service's handler registry (``<service>/handlers.py``, found through
  :func:`lotus.bootstrap.handlers_for`), consuming in its group (:func:`consumer_group`);
* **who sends**: the contract classes each service app *constructs* in its own code (read from
  the source with :mod:`ast`: the core may not import a service app, and importing would not
  tell a message sent from one imported for a type hint). A message the lotus core constructs
  (``manage.py ping`` sends a Ping) runs in every service's process, so every service sends it;
* **channels**: one per topic (``<service>.commands``, ``<service>.events`` and each consumer's
  ``<service>.deadletter``), with the Kafka bindings :func:`ensure_topics` creates them with.

The document describes the code, not one deployment: topic names are the logical ones (a
deployment may prefix them, ``LOTUS_KAFKA_NAMESPACE``), partitions, replicas and retention are the defaults
of :mod:`lotus.conf`, and the broker is a placeholder (``KAFKA_BOOTSTRAP_SERVERS``), so that the
same document is committed (``docs/asyncapi.json``, checked by a test like ``makemigrations
--check``) and served (``/api/asyncapi.json``) without publishing a broker's address.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render as render_template

from lotus import contracts
from lotus.bootstrap import handlers_for
from lotus.conf import DEFAULTS
from lotus.contracts import Envelope, Message
from lotus.errors import error_body
from lotus.topology import SERVICES

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
#: Where ``manage.py asyncapi --output`` writes the committed document (relative to the project).
DOCUMENT_PATH = Path("docs") / "asyncapi.json"
CLIENT_ID = "lotus"

#: Headers the publisher sets on every record (lotus.messaging.producer) and the one that
#: tracing adds when it is on. Kafka headers are bytes; these are UTF-8 text.
HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Kafka record headers (UTF-8 text). The envelope carries the same values; the "
    "headers let a consumer route or drop a record without parsing its value.",
    "properties": {
        "type": {"type": "string", "description": "The message's type name (the envelope's `type`)."},
        "id": {"type": "string", "format": "uuid", "description": "The message id (the envelope's `id`)."},
        "correlation_id": {
            "type": "string",
            "description": "The conversation the message belongs to: the saga's order id for most "
            "messages; also the record's key.",
        },
        "traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "W3C trace context of the span that sent the message; present only when tracing is on.",
        },
    },
    "required": ["type", "id", "correlation_id"],
}


def build() -> dict[str, Any]:
    """The AsyncAPI document (a JSON-ready dict, in a stable order)."""
    receivers = {service: handlers_for(service) for service in SERVICES}
    senders = _senders()
    schemas: dict[str, Any] = {"Envelope": _envelope_schema()}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for message_class in contracts.MESSAGES:
        name = message_class.type_name()
        schemas[name] = _payload_schema(message_class, schemas)
        messages[name] = _message(message_class)
        channel = channels.setdefault(message_class.topic, _channel(message_class.topic))
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    messages["DeadLetter"] = _dead_letter_message()
    for service in SERVICES:
        topic = f"{service}.deadletter"
        channels[topic] = _channel(topic, description=f"Records {service}'s consumer gave up on (see the message).")
        channels[topic]["messages"]["DeadLetter"] = {"$ref": "#/components/messages/DeadLetter"}

    operations: dict[str, Any] = {}
    for service in SERVICES:
        sent = [cls for cls in contracts.MESSAGES if service in senders.get(cls, ())]
        for topic, group in _by_topic(sent).items():
            operations[f"{service}.send.{topic}"] = _operation(service, "send", topic, group)
        operations[f"{service}.send.{service}.deadletter"] = _operation(
            service, "send", f"{service}.deadletter", ["DeadLetter"]
        )
        handled = [cls for cls in contracts.MESSAGES if receivers[service].lookup(cls.type_name()) is not None]
        for topic, group in _by_topic(handled).items():
            operations[f"{service}.receive.{topic}"] = _operation(service, "receive", topic, group)

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:lotus:messages",
        "info": {
            "title": "Lotus messages",
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "description": (
                "The commands and events the six Lotus services (profiles, billing, orders, stock, "
                "delivery, notifications) exchange over Kafka, written to each service's outbox in "
                "the transaction of the change they announce and applied once by each receiver "
                "(inbox). Every record's value is an `Envelope` whose `payload` is the message; its "
                "key is the correlation id, so one saga's messages keep their order. Topic names "
                "are logical: a deployment with `LOTUS_KAFKA_NAMESPACE=ns` uses `ns.<topic>`. "
                "Generated from the code by `python manage.py asyncapi`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The deployment's brokers (KAFKA_BOOTSTRAP_SERVERS); SASL/TLS "
                "when KAFKA_SECURITY_PROTOCOL says so.",
                "variables": {
                    "bootstrap": {
                        "default": "127.0.0.1:9092",
                        "description": "host:port of a bootstrap broker (KAFKA_BOOTSTRAP_SERVERS).",
                    }
                },
            }
        },
        "channels": dict(sorted(channels.items())),
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render(document: dict[str, Any] | None = None) -> str:
    """The document as the text that is committed and served (JSON, two-space indent)."""
    return json.dumps(build() if document is None else document, indent=2, ensure_ascii=False) + "\n"


@cache
def served() -> bytes:
    """What ``/api/asyncapi.json`` answers: built once per process (the code does not change)."""
    return render().encode()


def document_view(request: HttpRequest) -> HttpResponse:
    """``/api/asyncapi.json``: the document, to anyone (as ``/api/schema`` is)."""
    if request.method not in {"GET", "HEAD"}:
        return _method_not_allowed(request)
    return HttpResponse(served(), content_type="application/json")


def page_view(request: HttpRequest) -> HttpResponse:
    """``/api/asyncapi``: the document rendered by AsyncAPI's React component, from static files."""
    if request.method not in {"GET", "HEAD"}:
        return _method_not_allowed(request)
    return render_template(request, "lotus/asyncapi.html")


def _method_not_allowed(request: HttpRequest) -> HttpResponse:
    body = error_body(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    response = JsonResponse(body, status=405)
    response["Allow"] = "GET, HEAD"
    return response


def _envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    schema["description"] = (
        "The Kafka record's value: a message plus what every hop needs (identity, type and "
        "version, times, correlation and causation). `payload` holds the message's fields."
    )
    return schema


def _payload_schema(message_class: type[Message], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = message_class.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, nested in schema.pop("$defs", {}).items():
        schemas.setdefault(name, nested)
    return schema


def _message(message_class: type[Message]) -> dict[str, Any]:
    name = message_class.type_name()
    envelope = copy.deepcopy(_envelope_schema())
    envelope["title"] = f"{name} envelope"
    envelope["description"] = f"The envelope of a {name} (version {message_class.version})."
    properties = envelope["properties"]
    properties["type"] = {**properties["type"], "const": name}
    properties["version"] = {**properties["version"], "const": message_class.version}
    properties["payload"] = {"$ref": f"#/components/schemas/{name}"}
    service = message_class.topic.split(".", 1)[0]
    message: dict[str, Any] = {
        "name": name,
        "title": name,
        "summary": _summary(message_class),
        "contentType": "application/json",
        "headers": HEADERS,
        "payload": envelope,
        "correlationId": {
            "description": _key_description(message_class),
            "location": "$message.header#/correlation_id",
        },
        "tags": [{"name": message_class.kind}, {"name": service}],
        "bindings": {"kafka": {"key": _key_schema(message_class), "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    return message


def _summary(message_class: type[Message]) -> str:
    """The first paragraph of the class's own docstring, or what kind of message it is."""
    own = (vars(message_class).get("__doc__") or "").strip()
    if own:
        return " ".join(own.split("\n\n", 1)[0].split())
    kind = "command to" if message_class.kind == "command" else "event of"
    return f"A {kind} the {message_class.topic.split('.', 1)[0]} service, version {message_class.version}."


def _key_description(message_class: type[Message]) -> str:
    if message_class.key_field is None:
        return (
            "The correlation id of the message that caused this one, or a new UUID when nothing "
            "did; also the record's key."
        )
    return f"The message's `{message_class.key_field}`: the conversation it belongs to; also the record's key."


def _key_schema(message_class: type[Message]) -> dict[str, Any]:
    if message_class.key_field is None:
        return {"type": "string", "description": _key_description(message_class)}
    field = copy.deepcopy(message_class.model_json_schema()["properties"][message_class.key_field])
    field.pop("title", None)
    # Keys are text on the wire: the field's value as ``str()``.
    schema: dict[str, Any] = {"type": "string"}
    if field.get("format"):
        schema["format"] = field["format"]
    elif field.get("type") == "integer":
        schema["pattern"] = "^-?[0-9]+$"
    schema["description"] = f"The message's `{message_class.key_field}` as text."
    return schema


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "A record a service's consumer gave up on, copied as it arrived.",
        "description": (
            "Malformed, of an unknown type or version, with an invalid payload, rejected by its "
            "handler, or failed `LOTUS_CONSUMER_MAX_ATTEMPTS` times. The value and key are the "
            "original record's (usually an envelope); the `type` header is the original type, or "
            "`malformed`. The same letter is kept in the service's dead-letter table, where an "
            "operator replays it (`manage.py deadletters`)."
        ),
        "contentType": "application/json",
        "headers": {
            **HEADERS,
            "properties": {
                **HEADERS["properties"],
                "type": {"type": "string", "description": "The original message's type, or `malformed`."},
            },
        },
        "payload": {"description": "The original record's value, byte for byte."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record's key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel(topic: str, *, description: str | None = None) -> dict[str, Any]:
    kafka = DEFAULTS["KAFKA"]
    service, kind = topic.split(".", 1)
    return {
        "address": topic,
        "title": topic,
        "description": description
        or (f"Commands to the {service} service." if kind == "commands" else f"Events of the {service} service."),
        "servers": [{"$ref": "#/servers/kafka"}],
        "messages": {},
        "bindings": {
            "kafka": {
                "topic": topic,
                "partitions": kafka["PARTITIONS"],
                "replicas": kafka["REPLICATION_FACTOR"],
                "topicConfiguration": {"retention.ms": round(kafka["RETENTION_HOURS"] * 3600 * 1000)},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operation(service: str, action: str, topic: str, names: Iterable[str]) -> dict[str, Any]:
    names = list(names)
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{_pointer(topic)}"},
        "title": f"{service} {action}s on {topic}",
        "summary": f"{service} {'publishes' if action == 'send' else 'consumes'} {', '.join(names)}.",
        "messages": [{"$ref": f"#/channels/{_pointer(topic)}/messages/{name}"} for name in names],
        "tags": [{"name": service}],
    }
    if action == "receive":
        group = f"lotus.{service}"
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": [group], "description": f"`ns.{group}` with a namespace."},
                "clientId": {"type": "string", "enum": [CLIENT_ID]},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    return operation


def _pointer(name: str) -> str:
    """``name`` as a JSON pointer token (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")


def _by_topic(message_classes: Iterable[type[Message]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for message_class in message_classes:
        grouped.setdefault(message_class.topic, []).append(message_class.type_name())
    return dict(sorted(grouped.items()))


def _senders() -> dict[type[Message], tuple[str, ...]]:
    """Which services send each message: those whose app constructs it (the core's: all)."""
    by_name = {cls.type_name(): cls for cls in contracts.MESSAGES}
    senders: dict[type[Message], list[str]] = {}
    core = Path(apps.get_app_config("lotus").path)
    for name in _constructed(_sources(core, skip={"contracts", "tests", "migrations"}), by_name):
        senders.setdefault(by_name[name], []).extend(SERVICES)
    for service in SERVICES:
        app = Path(apps.get_app_config(service).path)
        for name in _constructed(_sources(app, skip={"tests", "migrations"}), by_name):
            if service not in senders.setdefault(by_name[name], []):
                senders[by_name[name]].append(service)
    return {cls: tuple(s for s in SERVICES if s in services) for cls, services in senders.items()}


def _sources(root: Path, *, skip: set[str]) -> list[Path]:
    return sorted(
        path for path in root.rglob("*.py") if not skip & set(path.relative_to(root).parts[:-1]) and path.is_file()
    )


def _constructed(paths: Iterable[Path], contract_names: dict[str, type[Message]]) -> set[str]:
    """The contract type names called (constructed) in ``paths``, through names imported from
    ``lotus.contracts``, aliases included."""
    found: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imported = {
            alias.asname or alias.name: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lotus.contracts")
            for alias in node.names
            if alias.name in contract_names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported:
                found.add(imported[node.func.id])
    return found
