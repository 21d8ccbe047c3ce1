"""``manage.py outbox parked|replay --service NAME [ID ...]``: the outbox rows the relay set
aside after the broker refused them too often, and giving them back to the relay."""

from django.core.management.base import BaseCommand, CommandError

from lotus.messaging.models import OutboxMessage
from lotus.messaging.outbox import replay_parked
from lotus.topology import SERVICES, alias_for


class Command(BaseCommand):
    help = "List a service's parked outbox rows, or give some (or all, with --all) back to the relay."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["parked", "replay"])
        parser.add_argument("--service", required=True, choices=SERVICES)
        parser.add_argument("--all", action="store_true", help="replay every parked row")
        parser.add_argument("ids", nargs="*", type=int, help="outbox row ids to replay")

    def handle(self, *args, action, service, ids, **options):
        alias = alias_for(service)
        if action == "parked":
            parked = OutboxMessage.objects.using(alias).filter(parked_at__isnull=False, sent_at__isnull=True)
            for row in parked:
                self.stdout.write(
                    f"{row.id}\t{row.parked_at:%Y-%m-%d %H:%M:%S}\t{row.message_type}\t{row.key}\t"
                    f"{row.attempts} refusals\t{row.last_error.splitlines()[0] if row.last_error else ''}"
                )
            return
        if not ids and not options["all"]:
            raise CommandError("name the parked rows to replay, or pass --all")
        count = replay_parked(alias, None if options["all"] else ids)
        self.stdout.write(f"outbox: {count} parked row(s) of {service} given back to the relay")
