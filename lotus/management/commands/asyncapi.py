"""``manage.py asyncapi``: write the AsyncAPI 3.0 document of every topic and message.

The document is generated from the contracts, the handler registries and the code that sends
(:mod:`lotus.asyncapi`). The committed copy, ``docs/asyncapi.json``, is what reviewers diff
when a contract changes; ``--check`` fails when it no longer matches the code (as
``makemigrations --check`` does), and the test suite runs the same comparison.
"""

from pathlib import Path

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lotus import asyncapi

REGENERATE = f"python manage.py asyncapi --output {asyncapi.DOCUMENT_PATH}"


class Command(BaseCommand):
    help = "Write the AsyncAPI 3.0 document of every Kafka topic and message (stdout unless --output)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
        parser.add_argument("--format", choices=("json", "yaml"), default="json")
        parser.add_argument(
            "--check",
            action="store_true",
            help=f"compare with the committed {asyncapi.DOCUMENT_PATH} (or --output) and fail if it differs",
        )

    def handle(self, *args, output, format, check, **options):
        document = asyncapi.build()
        text = asyncapi.render(document) if format == "json" else yaml.safe_dump(document, sort_keys=False)
        if check:
            path = output or Path(settings.BASE_DIR) / asyncapi.DOCUMENT_PATH
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                raise CommandError(
                    f"{path} does not match the message contracts; regenerate it with `{REGENERATE}`"
                    f"{' --format yaml' if format == 'yaml' else ''} and commit it"
                )
            self.stdout.write(f"{path} is up to date")
            return
        if output is None:
            self.stdout.write(text, ending="")
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        self.stderr.write(
            f"wrote {output}: {len(document['channels'])} channels, {len(document['components']['messages'])} messages"
        )
