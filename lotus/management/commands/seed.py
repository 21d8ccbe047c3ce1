"""``manage.py seed``: the catalog, stock, couriers and operator account (idempotent)."""

from django.core.management.base import BaseCommand

from lotus.bootstrap import run_seeds


class Command(BaseCommand):
    help = "Create or update the seed data of every service."

    def handle(self, *args, **options):
        for line in run_seeds():
            self.stdout.write(f"seed: {line}")
