"""Sign-in and registration are throttled: per account and per address (issue 14, item 3).

Counters live in profiles' own database, so separate processes count together;
the client's address is REMOTE_ADDR unless LOTUS_NUM_PROXIES trusts X-Forwarded-For. Rates are
per day here: a test cannot straddle the end of a (fixed) window and see its count start over."""

import socket
import subprocess
import sys
import uuid

import pytest
import requests
from django.db import connections
from rest_framework.test import APIClient

from lotus.testing import wait_for, worker_environment
from profiles.models import Customer

pytestmark = pytest.mark.django_db(databases="__all__")
PASSWORD = "Saga-Customer-Pass-2026"


def fresh_email() -> str:
    return f"t-{uuid.uuid4().hex[:10]}@lotus.test"


def fresh_address() -> str:
    """An address no other test counted against (counters outlive transactional tests)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def from_address(address: str, **extra) -> APIClient:
    return APIClient(REMOTE_ADDR=address, **extra)


def login(client: APIClient, email: str, password: str = "wrong-password"):
    return client.post("/profile/login", {"email": email, "password": password}, format="json")


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (429, "throttled")
    assert "available in" in error["message"]


def test_wrong_passwords_for_one_account_are_429_after_the_limit_from_any_address(lotus_setting):
    lotus_setting("THROTTLE", LOGIN_ACCOUNT="3/day", LOGIN_ADDRESS=None)
    email = fresh_email()
    Customer.objects.create_user(email=email, password=PASSWORD)
    for _ in range(3):
        assert login(from_address(fresh_address()), email).status_code == 401
    assert_throttled(login(from_address(fresh_address()), email))
    # Even the right password waits: the guesser cannot tell whether it was right.
    assert_throttled(login(from_address(fresh_address()), email.upper(), PASSWORD))
    # Another account is not held back.
    other = fresh_email()
    Customer.objects.create_user(email=other, password=PASSWORD)
    assert login(from_address(fresh_address()), other, PASSWORD).status_code == 200


def test_sign_ins_from_one_address_are_429_after_the_limit_whatever_the_account(lotus_setting):
    lotus_setting("THROTTLE", LOGIN_ACCOUNT=None, LOGIN_ADDRESS="4/day")
    address = fresh_address()
    for _ in range(4):
        assert login(from_address(address), fresh_email()).status_code == 401
    assert_throttled(login(from_address(address), fresh_email()))
    assert login(from_address(fresh_address()), fresh_email()).status_code == 401


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(lotus_setting, settings):
    lotus_setting("THROTTLE", LOGIN_ACCOUNT=None, LOGIN_ADDRESS="2/day")
    address = fresh_address()
    for _ in range(2):
        assert login(from_address(address, HTTP_X_FORWARDED_FOR=fresh_address()), fresh_email()).status_code == 401
    # A client that makes up a new X-Forwarded-For each time is still one address.
    assert_throttled(login(from_address(address, HTTP_X_FORWARDED_FOR=fresh_address()), fresh_email()))

    # Behind one proxy (an ingress) the address it appended is the client's; what the client
    # put before it is not believed.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy, client = fresh_address(), fresh_address()
    for _ in range(2):
        forwarded = f"{fresh_address()}, {client}"
        assert login(from_address(proxy, HTTP_X_FORWARDED_FOR=forwarded), fresh_email()).status_code == 401
    assert_throttled(login(from_address(proxy, HTTP_X_FORWARDED_FOR=f"{fresh_address()}, {client}"), fresh_email()))
    assert login(from_address(proxy, HTTP_X_FORWARDED_FOR=fresh_address()), fresh_email()).status_code == 401


def test_registrations_from_one_address_are_429_after_the_limit(lotus_setting):
    lotus_setting("THROTTLE", REGISTER="2/day")
    address = fresh_address()
    for _ in range(2):
        response = from_address(address).post(
            "/profile/register", {"email": fresh_email(), "password": PASSWORD}, format="json"
        )
        assert response.status_code == 201, response.content
    email = fresh_email()
    assert_throttled(
        from_address(address).post("/profile/register", {"email": email, "password": PASSWORD}, format="json")
    )
    assert not Customer.objects.filter(email=email).exists()


def test_an_empty_rate_is_no_limit_and_touches_no_counter(lotus_setting):
    lotus_setting("THROTTLE", LOGIN_ACCOUNT=None, LOGIN_ADDRESS=None)
    email, address = fresh_email(), fresh_address()
    before = count_counters()
    for _ in range(15):
        assert login(from_address(address), email).status_code == 401
    assert count_counters() == before


def count_counters() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lotus_throttle")
        return cursor.fetchone()[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.integration
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_web_processes_count_against_one_limit():
    """Two gunicorn processes (two pods of profiles) on this run's database: guesses at one
    account alternate between them, and the fourth is refused by whichever gets it."""
    email = fresh_email()
    Customer.objects.create_user(email=email, password=PASSWORD)
    env = {
        **worker_environment("profiles"),
        "LOTUS_SERVICES": "profiles",
        "LOTUS_THROTTLE_LOGIN_ACCOUNT": "3/day",
        "LOTUS_THROTTLE_LOGIN_ADDRESS": "",
    }
    ports = [free_port(), free_port()]
    pods = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "lotus.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_for(lambda port=port: answers(f"http://127.0.0.1:{port}/healthz"), timeout=60, message="gunicorn")

        def guess(port: int) -> requests.Response:
            body = {"email": email, "password": "wrong-password"}
            return requests.post(f"http://127.0.0.1:{port}/profile/login", json=body, timeout=30)

        assert [guess(port).status_code for port in (ports[0], ports[1], ports[0])] == [401, 401, 401]
        refused = guess(ports[1])
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "throttled"
        assert guess(ports[0]).status_code == 429
    finally:
        for pod in pods:
            pod.terminate()
        for pod in pods:
            pod.wait(timeout=30)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False
