"""Running relays, consumers and the deadline checker as long-lived processes.

A worker process stops cleanly on SIGTERM or SIGINT, and only then exits with status 0. Its
loops survive database and broker failures themselves (:mod:`lotus.messaging.recovery`); a
worker thread that still dies (a bug, a configuration error) stops the process with a non-zero
status, so that its supervisor (Kubernetes, supervisord under ``make up``) restarts it and the
failure shows."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from lotus import metrics, tracing
from lotus.messaging.recovery import TRANSIENT, Backoff, reconnect
from lotus.runtime import settle_heap
from lotus.topology import SERVICES

log = logging.getLogger(__name__)


def selected_services(names: Sequence[str] | None) -> list[str]:
    """The services named on the command line (all of them when none are)."""
    if not names:
        return list(SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown service(s) {', '.join(unknown)}; expected one of {', '.join(SERVICES)}")
    return list(dict.fromkeys(names))


def run_until_signalled(workers: dict[str, Callable[[], None]], stop: threading.Event) -> None:
    """Run each worker in a thread until SIGTERM or SIGINT sets ``stop``, then wait for all.
    Raise :class:`CommandError` (exit status 1) if a worker crashed instead."""
    crashed: list[str] = []

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the work in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def guarded(name: str, work: Callable[[], None]) -> Callable[[], None]:
        def target() -> None:
            try:
                work()
            except Exception:
                log.exception("%s crashed; stopping the process so that it can be restarted", name)
                crashed.append(name)
                stop.set()
            finally:
                connections.close_all()

        return target

    threads = [threading.Thread(target=guarded(name, work), name=name, daemon=True) for name, work in workers.items()]
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        if not any(thread.is_alive() for thread in threads):
            break
    for thread in threads:
        thread.join()
    if crashed:
        raise CommandError(f"{', '.join(crashed)} crashed (see the log above)", returncode=1)


def keep_running(step: Callable[[], object], *, every: float, stop: threading.Event, name: str) -> None:
    """Call ``step`` every ``every`` seconds until ``stop`` is set, surviving database and
    broker failures with a bounded, jittered pause (the deadline checker's loop)."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            step()
            backoff.reset()
            pause = every
        except TRANSIENT as exc:
            pause = backoff.next()
            log.warning("%s: %s: %s; again in %.1f s", name, type(exc).__name__, exc, pause)
            reconnect()
        stop.wait(pause)


class WorkerCommand(BaseCommand):
    """Base of ``relay`` and ``consume``: ``--service`` (repeatable; all when omitted), tracing
    when the environment asks for it (its ``lotus.role`` is :attr:`role`), metrics, one worker
    thread per service, a clean stop on SIGTERM/SIGINT.

    Subclasses implement :meth:`workers` (name → callable, given the services and the stop
    event) and may override :meth:`finished`.
    """

    role = "worker"

    def add_arguments(self, parser):
        parser.add_argument("--service", action="append", help=f"a service to {self.role} for; repeatable")

    def handle(self, *args, **options):
        try:
            services = selected_services(options["service"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        tracing.setup(role=self.role, services=services)
        metrics.serve(services)
        stop = threading.Event()
        workers = self.workers(services, stop)
        settle_heap()
        self.stdout.write(f"{self.role}: {', '.join(workers) or 'nothing to run'}")
        run_until_signalled(workers, stop)
        self.finished()

    def workers(self, services: list[str], stop: threading.Event) -> dict[str, Callable[[], None]]:
        raise NotImplementedError

    def finished(self) -> None:
        self.stdout.write(f"{self.role}: stopped")
