"""After the faults: bring everything back, then give every waiting order what it waits for
(a top-up, goods, an operator's acceptance) until every order is terminal, with bounded polling."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal

import requests

from tests.chaos.customers import Book, Client, GaveUp, Load
from tests.chaos.faults import Injector, say
from tests.chaos.infra import Infra
from tests.chaos.observe import unsettled
from tests.chaos.supervisor import Supervisor

#: A remedy not taken up by then (a message lost in a crash, say) is given again.
REMEDY_AGAIN_SECONDS = 10


def restore(supervisor: Supervisor, infra: Infra, injector: Injector, urls: list[str], timeout: float = 120) -> None:
    """Every process runs, every broker and PostgreSQL answer, no rule cuts the network."""
    injector.stop.set()
    injector.thread.join(timeout=60)
    infra.heal(infra.kafka_port)
    infra.heal(infra.pg_port)
    supervisor.thaw_all()
    down = infra.down_nodes()
    if down:
        say(f"Kafka node(s) {', '.join(map(str, down))} down; starting them")
        infra.start_broker(*down)
    deadline = time.monotonic() + timeout
    while not (infra.postgres_ready() and supervisor.all_running() and all(map(ready, urls))):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack did not come back within {timeout:.0f} s")
        time.sleep(1)
    say("every process runs; the broker and PostgreSQL answer")


def settle(load: Load, operator: Client, base_url: str, timeout: float) -> bool:
    """Resolve unconfirmed top-ups, then remedy waiting orders until all are terminal and every
    outbox is drained; False when ``timeout`` passed first."""
    remedied: dict[tuple[str, str], float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unresolved = _resolve_top_ups(load.book)
        waiting, unsent = unsettled(base_url)
        if not waiting and not unsent and not unresolved:
            say("every order is terminal and every outbox drained")
            return True
        states = Counter(status for _, status in waiting)
        detail = ", ".join(f"{order} {status}" for order, status in waiting) if len(waiting) <= 3 else dict(states)
        say(f"settling: {len(waiting)} orders not terminal ({detail}), {unsent} unsent outbox rows")
        if unresolved:
            say(f"settling: {unresolved} top-ups still unconfirmed")
        try:
            _remedy(load.registered(), operator, remedied)
        except GaveUp as error:
            say(f"a remedy gave up ({error}); trying again")
        time.sleep(2)
    return False


def _resolve_top_ups(book: Book) -> int:
    """Send every unconfirmed top-up again with its key (applied once, whatever happened before);
    return how many are still unconfirmed."""
    with book.lock:
        pending, book.unresolved_topups = book.unresolved_topups, []
    for client, key, amount in pending:
        client.top_up(amount, key=key, attempts=10)  # remembered again if it fails again
    return len(book.unresolved_topups)


def _remedy(clients: list[Client], operator: Client, remedied: dict[tuple[str, str], float]) -> None:
    now = time.monotonic()
    goods: Counter[int] = Counter()
    for client in clients:
        shortfall = Decimal(0)
        for order in client.every("/order"):
            order_id, status = order["orderId"], order["status"]
            if now - remedied.get((order_id, status), -1e9) < REMEDY_AGAIN_SECONDS:
                continue
            if status == "ValidatingBilling":
                shortfall += Decimal(str(order["price"]))
            elif status == "ValidatingStock":
                goods[order["idSubscription"]] += 1
            elif status == "ValidatingDelivery":
                operator.call("PUT", f"/delivery/accept?idOrder={order_id}", attempts=20)
            else:
                continue
            remedied[(order_id, status)] = now
        if shortfall:
            client.top_up(int(shortfall.to_integral_value()) + 1, attempts=30)
    for product, count in goods.items():
        operator.call("GET", f"/stock/add?idSubscription={product}&count={count}", attempts=20).raise_for_status()


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=3).status_code == 200
    except requests.RequestException:
        return False
