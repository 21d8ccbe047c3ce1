"""The AsyncAPI document (lotus.asyncapi): valid by AsyncAPI's own parser, complete (every
contract, with its payload schema, key, headers, senders and receivers), committed in step with
the code, and served with its page."""

import json
import shutil
import subprocess
from pathlib import Path
from uuid import UUID

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from django.templatetags.static import static as static_url
from django.test import Client

from lotus import asyncapi, contracts
from lotus.bootstrap import handlers_for
from lotus.contracts import Command, Envelope, Event, Message
from lotus.messaging import kafka
from lotus.topology import SERVICES

ROOT = Path(settings.BASE_DIR)
COMMITTED = ROOT / asyncapi.DOCUMENT_PATH
VALIDATOR = ROOT / "scripts" / "asyncapi-validate.mjs"


@pytest.fixture(scope="module")
def document():
    return asyncapi.build()


def all_contract_classes() -> set[type[Message]]:
    """Every concrete Message subclass (one that names its topic), however deep."""
    found, todo = set(), [Message]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub not in (Command, Event) and "topic" in vars(sub) and not sub.__module__.startswith("lotus.tests"):
                found.add(sub)
    return found


def parse(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "Node.js is needed to run AsyncAPI's parser (see scripts/npm.sh)"
    assert (ROOT / "node_modules" / "@asyncapi" / "parser").is_dir(), "run scripts/npm.sh (npm ci) first"
    return subprocess.run([node, str(VALIDATOR), str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)


# -- validity ---------------------------------------------------------------------------------


def test_the_committed_document_is_valid_asyncapi_3_by_asyncapis_parser():
    result = parse(COMMITTED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout
    assert "\nerror:" not in result.stdout, result.stdout
    assert "\nwarning:" not in result.stdout, result.stdout


def test_the_parser_script_fails_with_the_diagnostics_on_a_broken_document(tmp_path, document):
    broken = json.loads(asyncapi.render(document))
    operation = broken["operations"]["orders.send.billing.commands"]
    operation["messages"].append({"$ref": "#/channels/stock.commands/messages/ReserveStock"})
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = parse(path)
    assert result.returncode == 1
    assert "error: asyncapi3-operation-messages-from-referred-channel" in result.stdout
    assert "/operations/orders.send.billing.commands/messages/2" in result.stdout


# -- in step with the code --------------------------------------------------------------------


def test_the_committed_document_matches_the_code():
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi.render(), (
        f"{asyncapi.DOCUMENT_PATH} does not match the message contracts: "
        "run `python manage.py asyncapi --output docs/asyncapi.json` and commit the result"
    )


def test_check_fails_when_a_contract_changes_without_the_document(monkeypatch, capsys):
    call_command("asyncapi", "--check")
    assert "is up to date" in capsys.readouterr().out

    class ChargeOrder(Command, service="billing"):  # the same contract, one field more
        order_id: UUID
        customer_id: int
        amount: float
        currency: str

    changed = tuple(ChargeOrder if cls is contracts.billing.ChargeOrder else cls for cls in contracts.MESSAGES)
    monkeypatch.setattr(contracts, "MESSAGES", changed)
    with pytest.raises(CommandError, match=r"manage\.py asyncapi --output docs/asyncapi\.json"):
        call_command("asyncapi", "--check")


def test_output_writes_the_document_and_yaml_is_the_same_document(tmp_path):
    import yaml

    call_command("asyncapi", "--output", str(tmp_path / "a.json"))
    call_command("asyncapi", "--output", str(tmp_path / "a.yaml"), "--format", "yaml")
    assert (tmp_path / "a.json").read_text() == asyncapi.render()
    assert yaml.safe_load((tmp_path / "a.yaml").read_text()) == json.loads(asyncapi.render())


# -- complete ---------------------------------------------------------------------------------


def test_every_contract_is_listed_and_documented_with_its_payload_schema(document):
    classes = all_contract_classes()
    assert classes == set(contracts.MESSAGES), "a Message subclass is missing from lotus.contracts.MESSAGES"
    messages, schemas = document["components"]["messages"], document["components"]["schemas"]
    for cls in classes:
        name = cls.type_name()
        assert name in messages, name
        assert schemas[name] == cls.model_json_schema(), name
        envelope = messages[name]["payload"]
        assert envelope["properties"]["payload"] == {"$ref": f"#/components/schemas/{name}"}
        assert envelope["properties"]["type"]["const"] == name
        assert envelope["properties"]["version"]["const"] == cls.version
        channel = document["channels"][cls.topic]
        assert channel["address"] == cls.topic
        assert channel["messages"][name] == {"$ref": f"#/components/messages/{name}"}


def test_the_envelope_schema_follows_the_envelope_model(document):
    model = Envelope.model_json_schema()
    assert document["components"]["schemas"]["Envelope"]["properties"] == model["properties"]
    for message in contracts.MESSAGES:
        payload = document["components"]["messages"][message.type_name()]["payload"]
        assert set(payload["properties"]) == set(model["properties"])
        assert payload["required"] == model["required"]
        assert payload["additionalProperties"] is False


def test_headers_are_those_the_publisher_sets_plus_an_optional_traceparent(document):
    headers = document["components"]["messages"]["ChargeOrder"]["headers"]
    assert set(headers["properties"]) == {"type", "id", "correlation_id", "traceparent"}
    assert headers["required"] == ["type", "id", "correlation_id"]
    producer = (ROOT / "lotus" / "messaging" / "producer.py").read_text()
    for header in headers["required"]:
        assert f'("{header}", ' in producer, f"the publisher no longer sets the {header} header"


def test_the_kafka_key_is_the_correlation_id(document):
    messages = document["components"]["messages"]
    charge = messages["ChargeOrder"]
    assert charge["bindings"]["kafka"]["key"]["format"] == "uuid"
    assert charge["correlationId"]["location"] == "$message.header#/correlation_id"
    assert "order_id" in charge["correlationId"]["description"]
    assert messages["UserRegistered"]["bindings"]["kafka"]["key"]["pattern"] == "^-?[0-9]+$"
    assert "caused this one" in messages["Ping"]["correlationId"]["description"]


def test_receivers_are_the_handler_registries_with_their_consumer_groups(document):
    operations = document["operations"]
    for service in SERVICES:
        handled = set(handlers_for(service).message_types())
        received = {
            ref["$ref"].rsplit("/", 1)[1]
            for key, operation in operations.items()
            if key.startswith(f"{service}.receive.")
            for ref in operation["messages"]
        }
        assert received == handled, service
    billing = operations["billing.receive.billing.commands"]
    assert billing["action"] == "receive"
    assert billing["channel"] == {"$ref": "#/channels/billing.commands"}
    assert billing["bindings"]["kafka"]["groupId"]["enum"] == ["lotus.billing"]
    assert kafka.consumer_group("billing").endswith("lotus.billing"), "the consumers' group is another"


def test_senders_are_the_services_that_construct_each_message(document):
    operations = document["operations"]

    def sent_by(service: str) -> set[str]:
        return {
            ref["$ref"].rsplit("/", 1)[1]
            for key, operation in operations.items()
            if key.startswith(f"{service}.send.")
            for ref in operation["messages"]
        }

    assert {"ChargeOrder", "RefundOrder", "ReserveStock", "ReserveCourier", "OrderPlaced"} <= sent_by("orders")
    assert "ChargeOrder" not in sent_by("billing")
    assert "PaymentTaken" in sent_by("billing")
    assert sent_by("profiles") == {"UserRegistered", "Ping", "DeadLetter"}
    # An event is sent by the service whose topic it travels on, and by no one else.
    for cls in contracts.MESSAGES:
        senders = {service for service in SERVICES if cls.type_name() in sent_by(service)}
        assert senders, f"no service sends {cls.type_name()}"
        if cls.kind == "event":
            assert senders == {cls.topic.split(".")[0]}, cls.type_name()
    # Ping is sent by the core's tooling (manage.py ping --from SERVICE) in any service.
    assert all("Ping" in sent_by(service) for service in SERVICES)


def test_channels_are_every_topic_the_project_creates(document):
    logical = contracts.topics() + [f"{service}.deadletter" for service in SERVICES]
    assert sorted(document["channels"]) == sorted(logical)
    binding = document["channels"]["orders.events"]["bindings"]["kafka"]
    assert binding["partitions"] == 3
    assert binding["replicas"] == 1
    assert binding["topicConfiguration"]["retention.ms"] == 168 * 3600 * 1000


def test_the_server_is_a_placeholder_not_the_deployments_broker(document, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "secret-broker.internal:9093"
    assert "secret-broker" not in asyncapi.render()
    assert document["servers"]["kafka"]["host"] == "{bootstrap}"


# -- served -----------------------------------------------------------------------------------


def test_the_document_is_served_next_to_the_openapi_schema():
    client = Client()
    response = client.get("/api/asyncapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content.decode() == COMMITTED.read_text(encoding="utf-8")
    refused = client.post("/api/asyncapi.json")
    assert refused.status_code == 405
    assert refused.json()["error"]["code"] == "method_not_allowed"
    assert refused["Allow"] == "GET, HEAD"


def test_the_page_loads_asyncapis_renderer_from_our_static_files():
    response = Client().get("/api/asyncapi")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-document-url="/api/asyncapi.json"' in html
    for static in ("asyncapi/index.js", "asyncapi/default.min.css", "lotus/asyncapi-page.js"):
        assert f'"{static_url(static)}"' in html, static
        found = finders.find(static)
        assert found, f"{static} is not among the static files (run scripts/npm.sh)"
    assert "http://" not in html, "no CDN"
    assert "https://" not in html, "no CDN"
    bundle = Path(finders.find("asyncapi/index.js")).read_text(encoding="utf-8", errors="replace")
    assert "AsyncApiStandalone" in bundle
    installed = json.loads((ROOT / "node_modules" / "@asyncapi" / "react-component" / "package.json").read_text())
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["@asyncapi/react-component"]
    assert installed["version"] == pinned


def test_the_page_renders_the_document_offline_in_chromium(live_server, tmp_path):
    """Headless Chromium (Debian's) opens the page with every host but this server unreachable:
    AsyncAPI's component renders the operations and messages from our own static files."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is needed (root: apt-get install -y chromium)"
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{live_server.url}/api/asyncapi",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = result.stdout
    # The document's description, which only the component shows (the page's title says "Lotus messages").
    assert "Generated from the code by" in dom, f"not rendered:\n{dom[:2000]}\n{result.stderr[-2000:]}"
    for shown in ("orders.send.billing.commands", "billing.receive.billing.commands", "ChargeOrder", "UserRegistered"):
        assert shown in dom, shown
    assert "renderer is not installed" not in dom
