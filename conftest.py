"""Shared pytest fixtures.

Integration tests talk to the real PostgreSQL and Kafka that ``make test`` starts. Every
test session gets a Kafka namespace of its own (fresh topics and consumer groups), so runs
never see each other's messages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


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
