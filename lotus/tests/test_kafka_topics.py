"""Integration: topics are created per namespace and a throwaway namespace's topics can be
deleted without touching anyone else's (the real Kafka broker)."""

import uuid

import pytest
from django.core.management import CommandError, call_command

from lotus.messaging.kafka import all_topics, drop_topics, ensure_topics, make_admin
from lotus.testing import wait_for

pytestmark = pytest.mark.integration


def topics_under(namespace: str) -> set[str]:
    return {name for name in make_admin().list_topics(timeout=10).topics if name.startswith(f"{namespace}.")}


def test_drop_topics_deletes_its_namespace_and_nothing_else(kafka_namespace, settings):
    session = topics_under(kafka_namespace)
    throwaway = f"drop{uuid.uuid4().hex[:8]}"
    settings.LOTUS_KAFKA_NAMESPACE = throwaway
    created = ensure_topics(partitions=1)
    assert sorted(created) == sorted(all_topics())

    assert drop_topics() == sorted(created)
    wait_for(lambda: not topics_under(throwaway), timeout=30, message="the throwaway topics to go")
    assert topics_under(kafka_namespace) == session
    assert session, "the session's own topics are still there"


def test_drop_topics_refuses_without_a_namespace(settings):
    settings.LOTUS_KAFKA_NAMESPACE = ""
    with pytest.raises(ValueError, match="LOTUS_KAFKA_NAMESPACE"):
        drop_topics()
    with pytest.raises(CommandError, match="LOTUS_KAFKA_NAMESPACE"):
        call_command("kafka_topics", "--drop")
