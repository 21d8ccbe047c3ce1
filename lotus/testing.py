"""Helpers for tests of Lotus and of the apps built on it.

* :func:`kafka_namespace_for_session` points the process at fresh topics and groups;
* :func:`lotus_override` changes Lotus settings for a block or a test;
* :func:`wait_for` polls a condition with a bounded timeout (no fixed sleeps);
* :class:`Worker` runs a relay or a consumer in a background thread and stops it cleanly.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections
from django.test import override_settings

from lotus.conf import amended, lotus_settings
from lotus.messaging.kafka import all_topics, ensure_topics

T = TypeVar("T")


def kafka_namespace_for_session(partitions: int = 3) -> str:
    namespace = f"test{uuid.uuid4().hex[:10]}"
    lotus_settings.change("KAFKA", NAMESPACE=namespace)
    ensure_topics(all_topics(), partitions=partitions)
    return namespace


@contextmanager
def lotus_override(section: str, **values: Any) -> Iterator[None]:
    """Change Lotus settings until the block or the decorated test ends:
    ``with lotus_override("CONSUMER", MAX_ATTEMPTS=2):`` or ``@lotus_override("WEB", PUBLISHES=False)``.
    Applied over the settings in force when it starts, so overrides nest; an unknown section or
    key is refused."""
    with override_settings(LOTUS=amended(getattr(settings, "LOTUS", {}), section, values)):
        yield


def wait_for(condition: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, message: str = "") -> T:
    """Return the first truthy result of ``condition()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or condition}")
        time.sleep(interval)


class Worker:
    """Run ``target(stop_event)``-style workers (relays, consumers) in a thread."""

    def __init__(self, make: Callable[[threading.Event], Any], name: str = "worker") -> None:
        self.stop_event = threading.Event()
        self.instance = make(self.stop_event)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self.instance.run()
        except BaseException as exc:  # noqa: BLE001 -- surfaced to the test by stop()
            self.error = exc
        finally:
            connections.close_all()

    def __enter__(self) -> Any:
        self.thread.start()
        return self.instance

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"{self.thread.name} did not stop within {timeout}s")
        if self.error is not None:
            raise self.error


def worker_environment(*services: str) -> dict[str, str]:
    """Environment for a worker *process* that must use this test run's databases and topics."""
    import os

    from lotus.topology import alias_for

    env = dict(os.environ)
    env["LOTUS_KAFKA_NAMESPACE"] = lotus_settings.KAFKA["NAMESPACE"]
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.KAFKA_BOOTSTRAP_SERVERS
    for service in services:
        config = connections[alias_for(service)].settings_dict
        if config["ENGINE"].endswith("sqlite3"):
            url = f"sqlite:///{config['NAME']}"
        else:
            url = (
                f"postgresql://{config['USER']}:{config['PASSWORD']}@{config['HOST'] or '127.0.0.1'}:"
                f"{config['PORT'] or 5432}/{config['NAME']}"
            )
        env[f"DATABASE_URL_{service.upper()}"] = url
    return env


def token_for(customer_id: int, *, is_staff: bool = False, email: str = "customer@lotus.test") -> str:
    """An access token as profiles would sign it, for API tests of the other services."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = customer_id
    token["email"] = email
    token["is_staff"] = is_staff
    return str(token)


def api_client(customer_id: int | None = None, *, is_staff: bool = False):
    """A DRF test client, authenticated as ``customer_id`` when given."""
    from rest_framework.test import APIClient

    client = APIClient()
    if customer_id is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(customer_id, is_staff=is_staff)}")
    return client


def deliver(message, *, to: str, handlers, correlation_id: str | None = None, source: str = "test"):
    """Apply ``message`` to service ``to`` exactly as its consumer would (inbox + handler, one
    transaction, real database), without Kafka. Returns ``(outcome, envelope)``; deliver the
    same envelope again with :func:`deliver_envelope` to test duplicates."""
    from lotus.contracts import Envelope

    envelope = Envelope.wrap(message, source=source, correlation_id=str(correlation_id or uuid.uuid4()))
    return deliver_envelope(envelope, to=to, handlers=handlers), envelope


def deliver_envelope(envelope, *, to: str, handlers):
    from lotus.messaging.registry import Outcome
    from lotus.messaging.unit_of_work import AppliedBefore, UnitOfWork

    try:
        with UnitOfWork(to, publisher=None) as uow:
            return handlers.handle(envelope, uow)
    except AppliedBefore:
        return Outcome.DUPLICATE


def published(service: str, *types: type) -> list:
    """Messages in ``service``'s outbox, oldest first, opened into their contract classes
    (only those of ``types`` when given)."""
    from lotus import contracts
    from lotus.contracts import Envelope
    from lotus.messaging.models import OutboxMessage
    from lotus.topology import alias_for

    wanted = {cls.type_name() for cls in types}
    messages = []
    for body in OutboxMessage.objects.using(alias_for(service)).order_by("id").values_list("body", flat=True):
        envelope = Envelope.from_bytes(body)
        cls = contracts.message_class(envelope.type)
        if cls is not None and (not wanted or envelope.type in wanted):
            messages.append(envelope.open(cls))
    return messages


def run_together(jobs: list[Callable[[], object]], *, timeout: float = 60.0) -> list[BaseException]:
    """Start every job in its own thread at the same moment (a barrier); return the errors they
    raised. Each thread closes its database connections when done. For concurrency tests,
    which need ``django_db(transaction=True)`` so that the threads see committed data."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # noqa: BLE001 -- reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return errors


