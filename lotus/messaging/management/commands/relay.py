"""``manage.py relay [--service NAME ...]``: publish the outbox of one, several or all services."""

from lotus.messaging.kafka import make_producer
from lotus.messaging.producer import Publisher
from lotus.messaging.relay import Relay
from lotus.messaging.workers import WorkerCommand


class Command(WorkerCommand):
    help = "Publish committed outbox rows to Kafka (all services unless --service is given)."
    role = "relay"

    def workers(self, services, stop):
        self.client = make_producer()
        self.relays = [
            Relay(name, publisher=Publisher(f"relay {name}", client=self.client), stop=stop) for name in services
        ]
        return {f"relay-{relay.service}": relay.run for relay in self.relays}

    def finished(self):
        self.client.flush(10)
        published = sum(relay.published for relay in self.relays)
        self.stdout.write(f"relay: stopped after publishing {published} messages")
