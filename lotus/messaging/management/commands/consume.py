"""``manage.py consume [--service NAME ...]``: run the consumers of one, several or all services."""

import threading

from django.core.management.base import BaseCommand, CommandError

from lotus import metrics
from lotus.bootstrap import handlers_for
from lotus.messaging.consumer import Consumer
from lotus.messaging.workers import run_until_signalled, selected_services


class Command(BaseCommand):
    help = "Consume each service's topics and apply its handlers (all services unless --service is given)."

    def add_arguments(self, parser):
        parser.add_argument("--service", action="append", help="a service to consume for; repeatable")

    def handle(self, *args, **options):
        try:
            services = selected_services(options["service"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        metrics.serve(services)
        stop = threading.Event()
        consumers = {
            f"consumer-{name}": Consumer(name, handlers, stop=stop)
            for name in services
            if len(handlers := handlers_for(name))
        }
        self.stdout.write(f"consume: {', '.join(consumers) or 'no service has handlers'}")
        run_until_signalled({name: consumer.run for name, consumer in consumers.items()}, stop)
        self.stdout.write("consume: stopped")
