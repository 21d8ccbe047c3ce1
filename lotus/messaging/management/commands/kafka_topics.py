"""``manage.py kafka_topics``: create every Lotus topic that does not exist yet, or (``--drop``)
delete the topics of a throwaway namespace (``LOTUS_KAFKA_NAMESPACE``)."""

from confluent_kafka import KafkaException
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lotus.messaging.kafka import all_topics, drop_topics, ensure_topics


class Command(BaseCommand):
    help = "Create the contract and dead-letter topics (LOTUS_KAFKA_PARTITIONS partitions each)."

    def add_arguments(self, parser):
        parser.add_argument("--partitions", type=int, default=None)
        parser.add_argument(
            "--drop", action="store_true", help="delete every topic under LOTUS_KAFKA_NAMESPACE instead"
        )

    def handle(self, *args, **options):
        if options["drop"]:
            try:
                dropped = drop_topics()
            except (KafkaException, ValueError) as exc:
                raise CommandError(f"kafka_topics --drop: {exc}") from exc
            self.stdout.write(f"kafka_topics: {len(dropped)} topics of {settings.LOTUS_KAFKA_NAMESPACE} deleted")
            return
        try:
            created = ensure_topics(partitions=options["partitions"])
        except KafkaException as exc:
            raise CommandError(f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc}") from exc
        total = len(all_topics())
        self.stdout.write(f"kafka_topics: {len(created)} created, {total - len(created)} already there")
