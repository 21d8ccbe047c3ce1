import pytest
from django.core.management import call_command

from tests.integration.harness import SagaHarness


@pytest.fixture
def saga(db):
    call_command("seed")
    return SagaHarness()
