"""``manage.py migrateall``: apply migrations to every service database."""

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from lotus.topology import service_for_alias


class Command(BaseCommand):
    help = "Run `migrate` against each service database in turn."

    def handle(self, *args, **options):
        verbosity = max(0, options["verbosity"] - 1)
        for alias in connections:
            self.stdout.write(f"migrateall: {service_for_alias(alias)} ({connections[alias].settings_dict['NAME']})")
            call_command("migrate", database=alias, interactive=False, verbosity=verbosity)
