"""``manage.py consume [--service NAME ...]``: run the consumers of one, several or all services."""

from lotus.bootstrap import handlers_for
from lotus.messaging.consumer import Consumer
from lotus.messaging.workers import WorkerCommand


class Command(WorkerCommand):
    help = "Consume each service's topics and apply its handlers (all services unless --service is given)."
    role = "consume"

    def workers(self, services, stop):
        consumers = [Consumer(name, handlers, stop=stop) for name in services if len(handlers := handlers_for(name))]
        return {f"consumer-{consumer.service}": consumer.run for consumer in consumers}
