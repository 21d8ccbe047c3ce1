"""Tokens against the running split stack: only profiles can sign them, every service refuses a
forgery, refresh tokens are used once and logout revokes one, credentials never ride a query
string.

Each service's web is reached through the router and on its own port; a forged token carries a
real customer's id and the operator claim, signed every way a key shared between services (or
the HS256 default this project once committed) would allow."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.e2e

SERVICES = ["profiles", "billing", "orders", "stock", "delivery", "notifications"]
#: A read of each service that a signed-in customer may make (200 with a genuine token).
READS = {
    "profiles": "/profile/me",
    "billing": "/billing/balance",
    "orders": "/order",
    "stock": "/stock",
    "delivery": f"/delivery/slots?date={(datetime.date.today() + datetime.timedelta(days=1)).isoformat()}",
    "notifications": "/notification",
}
#: The signing key lotus/settings.py once fell back on, published in this repository's history.
OLD_COMMITTED_KEY = "lotus-dev-only-secret-key-change-me-in-production-0123456789"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_raw_key(claims: dict, key: bytes) -> str:
    """HS256 signed with any bytes (PyJWT refuses a PEM as an HMAC key; an attacker does not)."""
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def forgeries(claims: dict) -> dict[str, str]:
    """Tokens carrying ``claims`` signed by anyone but profiles."""
    public_pem = Path(os.environ["LOTUS_JWT_PUBLIC_KEY_FILE"]).read_bytes()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    unsigned = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."
    return {
        "HS256 with the key once committed": jwt.encode(claims, OLD_COMMITTED_KEY, algorithm="HS256"),
        "HS256 with the stack's Django secret key": jwt.encode(claims, os.environ["DJANGO_SECRET_KEY"], "HS256"),
        "HS256 with a shared key": jwt.encode(claims, "a-key-shared-by-every-service-0123456789abcdef", "HS256"),
        "HS256 with the public key as its secret": hs256_with_raw_key(claims, public_pem),
        "alg none": unsigned,
        "RS256 with another private key": jwt.encode(claims, other_pem, algorithm="RS256"),
    }


def call(base: str, path: str, token: str, method: str = "GET") -> requests.Response:
    return requests.request(method, base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def bases(stack) -> dict[str, list[str]]:
    """Per service: the router's URL and its own web's."""
    port = int(stack.env["LOTUS_PORT"])
    return {service: [stack.url, f"http://127.0.0.1:{port + i}"] for i, service in enumerate(SERVICES, start=1)}


@pytest.fixture(scope="module")
def customer(stack):
    """A real customer (with money) and the claims profiles signed for them."""
    api = stack.customer(money=1000)
    access = api.session.headers["Authorization"].removeprefix("Bearer ")
    return api, jwt.decode(access, options={"verify_signature": False})


def test_a_genuine_token_reads_every_service(stack, customer):
    api, _ = customer
    token = api.session.headers["Authorization"].removeprefix("Bearer ")
    for service, urls in bases(stack).items():
        for base in urls:
            response = call(base, READS[service], token)
            assert response.status_code == 200, (service, base, response.text)


def test_every_service_refuses_a_token_not_signed_by_profiles(stack, customer):
    _, claims = customer
    forged_claims = {
        **claims,
        "is_staff": True,
        "jti": uuid.uuid4().hex,
        "exp": int((datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).timestamp()),
    }
    stock_before = stack.sql("stock", "SELECT on_hand, received FROM stock_stockitem WHERE product_id = 2")
    refused = []
    for kind, token in forgeries(forged_claims).items():
        for service, urls in bases(stack).items():
            for base in urls:
                response = call(base, READS[service], token)
                refused.append((kind, service, base, response.status_code))
                assert response.status_code == 401, (kind, service, base, response.text)
                assert response.json()["error"]["status"] == 401
        # The operator's writes, with the forged operator claim.
        assert call(stack.url, "/stock/add?idSubscription=2&count=5", token).status_code == 401, kind
        assert call(stack.url, "/billing/add-money?money=100", token, "POST").status_code == 401, kind
    assert len(refused) == 6 * 6 * 2
    assert stack.sql("stock", "SELECT on_hand, received FROM stock_stockitem WHERE product_id = 2") == stock_before
    balance = customer[0].call("GET", "/billing/balance").json()["balance"]
    assert balance == 1000, "no forged top-up"


def web_environments(stack) -> dict[str, dict[str, str]]:
    """The environment of each service's gunicorn, read from /proc (same user)."""
    port = int(stack.env["LOTUS_PORT"])
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(b"gunicorn" in part for part in cmdline):
            continue
        for i, service in enumerate(SERVICES, start=1):
            if f"127.0.0.1:{port + i}".encode() in cmdline:
                found[service] = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return found


def test_only_profiles_processes_hold_the_private_key(stack):
    environments = web_environments(stack)
    assert set(environments) == set(SERVICES), "a web process per service"
    for service, env in environments.items():
        holds = {name for name in env if name.startswith("LOTUS_JWT_PRIVATE_KEY")}
        assert bool(holds) == (service == "profiles"), (service, holds)
        assert env["LOTUS_SERVICES"] == service
        assert "LOTUS_JWT_SIGNING_KEY" not in env


def test_a_refresh_token_is_used_once_and_logout_revokes_one(stack):
    email = f"e2e-{uuid.uuid4().hex[:12]}@lotus.test"
    password = "E2e-Customer-Pass-2026"
    base = stack.url
    assert requests.post(f"{base}/profile/register", json={"email": email, "password": password}, timeout=30).ok
    first = requests.post(f"{base}/profile/login", json={"email": email, "password": password}, timeout=30).json()
    rotated = requests.post(f"{base}/profile/refresh", json={"refresh": first["refresh"]}, timeout=30)
    assert rotated.status_code == 200, rotated.text
    assert set(rotated.json()) == {"access", "refresh"}
    assert call(base, "/billing/balance", rotated.json()["access"]).status_code == 200
    reused = requests.post(f"{base}/profile/refresh", json={"refresh": first["refresh"]}, timeout=30)
    assert reused.status_code == 401, reused.text
    logout = requests.post(f"{base}/profile/logout", json={"refresh": rotated.json()["refresh"]}, timeout=30)
    assert logout.status_code == 204, logout.text
    after = requests.post(f"{base}/profile/refresh", json={"refresh": rotated.json()["refresh"]}, timeout=30)
    assert after.status_code == 401, after.text


def test_credentials_in_the_query_string_are_refused_by_every_service(stack, customer):
    api, _ = customer
    token = api.session.headers["Authorization"].removeprefix("Bearer ")
    for service, urls in bases(stack).items():
        for base in urls:
            path = READS[service] + ("&" if "?" in READS[service] else "?") + f"access_token={token}"
            response = requests.get(base + path, timeout=30)
            assert response.status_code == 400, (service, base, response.text)
            assert response.json()["error"]["code"] == "credentials_in_query"
    login = requests.post(
        f"{stack.url}/profile/login?password=x", json={"email": "a@lotus.test", "password": "x"}, timeout=30
    )
    assert login.status_code == 400
