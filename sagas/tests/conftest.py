import pytest
from django.core.management import call_command

from tests.integration.harness import SagaHarness


@pytest.fixture
def saga(db):
    """Seeded databases and the deterministic saga driver of the integration tests."""
    call_command("seed")
    return SagaHarness()
