"""``/healthz`` (the process answers) and ``/readyz`` (its databases and Kafka answer)."""

from __future__ import annotations

from django.db import connections
from django.http import JsonResponse

from lotus.conf import lotus_settings
from lotus.messaging import kafka
from lotus.topology import alias_for


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks: dict[str, str] = {}
    for service in lotus_settings.SERVICES:
        alias = alias_for(service)
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
            checks[f"database:{service}"] = "ok"
        except Exception as exc:  # noqa: BLE001 -- any failure means "not ready", reported as text
            checks[f"database:{service}"] = f"unavailable: {exc}".strip()
    try:
        kafka.ping(timeout=2.0)
        checks["kafka"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["kafka"] = f"unavailable: {exc}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
