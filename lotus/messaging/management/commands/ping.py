"""``manage.py ping``: prove the whole path outbox → relay → Kafka → every consumer → inbox.

Publishes one :class:`~lotus.contracts.diagnostics.Ping` from a service's outbox and waits
(bounded) until the inbox of every service shows it, printing how long each one took.
Needs the relays and consumers to be running (``make up`` runs them).
"""

import time

from django.core.management.base import BaseCommand, CommandError

from lotus.contracts.diagnostics import Ping
from lotus.messaging.models import InboxMessage
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.topology import SERVICES, alias_for


class Command(BaseCommand):
    help = "Send a ping through the outbox and wait until every service's consumer applied it."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", default="profiles", choices=SERVICES)
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args, source, timeout, **options):
        with UnitOfWork(source) as uow:
            (envelope,) = uow.send(Ping(note="manage.py ping"))
        started = time.monotonic()
        waiting = set(SERVICES)
        while waiting and time.monotonic() - started < timeout:
            for service in sorted(waiting):
                if InboxMessage.objects.using(alias_for(service)).filter(message_id=envelope.id).exists():
                    waiting.discard(service)
                    self.stdout.write(f"ping: {service} applied it after {(time.monotonic() - started) * 1000:.0f} ms")
            time.sleep(0.02)
        if waiting:
            raise CommandError(f"ping {envelope.id} not applied by {', '.join(sorted(waiting))} within {timeout:.0f} s")
        self.stdout.write(f"ping: every service applied {envelope.id}")
