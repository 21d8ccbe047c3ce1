"""``manage.py kafka_topics``: create every Lotus topic that does not exist yet, laid out as the
settings say (``LOTUS_KAFKA_PARTITIONS``, ``LOTUS_KAFKA_REPLICATION_FACTOR``,
``LOTUS_KAFKA_MIN_INSYNC_REPLICAS``, ``LOTUS_KAFKA_RETENTION_HOURS``), refusing a replication
factor larger than the live brokers, and warn about existing topics laid out otherwise (``--fix``:
change them where Kafka can in place), or (``--drop``) delete the topics of a throwaway namespace
(``LOTUS_KAFKA_NAMESPACE``), or (``--wait --service NAME``) wait, creating nothing, until the
topics a service consumes exist: a consumer does that before it subscribes where its principal
may not create topics (the chart's broker with ACLs).

A differing topic is only reported unless ``--fix`` is given: the inbox retention is checked
against the setting and acknowledged writes rely on the minimum in-sync replicas, so the operator
has to know, but changing a live topic is their call. A replication factor is never changed here
(it moves every partition's data between brokers): ``--fix`` fails while one differs."""

import time

from confluent_kafka import KafkaException
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lotus.bootstrap import handlers_for
from lotus.conf import lotus_settings
from lotus.messaging.kafka import (
    ReplicationUnsatisfiable,
    all_topics,
    differences,
    drop_topics,
    ensure_topics,
    fix,
    hours,
    live_brokers,
    make_admin,
    physical_topic,
    wanted,
)
from lotus.topology import SERVICES


class Command(BaseCommand):
    help = (
        "Create the contract and dead-letter topics (LOTUS_KAFKA_PARTITIONS, LOTUS_KAFKA_REPLICATION_FACTOR, "
        "LOTUS_KAFKA_MIN_INSYNC_REPLICAS, LOTUS_KAFKA_RETENTION_HOURS) and report existing topics laid out otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("--partitions", type=int, default=None, help="instead of LOTUS_KAFKA_PARTITIONS")
        parser.add_argument(
            "--fix",
            action="store_true",
            help="also change existing topics to the settings where Kafka can in place "
            "(more partitions, min.insync.replicas, retention.ms)",
        )
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
        if options["partitions"] is not None and options["partitions"] < 1:
            raise CommandError("kafka_topics: --partitions must be at least 1")
        layout = wanted(partitions=options["partitions"])
        try:
            created = ensure_topics(partitions=options["partitions"])
            found = differences(partitions=options["partitions"])
            fixed = fix(found) if options["fix"] else []
            brokers = live_brokers(make_admin())
        except ReplicationUnsatisfiable as exc:
            raise CommandError(f"kafka_topics: {exc}") from exc
        except KafkaException as exc:
            raise CommandError(f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc}") from exc
        total = len(all_topics())
        self.stdout.write(
            f"kafka_topics: {len(created)} created, {total - len(created)} already there "
            f"({len(brokers)} live brokers; {layout.partitions} partitions, replication factor "
            f"{layout.replication_factor}, min.insync.replicas {layout.min_insync_replicas}, "
            f"retention {hours(layout.retention_ms)})"
        )
        for difference in fixed:
            self.stdout.write(f"kafka_topics: fixed: {difference.describe()}")
        left = [difference for difference in found if difference not in fixed]
        for difference in left:
            self.stderr.write(f"kafka_topics: warning: {difference.describe()}")
        if options["fix"] and (stuck := [d for d in left if d.field == "replication_factor"]):
            raise CommandError(
                f"kafka_topics --fix: {len(stuck)} topic(s) have another replication factor, which Kafka changes "
                "only by reassigning their partitions (kafka-reassign-partitions.sh); the rest is fixed"
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
