"""Bounded lists that keep the SPEC's body, a JSON list: ``?limit=`` and ``?after=`` (a cursor).

A list endpoint returns at most ``limit`` items (``PAGINATION["DEFAULT_LIMIT"]`` when not given,
at most ``PAGINATION["MAX_LIMIT"]``) in its fixed order; ``after`` names the last item the client
has (its id), and the list goes on from the item after it. When more items remain, the response
carries an RFC 8288 link to the next page, relative to the request (so it holds behind any
proxy)::

    Link: </notification?limit=50&after=1234>; rel="next"

A view's ``InputSerializer`` subclasses :class:`PageInputSerializer` and adds ``after`` of the
type of its ids; then::

    items, headers = page(queryset_after_cursor, request=request, limit=data["limit"], cursor=lambda n: n.id)
    return Response(OutputSerializer(items, many=True).data, headers=headers)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request

from lotus.conf import lotus_settings

T = TypeVar("T")


class PageInputSerializer(serializers.Serializer):
    """``limit``, bounded by the settings in force (and so in the schema); subclasses add ``after``."""

    def get_fields(self) -> dict[str, serializers.Field]:
        settings = lotus_settings.PAGINATION
        limit = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=settings["MAX_LIMIT"],
            help_text=f"How many items at most (default {settings['DEFAULT_LIMIT']}).",
        )
        return {"limit": limit, **super().get_fields()}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("limit", lotus_settings.PAGINATION["DEFAULT_LIMIT"])
        return attrs


def page(items: QuerySet[T], *, request: Request, limit: int, cursor: Callable[[T], Any]) -> tuple[list[T], dict]:
    """The first ``limit`` of ``items`` (already ordered and past the cursor), and the headers
    to answer with: a ``Link`` to the next page when one more item exists."""
    found: Sequence[T] = list(items[: limit + 1])
    if len(found) <= limit:
        return list(found), {}
    shown = list(found[:limit])
    query = {key: request.query_params.get(key) for key in request.query_params}
    query.update(limit=str(limit), after=str(cursor(shown[-1])))
    return shown, {"Link": f'<{request.path}?{urlencode(query)}>; rel="next"'}
