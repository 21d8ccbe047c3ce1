"""``manage.py kafka_topics``: create every Lotus topic that does not exist yet (retention
``LOTUS_KAFKA_RETENTION_HOURS``) and warn about existing ones that keep records for another time,
or (``--drop``) delete the topics of a throwaway namespace (``LOTUS_KAFKA_NAMESPACE``), or
(``--wait --service NAME``) wait, creating nothing, until the topics a service consumes exist: a
consumer does that before it subscribes where its principal may not create topics (the chart's
broker with ACLs).

A differing topic is only reported, not altered: the inbox retention is checked against the
setting, so the operator has to know, but changing a live topic's retention is their call."""

import time

from confluent_kafka import KafkaException
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lotus.bootstrap import handlers_for
from lotus.conf import lotus_settings
from lotus.messaging.kafka import (
    all_topics,
    drop_topics,
    ensure_topics,
    make_admin,
    physical_topic,
    retention_mismatches,
    retention_ms,
)
from lotus.topology import SERVICES


class Command(BaseCommand):
    help = (
        "Create the contract and dead-letter topics (LOTUS_KAFKA_PARTITIONS partitions, "
        "LOTUS_KAFKA_RETENTION_HOURS retention) and report existing topics with another retention."
    )

    def add_arguments(self, parser):
        parser.add_argument("--partitions", type=int, default=None)
        parser.add_argument(
            "--drop", action="store_true", help="delete every topic under LOTUS_KAFKA_NAMESPACE instead"
        )

        parser.add_argument("--wait", action="store_true", help="create nothing; wait until the consumed topics exist")
        parser.add_argument(
            "--service", action="append", choices=SERVICES, help="with --wait: this service's topics (repeatable)"
        )
        parser.add_argument("--timeout", type=float, default=600.0, help="with --wait: give up after this many seconds")

    def handle(self, *args, **options):
        if options["wait"]:
            self._wait(options["service"] or list(SERVICES), options["timeout"])
            return
        if options["drop"]:
            try:
                dropped = drop_topics()
            except (KafkaException, ValueError) as exc:
                raise CommandError(f"kafka_topics --drop: {exc}") from exc
            self.stdout.write(f"kafka_topics: {len(dropped)} topics of {lotus_settings.KAFKA['NAMESPACE']} deleted")
            return
        try:
            created = ensure_topics(partitions=options["partitions"])
            mismatches = retention_mismatches()
        except KafkaException as exc:
            raise CommandError(f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc}") from exc
        total = len(all_topics())
        self.stdout.write(f"kafka_topics: {len(created)} created, {total - len(created)} already there")
        for topic, actual in mismatches.items():
            self.stderr.write(
                f"kafka_topics: warning: topic {topic} keeps records for {_hours(actual)} "
                f"(retention.ms={actual}), not LOTUS_KAFKA_RETENTION_HOURS={lotus_settings.KAFKA['RETENTION_HOURS']:g} "
                f"(retention.ms={retention_ms()}); the inbox retention is checked against the latter"
            )

    def _wait(self, services: list[str], timeout: float) -> None:
        wanted = {physical_topic(topic) for service in services for topic in handlers_for(service).topics()}
        deadline = time.monotonic() + timeout
        while True:
            try:
                missing = wanted - set(make_admin().list_topics(timeout=10).topics)
            except KafkaException as exc:
                missing, error = wanted, exc
            else:
                error = None
            if not missing:
                self.stdout.write(f"kafka_topics: the {len(wanted)} topics of {', '.join(services)} exist")
                return
            if time.monotonic() > deadline:
                raise CommandError(
                    f"kafka_topics --wait: still missing after {timeout:g} s: {', '.join(sorted(missing))}"
                )
            self.stdout.write(f"kafka_topics: waiting for {', '.join(sorted(missing))}{f' ({error})' if error else ''}")
            time.sleep(2)


def _hours(ms: int) -> str:
    return "ever" if ms < 0 else f"{ms / 3_600_000:g} h"