def in_unit_of_work(service: str) -> Callable[..., Any]:
    """``run(service_function, **arguments)``: call a service of ``service`` in a unit of work of
    its own, as an API view does, and return what it returns."""
    from lotus.messaging.unit_of_work import UnitOfWork

    def run(function: Callable[..., T], /, **arguments: Any) -> T:
        with UnitOfWork(service) as uow:
            return function(uow=uow, **arguments)

    return run


def in_one_batch(service: str, handlers) -> Callable[..., None]:
    """``run(*messages)``: handle the messages in one unit of work of ``service``, as its
    consumer handles a batch: what one writes, the next must see."""
    from lotus.contracts import Envelope
    from lotus.messaging.unit_of_work import UnitOfWork

    def run(*messages) -> None:
        with UnitOfWork(service, publisher=None) as uow:
            for message in messages:
                handlers.handle(Envelope.wrap(message, source="test", correlation_id=str(uuid.uuid4())), uow)

    return run


class FakeUnitOfWork:
    """An in-memory stand-in for :class:`lotus.messaging.unit_of_work.UnitOfWork`, for unit
    tests of services and handlers without a database: rows live in a list, messages sent are
    kept in :attr:`sent`. It supports what services do through the unit of work (``get``,
    ``locked``, ``select``, ``exists``, ``update``, ``insert``, ``insert_unless_present``,
    ``add``, ``send``, ``handling``, ``waited_longer_than``); a service that reaches for the
    ORM needs the real one (an integration test).

    ``rows``: the rows that exist at the start. ``waited``: what ``waited_longer_than`` answers."""

    def __init__(self, service: str, *, rows: list | None = None, waited: bool = False) -> None:
        from lotus.topology import alias_for

        self.service = service
        self.alias = alias_for(service)
        self.rows: list = list(rows or [])
        self.sent: list = []
        self.added: list = []
        self.updated: list[tuple[object, list[str]]] = []
        self.cause = None
        self._waited = waited
        self._next_pk = 1000

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def send(self, *messages) -> list:
        self.sent += messages
        return list(messages)

    def add(self, *rows) -> None:
        self.added += rows
        self.rows += rows

    def insert(self, *rows) -> None:
        for row in rows:
            if row.pk is None:
                self._next_pk += 1
                row.pk = self._next_pk
        self.rows += rows

    def insert_unless_present(self, instance, *, unique_fields: tuple[str, ...]) -> bool:
        equal = {name: getattr(instance, name) for name in unique_fields}
        if self.get(type(instance), **equal) is not None:
            return False
        self.insert(instance)
        return True

    def get(self, model, **equal):
        found = self.select(model, **equal)
        return found[0] if found else None

    locked = get

    def exists(self, model, **conditions) -> bool:
        return bool(self.select(model, **conditions))

    def select(self, model, *, for_update: bool = False, order_by: tuple[str, ...] = (), **conditions) -> list:
        found = [row for row in self.rows if isinstance(row, model) and _matches(row, conditions)]
        for name in reversed(order_by):
            found.sort(key=lambda row, name=name: getattr(row, name))
        return found

    def update(self, instance, fields: list[str]) -> None:
        self.updated.append((instance, list(fields)))

    def waited_longer_than(self, seconds: float):
        return lambda since: self._waited and seconds > 0

    @contextmanager
    def handling(self, envelope, *, topic: str = ""):
        self.cause = envelope
        try:
            yield
        finally:
            self.cause = None


def _matches(row, conditions: dict) -> bool:
    compare = {
        "": lambda a, b: a == b,
        "exact": lambda a, b: a == b,
        "in": lambda a, b: a in b,
        "gt": lambda a, b: a is not None and a > b,
        "gte": lambda a, b: a is not None and a >= b,
        "lt": lambda a, b: a is not None and a < b,
        "lte": lambda a, b: a is not None and a <= b,
    }
    for key, value in conditions.items():
        name, _, lookup = key.partition("__")
        field = row._meta.get_field(name)
        if not compare[lookup](getattr(row, field.attname), value):
            return False
    return True
