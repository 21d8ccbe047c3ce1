"""Rate limits of the endpoints an attacker or a runaway client would hammer (DRF throttles).

A view lists its throttles, each a small subclass naming the service and the rate it reads::

    class LoginApi(APIView):
        throttle_classes = [LoginAccountThrottle, LoginAddressThrottle]

    class LoginAccountThrottle(EmailThrottle):
        service, scope = "profiles", "login_account"   # rate: THROTTLE["LOGIN_ACCOUNT"]

Rates are read at each request from ``lotus_settings.THROTTLE`` (``LOTUS_THROTTLE_*``; None: no
limit, and no counter is touched). Over the rate the client gets 429 with ``Retry-After`` and
the usual JSON error body (:func:`lotus.errors.exception_handler`).

The counters live in the service's own database (a ``DatabaseCache`` table per service,
:func:`lotus.topology.cache_settings`), so every gunicorn worker and every pod of the service
counts against one limit. The client's address is ``REMOTE_ADDR`` unless ``LOTUS_NUM_PROXIES``
says how many proxies in front of the service append to ``X-Forwarded-For`` (DRF's
``NUM_PROXIES``): a client cannot pick its own address with that header.
"""

from __future__ import annotations

import hashlib

from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from lotus.api import request_data
from lotus.conf import lotus_settings
from lotus.topology import throttle_cache


class Throttle(SimpleRateThrottle):
    """Counts requests per :meth:`ident` in ``service``'s database at ``THROTTLE[scope.upper()]``."""

    service: str
    scope: str

    def __init__(self) -> None:
        """The rate and the cache are chosen per request (settings may change; tests change them)."""

    def allow_request(self, request, view) -> bool:
        self.rate = lotus_settings.THROTTLE[self.scope.upper()]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.cache = caches[throttle_cache(self.service)]
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        ident = self.ident(request)
        if ident is None:
            return None
        # Hashed: the table holds no email, and any ident makes a valid cache key.
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(ident.encode()).hexdigest()}

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
