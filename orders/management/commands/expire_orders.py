"""``manage.py expire_orders [--loop]``: cancel orders that waited past their deadline.

With ``--loop`` it runs as a worker process: it checks every ``LOTUS_DEADLINE_CHECK_SECONDS``,
survives database restarts and lost connections, and stops cleanly on SIGTERM or SIGINT."""

import functools
import threading

from django.core.management.base import BaseCommand

from lotus import tracing
from lotus.conf import lotus_settings
from lotus.messaging.workers import keep_running, run_until_signalled
from orders.services import orders_expire


class Command(BaseCommand):
    help = "Cancel (with compensations) orders waiting longer than LOTUS_*_TIMEOUT; --loop keeps checking."

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="check every LOTUS_DEADLINE_CHECK_SECONDS until stopped"
        )

    def handle(self, *args, loop, **options):
        tracing.setup(role="deadlines", services=["orders"])
        if not loop:
            self.expire()
            return
        stop = threading.Event()
        check = functools.partial(
            keep_running, self.expire, every=lotus_settings.DEADLINES["CHECK_SECONDS"], stop=stop, name="expire_orders"
        )
        run_until_signalled({"deadlines-orders": check}, stop)

    def expire(self) -> None:
        for order in orders_expire():
            self.stdout.write(f"expire_orders: {order.id} cancelled: {order.cancel_reason}")
