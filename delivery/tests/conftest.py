from datetime import UTC, datetime, timedelta

import pytest

from delivery.models import Courier


@pytest.fixture
def two_couriers(db):
    """A small fleet whose capacity is easy to fill: Ann carries 2 orders an hour, Bob 1."""
    return [
        Courier.objects.create(name="Ann", capacity_per_slot=2),
        Courier.objects.create(name="Bob", capacity_per_slot=1),
    ]


@pytest.fixture
def tomorrow_at_ten() -> datetime:
    """A slot safely in the future (and not the next hour, so it differs from the earliest one)."""
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
