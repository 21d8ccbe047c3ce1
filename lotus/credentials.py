"""Credentials travel in headers and bodies only, never in a query string.

A query string ends up in access logs, proxy logs, browser history and ``Referer`` headers.
:class:`QueryStringCredentialsMiddleware` refuses any request whose query string carries
something that looks like a token or a password (400, the ``lotus.errors`` body) before any
view runs, so nothing is applied; the seed's query-string parameters are not credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.http import JsonResponse

from lotus.errors import error_body

#: Query-string names that carry a credential: whole names, and parts of a name (compared in
#: lower case with ``-`` read as ``_``; ``?access_token=``, ``?X-Api-Key=``, ``?newPassword=``).
CREDENTIAL_NAMES = frozenset(
    {"access", "refresh", "token", "jwt", "bearer", "auth", "authorization", "password", "pass", "passwd", "pwd"}
    | {"secret", "apikey", "api_key", "session", "sessionid", "credential", "credentials", "signature"}
)
CREDENTIAL_PARTS = re.compile(r"token|passw|secret|jwt|api_?key|private_?key|access_?key|credential|session")


def credential_parameters(names: Iterable[str]) -> list[str]:
    """The names among ``names`` (query-string parameters) that look like credentials."""
    found = []
    for name in names:
        normal = name.strip().lower().replace("-", "_")
        if normal in CREDENTIAL_NAMES or CREDENTIAL_PARTS.search(normal):
            found.append(name)
    return found


class QueryStringCredentialsMiddleware:
    """400 for a request whose query string carries a credential (see the module docstring);
    nothing behind this middleware runs, so nothing is applied."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        found = credential_parameters(request.GET.keys())
        if found:
            message = (
                f"Credentials are not accepted in the query string ({', '.join(sorted(found))}): "
                "send tokens in the Authorization header and passwords in the JSON body."
            )
            return JsonResponse(
                error_body(400, "credentials_in_query", message, {"parameters": sorted(found)}), status=400
            )
        return self.get_response(request)
