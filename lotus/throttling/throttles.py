"""The throttle classes views list (see the package docstring)."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from lotus.api import request_data
from lotus.conf import lotus_settings
from lotus.throttling import counters
from lotus.topology import alias_for


class Throttle(SimpleRateThrottle):
    """Counts requests per :meth:`ident` in ``service``'s database at ``THROTTLE[scope.upper()]``."""

    service: str
    scope: str

    def __init__(self) -> None:
        """The rate is read per request (settings may change; tests change them)."""
        self.remaining: int | None = None

    def allow_request(self, request, view) -> bool:
        self.rate = lotus_settings.THROTTLE[self.scope.upper()]
        if self.rate is None:
            return True
        ident = self.ident(request)
        if ident is None:
            return True
        limit, window = self.parse_rate(self.rate)
        counted = counters.count(alias_for(self.service), scope=self.scope, ident=ident, window=window)
        if counted.hits <= limit:
            return True
        self.remaining = counted.remaining
        return False

    def wait(self) -> float | None:
        return self.remaining

    def ident(self, request) -> str | None:
        raise NotImplementedError


class AddressThrottle(Throttle):
    """Per client address."""

    def ident(self, request) -> str | None:
        return self.get_ident(request)


class EmailThrottle(Throttle):
    """Per account: the ``email`` the request names (trimmed, any case), wherever it comes from."""

    def ident(self, request) -> str | None:
        email = request_data(request).get("email")
        return email.strip().lower() if isinstance(email, str) and email.strip() else None


class CustomerThrottle(Throttle):
    """Per customer: the token's ``user_id`` (authentication runs before throttling)."""

    def ident(self, request) -> str | None:
        user = request.user
        return str(user.id) if user is not None and user.is_authenticated else None
