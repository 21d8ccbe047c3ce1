"""Formats of the saga pages: times in UTC to the millisecond, waits in seconds."""

from datetime import UTC, datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def utc(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return "—"
    return timezone.localtime(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


@register.filter
def wait(value: timedelta | None) -> str:
    if not isinstance(value, timedelta):
        return "—"
    seconds = value.total_seconds()
    if abs(seconds) < 60:
        return f"{seconds * 1000:.0f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"
    if abs(seconds) < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@register.filter
def short(value: object) -> str:
    """The first 8 characters of an id (the whole id is in the element's title)."""
    return str(value)[:8] if value else "—"
