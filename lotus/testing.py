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
    settings.LOTUS_KAFKA_NAMESPACE = namespace  # TEMPORARY: removed when lotus/messaging reads lotus_settings
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
    from lotus.messaging.consumer import apply

    return apply(envelope, service=to, handlers=handlers)


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
