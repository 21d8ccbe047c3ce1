"""The profiles API beyond the basics of test_profiles.py: every status code and bad input."""

import uuid
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from lotus.contracts.profiles import UserRegistered
from lotus.testing import api_client, published, token_for
from profiles.models import Customer

pytestmark = pytest.mark.django_db(databases="__all__")
PASSWORD = "Saga-Customer-Pass-2026"
OTHER_KEY = "some-other-signing-key-long-enough-for-hs256-0123456789"


def decode(token: str) -> dict:
    """The claims of a token profiles signed, checked with the public key every service holds."""
    return jwt.decode(token, settings.SIMPLE_JWT["VERIFYING_KEY"], algorithms=["RS256"])


def other_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def bearer(token: str):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- register ---------------------------------------------------------------------------------


def test_register_answers_with_exactly_the_customer(register):
    response = register(email="Ann@Lotus.test", firstName="Ann", lastName="Lee")
    assert response.status_code == 201, response.content
    customer = Customer.objects.get()
    assert response.json() == {
        "id": customer.id,
        "email": "ann@lotus.test",
        "firstName": "Ann",
        "lastName": "Lee",
        "isOperator": False,
    }


def test_register_accepts_the_email_in_the_query_string(anonymous):
    response = anonymous.post("/profile/register?email=qs@lotus.test", {"password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content
    assert Customer.objects.get().email == "qs@lotus.test"


@pytest.mark.parametrize("path", ["/profile/register", "/profile/login"])
def test_a_password_in_the_query_string_is_400_and_nothing_is_done(anonymous, register, path):
    """Query strings land in access logs: a password there is refused, even with a good body."""
    if path == "/profile/login":
        register()
    response = anonymous.post(
        f"{path}?password={PASSWORD}", {"email": "qs@lotus.test", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["status"], error["code"], error["details"]) == (
        400,
        "credentials_in_query",
        {"parameters": ["password"]},
    )
    assert "access" not in response.json()
    assert not Customer.objects.filter(email="qs@lotus.test").exists()


def test_a_duplicate_registration_announces_nothing_more(register):
    first = register(email="ann@lotus.test").json()["id"]
    response = register(email="ANN@LOTUS.TEST")
    assert response.status_code == 400
    assert "already exists" in response.json()["error"]["details"]["email"][0]
    assert published("profiles", UserRegistered) == [UserRegistered(customer_id=first, email="ann@lotus.test")]


@pytest.mark.parametrize(
    ("password", "says"),
    [("short7", "too short"), ("password", "too common"), ("48151623421088", "entirely numeric")],
)
def test_a_weak_password_is_400_saying_why(register, password, says):
    response = register(password=password)
    assert response.status_code == 400
    assert says in " ".join(response.json()["error"]["details"]["password"])


def test_a_password_like_the_email_is_400(register):
    response = register(email="annabelle.whitfield@lotus.test", password="annabelle.whitfield")
    assert response.status_code == 400
    assert "too similar" in " ".join(response.json()["error"]["details"]["password"])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "password"}),
        ({"email": "", "password": ""}, {"email", "password"}),
        ({"email": f"{'a' * 250}@lotus.test", "password": PASSWORD}, {"email"}),
        ({"email": "ann@lotus.test", "password": "x" * 5000}, {"password"}),
        ({"email": "ann@lotus.test", "password": PASSWORD, "firstName": "a" * 151}, {"firstName"}),
        ({"email": ["ann@lotus.test"], "password": {"nested": 1}}, {"email", "password"}),
    ],
)
def test_register_refuses_missing_or_invalid_fields_with_400_naming_them(anonymous, body, fields):
    response = anonymous.post("/profile/register", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == fields
    assert published("profiles") == []
    assert not Customer.objects.exists()


def test_register_refuses_malformed_json_with_a_parse_error(anonymous):
    response = anonymous.post("/profile/register", data='{"email": "ann@', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize("body", ['"ann@lotus.test"', "42", "true", "null", "[]"])
def test_register_refuses_a_json_body_that_is_not_an_object_with_400(anonymous, body):
    response = anonymous.post("/profile/register", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["status"] == 400
    assert not Customer.objects.exists()


def test_register_only_answers_post(anonymous):
    assert anonymous.get("/profile/register").status_code == 405


def test_register_ignores_a_broken_bearer_token():
    response = bearer("not-a-token").post(
        "/profile/register", {"email": "ann@lotus.test", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201


# --- login ------------------------------------------------------------------------------------


def test_login_gives_an_access_and_a_refresh_token_with_the_claims(register, login):
    customer_id = register().json()["id"]
    body = login(email="ANN@lotus.test").json()
    assert set(body) == {"access", "refresh"}
    access, refresh = decode(body["access"]), decode(body["refresh"])
    assert (access["token_type"], refresh["token_type"]) == ("access", "refresh")
    for claims in (access, refresh):
        assert (int(claims["user_id"]), claims["email"], claims["is_staff"]) == (customer_id, "ann@lotus.test", False)


def test_the_password_is_case_sensitive(register, login):
    register()
    assert login(password=PASSWORD.upper()).status_code == 401


def test_login_of_a_deactivated_customer_is_401(register, login):
    register()
    Customer.objects.update(is_active=False)
    response = login()
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("body", [{}, {"email": "ann@lotus.test"}, {"password": PASSWORD}])
def test_login_with_missing_fields_is_400(anonymous, body):
    response = anonymous.post("/profile/login", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]


def test_login_refuses_malformed_json_with_400(anonymous):
    assert anonymous.post("/profile/login", data="{", content_type="application/json").status_code == 400


def test_the_seeded_operator_logs_in_as_staff(operator, login):
    email, password = operator
    response = login(email=email, password=password)
    assert response.status_code == 200
    assert decode(response.json()["access"])["is_staff"] is True
    assert bearer(response.json()["access"]).get("/profile/me").json()["isOperator"] is True


# --- refresh ----------------------------------------------------------------------------------


def test_refresh_gives_a_fresh_access_token_keeping_every_claim(register, login, anonymous):
    customer_id = register().json()["id"]
    tokens = login().json()
    response = anonymous.post("/profile/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}
    access = decode(response.json()["access"])
    assert access["token_type"] == "access"
    assert (int(access["user_id"]), access["email"], access["is_staff"]) == (customer_id, "ann@lotus.test", False)
    assert access["jti"] != decode(tokens["access"])["jti"]
    assert bearer(response.json()["access"]).get("/profile/me").status_code == 200


def test_refresh_keeps_the_operator_claim(operator, login, anonymous):
    email, password = operator
    refresh = login(email=email, password=password).json()["refresh"]
    response = anonymous.post("/profile/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    assert decode(response.json()["access"])["is_staff"] is True
    assert decode(response.json()["refresh"])["is_staff"] is True


def test_a_refresh_token_in_the_query_string_is_400_and_stays_usable(operator, login, anonymous):
    email, password = operator
    refresh = login(email=email, password=password).json()["refresh"]
    response = anonymous.post(f"/profile/refresh?refresh={refresh}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "credentials_in_query"
    assert anonymous.post("/profile/refresh", {"refresh": refresh}, format="json").status_code == 200


def test_refresh_rotates_the_refresh_token_and_a_used_one_is_refused(register, login, anonymous):
    register()
    first = login().json()["refresh"]
    second = anonymous.post("/profile/refresh", {"refresh": first}, format="json").json()["refresh"]
    assert decode(second)["jti"] != decode(first)["jti"]
    reused = anonymous.post("/profile/refresh", {"refresh": first}, format="json")
    assert reused.status_code == 401, reused.content
    assert reused.json()["error"]["code"] == "invalid_credentials"
    assert "access" not in reused.json()
    third = anonymous.post("/profile/refresh", {"refresh": second}, format="json")
    assert third.status_code == 200, "the rotated-in token still works, once"
    assert anonymous.post("/profile/refresh", {"refresh": second}, format="json").status_code == 401


def test_a_process_without_the_private_key_answers_sign_in_and_refresh_with_503(register, login, anonymous, settings):
    """The chart's admin serves every service with the public key only (lotus.keys)."""
    register()
    refresh = login().json()["refresh"]
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": None}
    for response in (login(), anonymous.post("/profile/refresh", {"refresh": refresh}, format="json")):
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "cannot_sign"


def test_logout_revokes_the_refresh_token(register, login, anonymous):
    register()
    tokens = login().json()
    response = anonymous.post("/profile/logout", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204, response.content
    refused = anonymous.post("/profile/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refused.status_code == 401
    assert "blacklisted" in refused.json()["error"]["message"]
    assert anonymous.post("/profile/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    other = login().json()["refresh"]
    assert anonymous.post("/profile/refresh", {"refresh": other}, format="json").status_code == 200, (
        "another sign-in of the same customer is not revoked"
    )


@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": "garbage"}])
def test_logout_without_a_valid_refresh_token_is_4xx(register, login, anonymous, body):
    register()
    login()
    response = anonymous.post("/profile/logout", body, format="json")
    assert response.status_code in (400, 401)
    assert response.json()["error"]["status"] == response.status_code


def test_logout_with_an_access_token_is_401_and_the_refresh_token_stays_usable(register, login, anonymous):
    register()
    tokens = login().json()
    assert anonymous.post("/profile/logout", {"refresh": tokens["access"]}, format="json").status_code == 401
    assert anonymous.post("/profile/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize(
    "kind", ["access token", "forged", "forged RS256", "expired", "deactivated account", "deleted account"]
)
def test_refresh_with_a_bad_refresh_token_is_401(register, login, anonymous, kind):
    customer_id = register().json()["id"]
    tokens = login().json()
    refresh = tokens["refresh"]
    if kind == "access token":
        refresh = tokens["access"]
    elif kind == "forged":
        refresh = jwt.encode(decode(tokens["refresh"]), OTHER_KEY, algorithm="HS256")
    elif kind == "forged RS256":
        refresh = jwt.encode(decode(tokens["refresh"]), other_private_key(), algorithm="RS256")
    elif kind == "expired":
        token = RefreshToken(tokens["refresh"])
        token.set_exp(from_time=timezone.now() - timedelta(days=30))
        refresh = str(token)
    elif kind == "deactivated account":
        Customer.objects.filter(id=customer_id).update(is_active=False)
    else:
        Customer.objects.filter(id=customer_id).delete()
    response = anonymous.post("/profile/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert "access" not in response.json()


@pytest.mark.parametrize("body", [{}, {"refresh": ""}])
def test_refresh_without_a_token_is_400(anonymous, body):
    response = anonymous.post("/profile/refresh", body, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()["error"]["details"]


# --- me ---------------------------------------------------------------------------------------


def test_me_answers_with_exactly_the_callers_profile(register, login):
    customer_id = register(firstName="Ann", lastName="Lee").json()["id"]
    response = bearer(login().json()["access"]).get("/profile/me")
    assert response.status_code == 200
    assert response.json() == {
        "id": customer_id,
        "email": "ann@lotus.test",
        "firstName": "Ann",
        "lastName": "Lee",
        "isOperator": False,
    }


def test_me_without_a_token_is_401_with_a_bearer_challenge(anonymous):
    response = anonymous.get("/profile/me")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_me_with_a_token_signed_by_another_key_is_401(register):
    customer_id = register().json()["id"]
    payload = {
        "token_type": "access",
        "user_id": customer_id,
        "email": "ann@lotus.test",
        "is_staff": True,
        "jti": uuid.uuid4().hex,
        "exp": int((timezone.now() + timedelta(hours=1)).timestamp()),
    }
    assert bearer(jwt.encode(payload, OTHER_KEY, algorithm="HS256")).get("/profile/me").status_code == 401
    assert bearer(jwt.encode(payload, other_private_key(), algorithm="RS256")).get("/profile/me").status_code == 401


def test_me_with_an_expired_token_is_401(register):
    token = AccessToken()
    token["user_id"] = register().json()["id"]
    token.set_exp(from_time=timezone.now() - timedelta(hours=2))
    response = bearer(str(token)).get("/profile/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_me_with_a_refresh_token_as_bearer_is_401(register, login):
    register()
    assert bearer(login().json()["refresh"]).get("/profile/me").status_code == 401


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_me_for_an_account_that_is_gone_is_404(register, login, change):
    register()
    access = login().json()["access"]
    if change == "deactivate":
        Customer.objects.update(is_active=False)
    else:
        Customer.objects.all().delete()
    response = bearer(access).get("/profile/me")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_me_for_a_token_naming_no_customer_is_404():
    assert bearer(token_for(987654)).get("/profile/me").status_code == 404


def test_the_relays_housekeeping_forgets_expired_refresh_tokens_and_keeps_live_ones(register, login, anonymous):
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    from lotus.messaging.relay import Relay

    register()
    used = login().json()["refresh"]
    live = anonymous.post("/profile/refresh", {"refresh": used}, format="json").json()["refresh"]
    assert BlacklistedToken.objects.filter(token__jti=decode(used)["jti"]).exists()
    OutstandingToken.objects.filter(jti=decode(used)["jti"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    Relay("billing").prune()
    assert OutstandingToken.objects.filter(jti=decode(used)["jti"]).exists(), "only the profiles relay prunes them"
    assert Relay("profiles").prune() >= 2  # the expired token and its blacklist row
    assert not OutstandingToken.objects.filter(jti=decode(used)["jti"]).exists()
    assert not BlacklistedToken.objects.filter(token__jti=decode(used)["jti"]).exists()
    assert OutstandingToken.objects.filter(jti=decode(live)["jti"]).exists()
    assert anonymous.post("/profile/refresh", {"refresh": live}, format="json").status_code == 200
