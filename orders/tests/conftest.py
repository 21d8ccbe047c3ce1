import pytest

from orders.seed import seed


@pytest.fixture
def catalog(db):
    seed()
