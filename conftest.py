"""Shared pytest fixtures.

Integration tests talk to the real PostgreSQL and Kafka that ``make test`` starts. Every
test session gets a Kafka namespace of its own (fresh topics and consumer groups), so runs
never see each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

# The ``kafka_cluster`` fixture (a throwaway three-broker Kafka) for any test that asks for it.
pytest_plugins = ["tests.kafka_cluster"]


@pytest.fixture(scope="session")
def kafka_namespace() -> Iterator[str]:
    """Create this session's topics under a fresh namespace, return the namespace, and delete
    the topics when the session ends."""
    from lotus.messaging.kafka import drop_topics
    from lotus.testing import kafka_namespace_for_session

    namespace = kafka_namespace_for_session()
    yield namespace
    drop_topics()


@pytest.fixture
def unique_key() -> str:
    return str(uuid.uuid4())


def pytest_report_header(config):
    return [
        f"lotus: DATABASE_URL={'set' if os.environ.get('DATABASE_URL') else 'unset (SQLite)'}",
        f"lotus: KAFKA_BOOTSTRAP_SERVERS={os.environ.get('KAFKA_BOOTSTRAP_SERVERS', '127.0.0.1:9092 (default)')}",
    ]


@pytest.fixture
def lotus_setting():
    """Change Lotus settings until the test ends: ``lotus_setting("QUEUE", HOLD_SECONDS=0)``
    (what :func:`lotus.testing.lotus_override` does for a block)."""
    from lotus.testing import lotus_override

    with contextlib.ExitStack() as stack:
        yield lambda section, **values: stack.enter_context(lotus_override(section, **values))


@pytest.fixture(autouse=True)
def _publish_after_commit_only_with_topics(request):
    """A unit of work that owns its transaction produces its rows after the commit; without the
    session's topics (``kafka_namespace``) that would wait on topics that do not exist, so such
    tests leave their rows to the relay, as ``WEB["PUBLISHES"] = False`` does."""
    if "kafka_namespace" in request.fixturenames:
        yield
        return
    from lotus.testing import lotus_override

    with lotus_override("WEB", PUBLISHES=False):
        yield


@pytest.fixture
def no_web_publishing(lotus_setting):
    """Units of work that own their transaction leave their rows to the relay instead of
    producing them to the broker (for tests that read the outbox while topics exist)."""
    lotus_setting("WEB", PUBLISHES=False)
