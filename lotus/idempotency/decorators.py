"""The :func:`idempotent` view decorator (see the package docstring)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from lotus.auth import customer_id
from lotus.errors import LotusError, Unprocessable
from lotus.idempotency.housekeeping import expired_before
from lotus.idempotency.models import IdempotencyRecord
from lotus.messaging.unit_of_work import UnitOfWork

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def idempotent(*, service: str) -> Callable:
    """Run the view in a unit of work of ``service``, passed to it as ``uow``, and store its
    first successful response in that same transaction."""

    def decorator(view_method: Callable) -> Callable:
        @functools.wraps(view_method)
        def wrapper(view, request: Request, *args, **kwargs) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                with UnitOfWork(service) as uow:
                    return view_method(view, request, *args, uow=uow, **kwargs)
            if not key.strip() or len(key) > MAX_KEY_LENGTH:
                raise LotusError(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
            fingerprint = _fingerprint(request)
            with UnitOfWork(service) as uow:
                record = _claim(uow, customer_id(request), key, fingerprint)
                if record.status_code is not None:
                    if record.fingerprint != fingerprint:
                        raise Unprocessable(f"{HEADER} {key!r} was already used for a different request.")
                    return Response(record.body, status=record.status_code, headers={"Idempotent-Replayed": "true"})
                response = view_method(view, request, *args, uow=uow, **kwargs)
                if 200 <= response.status_code < 300:
                    record.status_code = response.status_code
                    record.body = json.loads(JSONRenderer().render(response.data))
                    uow.update(record, ["status_code", "body"])
                else:
                    record.delete(using=uow.alias)
                return response

        wrapper.idempotency_header = HEADER  # lotus.schema documents the header and its 422
        return wrapper

    return decorator


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode() + b"\0")
    digest.update(request._request.body)  # read before DRF parses it; Django keeps it for the parser
    return digest.hexdigest()


def _claim(uow: UnitOfWork, customer: int, key: str, fingerprint: str) -> IdempotencyRecord:
    """Lock the (customer, key) record, creating an empty one that this request will fill.

    A concurrent request with the same key blocks on the insert until the first commits,
    then finds the stored response.
    """
    expired = expired_before()
    IdempotencyRecord.objects.using(uow.alias).filter(customer_id=customer, key=key, created_at__lt=expired).delete()
    uow.insert_unless_present(
        IdempotencyRecord(customer_id=customer, key=key, fingerprint=fingerprint), unique_fields=("customer_id", "key")
    )
    return uow.locked(IdempotencyRecord, customer_id=customer, key=key)
