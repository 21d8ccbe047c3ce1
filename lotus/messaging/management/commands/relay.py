"""``manage.py relay [--service NAME ...]``: publish the outbox of one, several or all services."""

import threading

from django.core.management.base import BaseCommand, CommandError

from lotus import metrics
from lotus.messaging.kafka import make_producer
from lotus.messaging.relay import Relay
from lotus.messaging.workers import run_until_signalled, selected_services


class Command(BaseCommand):
    help = "Publish committed outbox rows to Kafka (all services unless --service is given)."

    def add_arguments(self, parser):
        parser.add_argument("--service", action="append", help="a service to relay for; repeatable")

    def handle(self, *args, **options):
        try:
            services = selected_services(options["service"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        metrics.serve(services)
        stop = threading.Event()
        producer = make_producer()
        relays = {f"relay-{name}": Relay(name, producer=producer, stop=stop) for name in services}
        self.stdout.write(f"relay: publishing the outbox of {', '.join(services)}")
        run_until_signalled({name: relay.run for name, relay in relays.items()}, stop)
        producer.flush(10)
        published = sum(relay.published for relay in relays.values())
        self.stdout.write(f"relay: stopped after publishing {published} messages")
