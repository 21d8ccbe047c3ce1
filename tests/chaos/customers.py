"""Customers who register, top up, order and cancel through the router while faults happen.

Every write that may be retried carries an ``Idempotency-Key`` and is retried with the SAME key
after a connection error, a timeout or a 5xx (bounded, with backoff), as a careful client
does. What the suite learns is kept in a :class:`Book`: the accepted orders, the keys (and
which of them needed a retry), and the confirmed top-ups, which the invariants compare with
what the services hold.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import requests

TIMEOUT = (3.0, 10.0)  # connect, read
PRODUCTS = {1: 60, 2: 25, 3: 15}  # idSubscription: weight
CANCEL_SHARE = 0.10


class GaveUp(Exception):
    """Every attempt failed with a transient error; the outcome is unknown."""


@dataclass
class Book:
    """What the customers did and were told (shared by every customer thread)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[str, int] = field(default_factory=dict)  # order id -> customer id
    keys: dict[tuple[int, str], str | None] = field(default_factory=dict)  # (customer, key) -> order id
    retried: set[tuple[int, str]] = field(default_factory=set)
    topups: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    unresolved_topups: list[tuple[Client, str, int]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    def placed(self) -> int:
        with self.lock:
            return len(self.keys)


class Client:
    """One customer's (or the operator's) HTTP session against the router."""

    def __init__(self, url: str, book: Book, rng: random.Random) -> None:
        self.url = url
        self.book = book
        self.rng = rng
        self.session = requests.Session()
        self.customer_id = 0

    def every(self, path: str, *, attempts: int = 20) -> list:
        """Every item of a paginated list (``GET /order``, ``GET /notification``): the pages one
        after another, following each answer's ``Link: <…>; rel="next"``."""
        items: list = []
        while path:
            response = self.call("GET", path, attempts=attempts)
            items += response.json()
            path = response.links.get("next", {}).get("url")
        return items

    def call(
        self, method: str, path: str, *, key: str | None = None, json=None, attempts: int = 10, ok=(200, 201, 202)
    ) -> requests.Response:
        """The response once it is not transient (any status in ``ok`` or a 4xx); raises GaveUp."""
        headers = {"Idempotency-Key": key} if key else {}
        for attempt in range(attempts):
            if attempt:
                self.book.stats["retries"] += 1
                if key:
                    with self.book.lock:
                        self.book.retried.add((self.customer_id, key))
                time.sleep(min(0.25 * 2**attempt, 4.0) * self.rng.uniform(0.5, 1.5))
            try:
                response = self.session.request(method, self.url + path, headers=headers, json=json, timeout=TIMEOUT)
            except requests.RequestException:
                self.book.stats["connection errors"] += 1
                continue
            if response.status_code >= 500:
                self.book.stats[f"HTTP {response.status_code}"] += 1
                continue
            return response
        raise GaveUp(f"{method} {path}")

    def login(self, email: str, password: str) -> None:
        response = self.call("POST", "/profile/login", json={"email": email, "password": password}, attempts=30)
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access']}"

    def register(self) -> None:
        email, password = f"chaos-{uuid.uuid4().hex[:12]}@lotus.test", "Chaos-Customer-Pass-2026"
        response = self.call("POST", "/profile/register", json={"email": email, "password": password}, attempts=30)
        if response.status_code not in (201, 400):  # 400: a retry after the first attempt registered it
            response.raise_for_status()
        self.login(email, password)
        self.customer_id = self.call("GET", "/profile/me", attempts=30).json()["id"]

    def top_up(self, amount: int, key: str | None = None, attempts: int = 20) -> bool:
        """True once the top-up is confirmed; an unconfirmed one is remembered for the heal phase."""
        key = key or f"topup-{uuid.uuid4()}"
        try:
            response = self.call("POST", f"/billing/add-money?money={amount}", key=key, attempts=attempts)
        except GaveUp:
            with self.book.lock:
                self.book.unresolved_topups.append((self, key, amount))
            return False
        response.raise_for_status()
        with self.book.lock:
            self.book.topups[self.customer_id] += Decimal(amount)
        return True

    def place(self, product: int) -> str | None:
        key = f"order-{uuid.uuid4()}"
        with self.book.lock:
            self.book.keys[(self.customer_id, key)] = None
        try:
            response = self.call("POST", f"/order/place?idSubscription={product}", key=key)
        except GaveUp:
            self.book.stats["placements given up"] += 1
            return None
        if response.status_code != 202:
            self.book.stats[f"place answered {response.status_code}"] += 1
            return None
        order_id = response.json()["orderId"]
        with self.book.lock:
            self.book.keys[(self.customer_id, key)] = order_id
            self.book.accepted[order_id] = self.customer_id
        return order_id

    def cancel(self, order_id: str) -> None:
        try:
            response = self.call("POST", f"/order/{order_id}/cancel")
        except GaveUp:
            self.book.stats["cancels given up"] += 1
            return
        # 409: the saga moved on (or a retried cancel found it already cancelling).
        self.book.stats[f"cancel answered {response.status_code}"] += 1


def operator(url: str, book: Book) -> Client:
    client = Client(url, book, random.Random(0))
    # The stack's operator (tests.chaos.__main__ loads this checkout's secrets when unset).
    client.login(os.environ.get("LOTUS_OPERATOR_EMAIL", "operator@lotus.local"), os.environ["LOTUS_OPERATOR_PASSWORD"])
    return client


class Load:
    """``customers`` threads that order until ``target`` orders are placed and ``until`` is set
    (the fault plan is done), or ``max_seconds`` have passed, never more than three times the
    target. They pace themselves to spread ``target`` orders over ``duration`` seconds (how long
    the fault plan is expected to take), so that faults hit a stack under load."""

    def __init__(self, url: str, customers: int, target: int, seed: int, duration: float, max_seconds: float) -> None:
        self.url = url
        self.book = Book()
        self.customers = customers
        self.target = target
        self.seed = seed
        self.duration = duration
        self.max_seconds = max_seconds
        self.clients: list[Client] = []
        self.errors: list[str] = []
        self.until = threading.Event()

    def registered(self) -> list[Client]:
        return [client for client in self.clients if client.customer_id]

    def _register(self, index: int) -> None:
        """Registration is retried like everything else: the faults start at the same time."""
        client = self.clients[index]
        client.register()
        # Some start poor: their orders wait in ValidatingBilling for a top-up (or the deadline).
        amount = client.rng.choice([300, 1500, 5000, 20000]) if index % 5 else 0
        if amount:
            client.top_up(amount)

    def run(self) -> None:
        started = time.monotonic()
        self.clients = [Client(self.url, self.book, random.Random(self.seed * 1000 + i)) for i in range(self.customers)]
        threads = [
            threading.Thread(target=self._customer, args=(index, started), daemon=True)
            for index in range(self.customers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _done(self, started: float) -> bool:
        placed = self.book.placed()
        if time.monotonic() - started > self.max_seconds or placed >= 3 * self.target:
            return True
        return placed >= self.target and self.until.is_set()

    def _ahead(self, started: float) -> bool:
        allowed = self.target * 1.05 * (time.monotonic() - started) / self.duration + self.customers
        return self.book.placed() >= allowed

    def _customer(self, index: int, started: float) -> None:
        client = self.clients[index]
        rng = client.rng
        try:
            self._register(index)
            while not self._done(started):
                if self._ahead(started):
                    time.sleep(0.25)
                    continue
                if rng.random() < 0.12:
                    client.top_up(rng.choice([300, 700, 1200, 3000]))
                product = rng.choices(list(PRODUCTS), weights=list(PRODUCTS.values()))[0]
                order_id = client.place(product)
                if order_id and rng.random() < CANCEL_SHARE:
                    time.sleep(rng.uniform(0, 2))
                    client.cancel(order_id)
                time.sleep(rng.uniform(0.2, 1.0))
        except Exception as error:  # noqa: BLE001 - one customer's failure is reported, not fatal
            self.errors.append(f"customer {client.customer_id}: {error!r}")
