"""The request body's size limit, enforced once for every endpoint and parser, first.

Since djangorestframework 3.18 its JSON and form parsers read the body through ``request.body``,
so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` applies to them (3.16 parsed any size). But Django
then answers a bare 400 "Bad request." (logged as a security error), only once the view asks
for the data: after authentication and throttling ran. :class:`BodySizeMiddleware` answers 413
with a message before anything else runs when the declared ``Content-Length`` exceeds the limit
(``LOTUS_MAX_BODY_BYTES``). That bounds what is read as well: a WSGI request's stream ends at its
``Content-Length`` (Django wraps it in a ``LimitedStream``), and a body without one (chunked)
reads as empty.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from lotus.errors import error_body


class BodySizeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return JsonResponse(error_body(400, "bad_request", "Content-Length must be a number."), status=400)
        if limit is not None and length > limit:
            message = f"The request body ({length} bytes) is larger than the limit of {limit} bytes."
            return JsonResponse(error_body(413, "request_too_large", message), status=413)
        return self.get_response(request)
