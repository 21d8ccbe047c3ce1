"""End-to-end fixtures: a whole stack (web, relays, consumers as separate processes) on the
real PostgreSQL and Kafka, started once per session by ``scripts/stack.sh``."""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
STACK = os.environ.get("LOTUS_E2E_STACK", "e2e")
PORT = os.environ.get("LOTUS_E2E_PORT", "8101")


class Api:
    """A small HTTP client for one customer (or the operator) of the running stack."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=30, **kwargs)


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.url = env["LOTUS_STACK_URL"]

    def database(self, service: str) -> str:
        return f"{self.env['DATABASE_URL']}_{service}"

    def sql(self, service: str, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.database(service)) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def customer(self, money: int | None = None) -> Api:
        email = f"e2e-{uuid.uuid4().hex[:12]}@lotus.test"
        password = "E2e-Customer-Pass-2026"
        anonymous = Api(self.url)
        assert (
            anonymous.call("POST", "/profile/register", json={"email": email, "password": password}).status_code == 201
        )
        login = anonymous.call("POST", "/profile/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        api = Api(self.url, login.json()["access"])
        if money is not None:
            assert api.call("POST", f"/billing/add-money?money={money}").status_code == 200
        return api

    def operator(self) -> Api:
        email = os.environ.get("LOTUS_OPERATOR_EMAIL", "operator@lotus.local")
        password = os.environ["LOTUS_OPERATOR_PASSWORD"]  # the stack's (pytest loads var/secrets)
        login = Api(self.url).call("POST", "/profile/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return Api(self.url, login.json()["access"])


@pytest.fixture(scope="session")
def stack() -> Stack:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.fail("end-to-end tests need DATABASE_URL pointing at PostgreSQL (make test sets it)")
    script = ROOT / "scripts" / "stack.sh"
    subprocess.run([script, "start", STACK, PORT], check=True, cwd=ROOT)
    try:
        exported = subprocess.run([script, "env", STACK], check=True, cwd=ROOT, capture_output=True, text=True).stdout
        env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exported.splitlines() if line)
        yield Stack(env)
    finally:
        subprocess.run([script, "stop", STACK], cwd=ROOT, check=False)
