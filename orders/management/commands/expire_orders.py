"""``manage.py expire_orders [--loop]``: cancel orders that waited past their deadline."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from orders.services import orders_expire


class Command(BaseCommand):
    help = "Cancel (with compensations) orders waiting longer than LOTUS_*_TIMEOUT; --loop keeps checking."

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="check every LOTUS_DEADLINE_CHECK_SECONDS until stopped"
        )

    def handle(self, *args, loop, **options):
        stop = threading.Event()
        if loop:
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
        while True:
            for order in orders_expire():
                self.stdout.write(f"expire_orders: {order.id} cancelled: {order.cancel_reason}")
            if not loop or stop.wait(settings.LOTUS_DEADLINE_CHECK_SECONDS):
                break
