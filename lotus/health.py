"""``/healthz`` (the process answers) and ``/readyz`` (its databases and Kafka answer).

``/readyz`` names each dependency with ``ok`` or ``failed`` and nothing more: it answers
anyone who can reach the pod, and an exception's text can carry host names, user names and
driver details. Why a check failed goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connections
from django.http import JsonResponse

from lotus.conf import lotus_settings
from lotus.messaging import kafka
from lotus.topology import alias_for

log = logging.getLogger(__name__)

OK, FAILED = "ok", "failed"


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks = {
        f"database:{service}": _check(f"database:{service}", _database(service)) for service in lotus_settings.SERVICES
    }
    checks["kafka"] = _check("kafka", lambda: kafka.ping(timeout=2.0))
    ready = all(value == OK for value in checks.values())
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def _database(service: str) -> Callable[[], None]:
    def select_one() -> None:
        with connections[alias_for(service)].cursor() as cursor:
            cursor.execute("SELECT 1")

    return select_one


def _check(name: str, probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 -- any failure means "not ready"; the reason goes to the log only
        log.warning("readyz: %s failed: %s: %s", name, type(exc).__name__, exc)
        return FAILED
    return OK
