"""Wiring: which handlers each service's consumer runs.

The one place that knows every service app's ``handlers`` module. Each module ends with a
``REGISTRY`` (:class:`lotus.messaging.registry.Handlers`); nothing registers itself by
being imported.
"""

from __future__ import annotations

import importlib

from lotus.messaging.registry import Handlers
from lotus.topology import SERVICES


def handlers_for(service: str) -> Handlers:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    module = importlib.import_module(f"{service}.handlers")
    return module.REGISTRY


#: Services that seed data on start (each has ``<service>/seed.py`` with ``seed() -> str``).
SEEDED_SERVICES: tuple[str, ...] = ("profiles", "orders", "stock", "delivery")


def run_seeds() -> list[str]:
    """Create or update each service's seed data; return one summary line per service."""
    return [f"{service}: {importlib.import_module(f'{service}.seed').seed()}" for service in SEEDED_SERVICES]
