"""End-to-end fixtures: a whole stack (web, relays, consumers as separate processes) on the
real PostgreSQL and Kafka, started once per session by ``scripts/stack.sh``."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
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


def reconciled(env: dict[str, str], *, within: float = 60.0) -> list[str]:
    """``manage.py reconcile`` against the stack's databases until the services agree (messages
    of the last tests may still travel) or ``within`` seconds pass; the last disagreements."""
    run_env = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "lotus.settings"}
    command = [sys.executable, "manage.py", "reconcile", "--json", "--grace", "0"]
    deadline = time.monotonic() + within
    while True:
        result = subprocess.run(command, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=120)
        if result.returncode not in (0, 1):
            return [f"reconcile failed ({result.returncode}): {result.stderr[-2000:]}"]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        lines = [disagreement["line"] for disagreement in report["disagreements"]]
        if not lines or time.monotonic() > deadline:
            return lines
        time.sleep(2)


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The stack, started once; at the end of the session, before it stops, every service must
    agree about every saga the tests ran (``manage.py reconcile`` reports 0 disagreements)."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.fail("end-to-end tests need DATABASE_URL pointing at PostgreSQL (make test sets it)")
    script = ROOT / "scripts" / "stack.sh"
    subprocess.run([script, "start", STACK, PORT], check=True, cwd=ROOT)
    try:
        exported = subprocess.run([script, "env", STACK], check=True, cwd=ROOT, capture_output=True, text=True).stdout
        env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exported.splitlines() if line)
        yield Stack(env)
        disagreements = reconciled(env)
        assert not disagreements, "reconcile after the end-to-end tests:\n" + "\n".join(disagreements)
    finally:
        subprocess.run([script, "stop", STACK], cwd=ROOT, check=False)
