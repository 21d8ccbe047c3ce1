"""Fixtures of the profiles tests.

Real password hashing (Argon2) makes every register and login slow, so tests hash with MD5
unless marked ``real_hasher`` (the tests that check what the project really stores).
"""

import pytest

from lotus.conf import lotus_settings
from lotus.testing import api_client
from profiles.seed import seed

PASSWORD = "Saga-Customer-Pass-2026"


@pytest.fixture(autouse=True)
def fast_hasher(request, settings):
    if "real_hasher" not in request.keywords:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def anonymous():
    return api_client()


@pytest.fixture
def register(anonymous):
    def register(email="ann@lotus.test", password=PASSWORD, **extra):
        return anonymous.post("/profile/register", {"email": email, "password": password, **extra}, format="json")

    return register


@pytest.fixture
def login(anonymous):
    def login(email="ann@lotus.test", password=PASSWORD):
        return anonymous.post("/profile/login", {"email": email, "password": password}, format="json")

    return login


@pytest.fixture
def operator():
    """The seeded operator's ``(email, password)``."""
    seed()
    return lotus_settings.OPERATOR["EMAIL"], lotus_settings.OPERATOR["PASSWORD"]
