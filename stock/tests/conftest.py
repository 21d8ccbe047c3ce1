import pytest

from stock.seed import seed


@pytest.fixture
def seeded(db):
    """The catalog's initial stock: 1000 of product 1, none of products 2 and 3."""
    seed()
