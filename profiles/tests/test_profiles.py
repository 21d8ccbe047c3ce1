"""Profiles: registration, sign-in tokens with the claims other services rely on, and errors."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings as django_settings
from rest_framework_simplejwt.tokens import AccessToken

from lotus.contracts.profiles import UserRegistered
from lotus.testing import api_client, published
from profiles.models import Customer

pytestmark = pytest.mark.django_db(databases="__all__")
PASSWORD = "Saga-Customer-Pass-2026"


@pytest.fixture(autouse=True)
def fast_hasher(request, settings):
    if "real_hasher" not in request.keywords:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def register(email="Ann@Lotus.Test", password=PASSWORD, **extra):
    return api_client().post("/profile/register", {"email": email, "password": password, **extra}, format="json")


def login(email="ann@lotus.test", password=PASSWORD):
    return api_client().post("/profile/login", {"email": email, "password": password}, format="json")


def bearer(token):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_register_creates_the_customer_and_announces_it():
    response = register(firstName="Ann", lastName="Lee")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "ann@lotus.test"
    assert (body["firstName"], body["lastName"]) == ("Ann", "Lee")
    assert published("profiles", UserRegistered) == [UserRegistered(customer_id=body["id"], email="ann@lotus.test")]


@pytest.mark.real_hasher
def test_passwords_are_stored_with_argon2():
    register()
    assert Customer.objects.get().password.startswith("argon2$argon2id$")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "bob@lotus.test", "password": "short"}, "password"),
        ({"email": "bob@lotus.test", "password": "12345678901"}, "password"),
        ({"email": "bob@lotus.test", "password": "password123"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"password": PASSWORD}, "email"),
        ({"email": "bob@lotus.test"}, "password"),
    ],
)
def test_bad_registrations_are_400_with_the_fields_error_and_announce_nothing(payload, field):
    response = api_client().post("/profile/register", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert published("profiles") == []
    assert not Customer.objects.exists()


def test_a_duplicate_email_in_any_case_is_400():
    assert register().status_code == 201
    response = register(email="ANN@lotus.test")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]
    assert Customer.objects.count() == 1


def test_malformed_or_non_object_json_is_400():
    assert api_client().post("/profile/register", data="{", content_type="application/json").status_code == 400
    assert api_client().post("/profile/register", data="[1]", content_type="application/json").status_code == 400


def test_login_returns_tokens_whose_claims_other_services_read():
    customer_id = register().json()["id"]
    response = login(email="ANN@lotus.test")
    assert response.status_code == 200
    access = AccessToken(response.json()["access"])
    assert (int(access["user_id"]), access["email"], access["is_staff"]) == (customer_id, "ann@lotus.test", False)


@pytest.mark.parametrize(
    ("email", "password"), [("ann@lotus.test", "Wrong-Pass-2026"), ("nobody@lotus.test", PASSWORD)]
)
def test_wrong_credentials_are_401(email, password):
    register()
    response = login(email=email, password=password)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_an_operator_token_carries_the_operator_claim():
    Customer.objects.create_superuser("op@lotus.test", PASSWORD)
    assert AccessToken(login(email="op@lotus.test").json()["access"])["is_staff"] is True


def test_refresh_gives_a_new_access_token_with_the_same_claims():
    register()
    refresh = login().json()["refresh"]
    response = api_client().post("/profile/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["email"] == "ann@lotus.test"
    assert api_client().post("/profile/refresh", {"refresh": "garbage"}, format="json").status_code == 401


def test_me_needs_a_valid_token():
    register()
    access = login().json()["access"]
    me = bearer(access).get("/profile/me")
    assert me.status_code == 200
    assert me.json()["email"] == "ann@lotus.test"
    assert me.json()["isOperator"] is False
    assert api_client().get("/profile/me").status_code == 401
    forged = jwt.encode(dict(AccessToken(access).payload), "another-key", algorithm="HS256")
    assert bearer(forged).get("/profile/me").status_code == 401
    expired = AccessToken(access)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert bearer(str(expired)).get("/profile/me").status_code == 401
    assert django_settings.SIMPLE_JWT["ALGORITHM"] == "RS256"
