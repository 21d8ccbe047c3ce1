"""The :func:`idempotent` view decorator (see the package docstring)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from lotus.auth import customer_id
from lotus.conf import lotus_settings
from lotus.errors import LotusError, Unprocessable
from lotus.idempotency.models import IdempotencyRecord
from lotus.topology import alias_for

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def idempotent(*, service: str) -> Callable:
    alias = alias_for(service)

    def decorator(view_method: Callable) -> Callable:
        @functools.wraps(view_method)
        def wrapper(view, request: Request, *args, **kwargs) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return view_method(view, request, *args, **kwargs)
            if not key.strip() or len(key) > MAX_KEY_LENGTH:
                raise LotusError(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
            fingerprint = _fingerprint(request)
            with transaction.atomic(using=alias):
                record = _claim(alias, customer_id(request), key, fingerprint)
                if record.status_code is not None:
                    if record.fingerprint != fingerprint:
                        raise Unprocessable(f"{HEADER} {key!r} was already used for a different request.")
                    return Response(record.body, status=record.status_code, headers={"Idempotent-Replayed": "true"})
                response = view_method(view, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    record.status_code = response.status_code
                    record.body = json.loads(JSONRenderer().render(response.data))
                    record.save(using=alias, update_fields=["status_code", "body"])
                else:
                    record.delete(using=alias)
                return response

        return wrapper

    return decorator


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode() + b"\0")
    digest.update(request._request.body)  # read before DRF parses it; Django keeps it for the parser
    return digest.hexdigest()


def _claim(alias: str, customer: int, key: str, fingerprint: str) -> IdempotencyRecord:
    """Lock the (customer, key) record, creating an empty one that this request will fill.

    A concurrent request with the same key blocks on the insert until the first commits,
    then finds the stored response.
    """
    records = IdempotencyRecord.objects.using(alias)
    expired = timezone.now() - timedelta(hours=lotus_settings.IDEMPOTENCY["TTL_HOURS"])
    records.filter(customer_id=customer, key=key, created_at__lt=expired).delete()
    records.bulk_create(
        [IdempotencyRecord(customer_id=customer, key=key, fingerprint=fingerprint)], ignore_conflicts=True
    )
    return records.select_for_update().get(customer_id=customer, key=key)
