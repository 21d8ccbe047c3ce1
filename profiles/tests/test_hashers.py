"""Argon2id sized for a web pod, and hashes with Django's defaults redone at sign-in (issue 14, item 3)."""

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, identify_hasher, make_password

from lotus.testing import api_client
from profiles.hashers import WebArgon2PasswordHasher
from profiles.models import Customer

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.real_hasher]
PASSWORD = "Saga-Customer-Pass-2026"


def parameters(encoded: str) -> tuple[int, int, int]:
    decoded = WebArgon2PasswordHasher().decode(encoded)
    return decoded["memory_cost"], decoded["time_cost"], decoded["parallelism"]


def test_new_passwords_are_hashed_with_19_mib_two_passes_one_lane():
    response = api_client().post("/profile/register", {"email": "ann@lotus.test", "password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content
    encoded = Customer.objects.get(email="ann@lotus.test").password
    assert encoded.startswith("argon2$argon2id$")
    assert isinstance(identify_hasher(encoded), WebArgon2PasswordHasher)
    assert parameters(encoded) == (19 * 1024, 2, 1)


def test_a_hash_with_djangos_default_parameters_is_redone_at_sign_in():
    old = make_password(PASSWORD, hasher=Argon2PasswordHasher())
    assert parameters(old) == (102400, 2, 8)
    customer = Customer.objects.create(email="old@lotus.test", password=old)

    wrong = api_client().post("/profile/login", {"email": "old@lotus.test", "password": "not-it"}, format="json")
    assert wrong.status_code == 401
    customer.refresh_from_db()
    assert customer.password == old, "a failed sign-in changes nothing"

    signed_in = api_client().post("/profile/login", {"email": "old@lotus.test", "password": PASSWORD}, format="json")
    assert signed_in.status_code == 200, signed_in.content
    customer.refresh_from_db()
    assert customer.password != old
    assert parameters(customer.password) == (19 * 1024, 2, 1)
    assert customer.check_password(PASSWORD)
    again = api_client().post("/profile/login", {"email": "old@lotus.test", "password": PASSWORD}, format="json")
    assert again.status_code == 200
