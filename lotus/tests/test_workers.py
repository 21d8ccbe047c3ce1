"""Integration: relay and consumer processes stop cleanly on SIGTERM and SIGINT; pruning."""

import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from lotus.contracts.diagnostics import Ping
from lotus.messaging.kafka import consumer_group, make_admin
from lotus.messaging.models import InboxMessage, OutboxMessage
from lotus.messaging.relay import Relay
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import wait_for, worker_environment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


def start(command: str, service: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", command, "--service", service],
        env=worker_environment(service),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def group_members(group: str) -> int:
    admin = make_admin()  # kept until it answers: a client collected meanwhile never does
    (described,) = admin.describe_consumer_groups([group], request_timeout=10).values()
    return len(described.result(timeout=15).members)


@pytest.mark.parametrize(("command", "signum"), [("consume", signal.SIGTERM), ("relay", signal.SIGINT)])
def test_a_worker_process_finishes_and_exits_0_on_a_signal(kafka_namespace, command, signum):
    process = start(command, "stock")
    try:
        if command == "relay":
            with UnitOfWork("stock", publisher=None) as uow:
                (envelope,) = uow.send(Ping(note="before the signal"))
            wait_for(
                lambda: OutboxMessage.objects.using("stock").get(message_id=envelope.id).sent_at,
                timeout=30,
                message="the relay process to publish",
            )
        else:
            # It has joined its group, so its signal handlers are in place (a fixed pause was
            # too short on a loaded machine: the signal came before them and killed it).
            wait_for(lambda: group_members(consumer_group("stock")), timeout=60, message="the consumer to join")
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output[-3000:]
    assert "finishing the work in hand" in output
    assert f"{command}: stopped" in output or "relay: stopped" in output


def test_an_unknown_service_is_a_clear_command_error(kafka_namespace):
    result = subprocess.run(
        [sys.executable, "manage.py", "relay", "--service", "payments"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "unknown service(s) payments" in result.stderr


def test_the_relay_prunes_sent_rows_and_inbox_records_older_than_their_retention(lotus_setting):
    lotus_setting("OUTBOX", RETENTION_HOURS=1)
    lotus_setting("KAFKA", RETENTION_HOURS=24)  # the inbox keeps ids for it + the margin: 48 hours
    with UnitOfWork("billing", publisher=None) as uow:
        old, recent, unsent = uow.send(Ping(note="old"), Ping(note="recent"), Ping(note="unsent"))
    rows = OutboxMessage.objects.using("billing")
    rows.filter(message_id=old.id).update(sent_at=timezone.now() - timedelta(hours=2))
    rows.filter(message_id=recent.id).update(sent_at=timezone.now() - timedelta(minutes=5))
    inbox = InboxMessage.objects.using("billing")
    forgotten, remembered = uuid.uuid4(), uuid.uuid4()
    inbox.create(message_id=forgotten, message_type="Ping", processed_at=timezone.now() - timedelta(hours=49))
    inbox.create(message_id=remembered, message_type="Ping", processed_at=timezone.now() - timedelta(hours=47))
    assert Relay("billing").prune() == 2
    assert set(rows.values_list("message_id", flat=True)) == {recent.id, unsent.id}
    assert list(inbox.values_list("message_id", flat=True)) == [remembered]
