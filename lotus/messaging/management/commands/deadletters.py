"""``manage.py deadletters list|replay``: look at and replay a service's dead letters."""

from django.core.management.base import BaseCommand, CommandError

from lotus.bootstrap import handlers_for
from lotus.messaging.dead_letters import replay
from lotus.messaging.models import DeadLetter
from lotus.topology import SERVICES, alias_for


class Command(BaseCommand):
    help = "List a service's dead letters, or replay some of them after a fix."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "replay"])
        parser.add_argument("--service", required=True, choices=SERVICES)
        parser.add_argument("ids", nargs="*", type=int, help="dead letter ids to replay")

    def handle(self, *args, action, service, ids, **options):
        letters = DeadLetter.objects.using(alias_for(service))
        if action == "list":
            for letter in letters.filter(replayed_at__isnull=True):
                self.stdout.write(f"{letter.id}\t{letter.created_at:%Y-%m-%d %H:%M:%S}\t{letter}")
            return
        if not ids:
            raise CommandError("name the dead letters to replay")
        handlers = handlers_for(service)
        for letter in letters.filter(id__in=ids):
            outcome = replay(letter, service=service, handlers=handlers)
            self.stdout.write(f"{letter.id}: {outcome.value}")
