"""Shared pytest fixtures.

Integration tests talk to the real PostgreSQL and Kafka that ``make test`` starts. Every
test session gets a Kafka namespace of its own (fresh topics and consumer groups), so runs
never see each other's messages.
"""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def kafka_namespace() -> str:
    """Create this session's topics under a fresh namespace and return the namespace."""
    from lotus.testing import kafka_namespace_for_session

    return kafka_namespace_for_session()


@pytest.fixture
def unique_key() -> str:
    return str(uuid.uuid4())


def pytest_report_header(config):
    return [
        f"lotus: DATABASE_URL={'set' if os.environ.get('DATABASE_URL') else 'unset (SQLite)'}",
        f"lotus: KAFKA_BOOTSTRAP_SERVERS={os.environ.get('KAFKA_BOOTSTRAP_SERVERS', '127.0.0.1:9092 (default)')}",
    ]
