"""``manage.py reconcile [--json] [--every SECONDS] [--grace SECONDS] [--no-record]``: prove that
the services agree about every saga (:mod:`reconciliation.checks`).

Once: prints each disagreement on its own line, then a summary, and exits 0 when there is none,
1 when there are some. ``--every``: runs on a schedule as a worker process (survives database
restarts, stops cleanly on SIGTERM or SIGINT). Each run is stored in the default database (the
admin's front page and the metrics show the last one) unless ``--no-record``."""

from __future__ import annotations

import functools
import json
import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from lotus.messaging.workers import keep_running, run_until_signalled
from reconciliation.services import Report, reconcile, run_record


class Command(BaseCommand):
    help = "Check that every service's database agrees about every saga; exit 1 when they disagree."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as one JSON document")
        parser.add_argument("--every", type=float, metavar="SECONDS", help="run every SECONDS until stopped")
        parser.add_argument(
            "--grace",
            type=float,
            metavar="SECONDS",
            help="leave messages and transitions younger than this unjudged (LOTUS_RECONCILE_GRACE_SECONDS)",
        )
        parser.add_argument("--no-record", action="store_true", help="do not store the run in the database")

    def handle(self, *args, every, grace, no_record, **options):
        if grace is not None and grace < 0:
            raise CommandError("--grace must not be negative")
        run = functools.partial(self.run, grace=grace, as_json=options["json"], record=not no_record)
        if every is None:
            report = run()
            if report.disagreements:
                sys.exit(1)
            return
        if every <= 0:
            raise CommandError("--every must be positive")
        stop = threading.Event()
        run_until_signalled(
            {"reconcile": functools.partial(keep_running, run, every=every, stop=stop, name="reconcile")}, stop
        )

    def run(self, *, grace: float | None, as_json: bool, record: bool) -> Report:
        report = reconcile(grace=grace)
        if record:
            run_record(report=report)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            for disagreement in report.disagreements:
                self.stdout.write(disagreement.line())
            self.stdout.write(summary(report))
        return report


def summary(report: Report) -> str:
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.counts.items()))
    judged = ", ".join(f"{count} {what.replace('_', ' ')}" for what, count in report.judged.items())
    found = f"{len(report.disagreements)} disagreement(s)" + (f" ({kinds})" if kinds else "")
    return f"reconcile: {found}; judged {judged}; grace {report.grace_seconds:g} s; {report.duration_seconds:.2f} s"
