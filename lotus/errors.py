"""One application error type and the one handler that turns every failure into JSON.

Service code raises :class:`LotusError` (or a subclass naming the HTTP status) with a
human-readable message::

    raise Conflict(f"order {order.id} is {order.status} and can no longer be cancelled")

The DRF exception handler :func:`exception_handler` renders it, DRF's own exceptions and
Django's ``Http404``/``PermissionDenied`` as::

    {"error": {"status": 409, "code": "conflict", "message": "...", "details": {...}}}

The OpenAPI document describes this body as ``ErrorBody`` (:class:`lotus.schema.ErrorBodySerializer`)
under every error status an operation can answer; change both together.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

log = logging.getLogger(__name__)


class LotusError(Exception):
    """A failure the client can understand and act on; 400 unless a subclass says otherwise."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(LotusError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(LotusError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class Unprocessable(LotusError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "unprocessable"


def error_body(status_code: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    error = {"status": status_code, "code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every known failure becomes a JSON error response."""
    if isinstance(exc, LotusError):
        set_rollback()
        return Response(error_body(exc.status_code, exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500
    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:  # 429: whole seconds, at least one
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
    if isinstance(exc, exceptions.ValidationError):
        message, details = _describe_validation(exc.detail), exc.detail
    else:
        message, details = _flatten(exc.detail), None
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    return Response(error_body(exc.status_code, code, message, details), status=exc.status_code, headers=headers)


def _flatten(detail: Any) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def _describe_validation(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(
            _flatten(value) if key == "non_field_errors" else f"{key}: {_flatten(value)}"
            for key, value in detail.items()
        )
    return _flatten(detail)


def not_found_view(request, exception=None):
    return JsonResponse(error_body(404, "not_found", f"No endpoint at {request.path}."), status=404)


def server_error_view(request):
    return JsonResponse(error_body(500, "server_error", "Internal error; it has been logged."), status=500)


def bad_request_view(request, exception=None):
    return JsonResponse(error_body(400, "bad_request", "Bad request."), status=400)
