"""Integration: throttle counters on PostgreSQL (issue 14, item 3): one atomic statement per
request, so concurrent requests of one client are all counted; windows by the database's clock;
ended windows pruned by the relay."""

import threading
import uuid

import pytest
from django.db import connections

from lotus.messaging.relay import Relay
from lotus.throttling import counters

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


def test_concurrent_requests_of_one_client_are_each_counted_once():
    ident, results, errors = uuid.uuid4().hex, [], []
    start = threading.Barrier(8)

    def hit() -> None:
        try:
            start.wait()
            for _ in range(25):
                results.append(counters.count("billing", scope="top_up", ident=ident, window=3600).hits)
        except Exception as exc:  # noqa: BLE001 -- surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # 200 requests, each saw a different count: none was lost to a race (unless the hour turned).
    assert sorted(results) == list(range(1, 201)) or max(results) < 200


def test_a_window_starts_over_and_says_how_long_is_left():
    ident = uuid.uuid4().hex
    first = counters.count("orders", scope="place", ident=ident, window=86400)
    assert first.hits == 1
    assert 1 <= first.remaining <= 86400
    assert counters.count("orders", scope="place", ident=ident, window=86400).hits == 2
    assert counters.count("orders", scope="other", ident=ident, window=86400).hits == 1, "scopes count apart"
    # A window that has ended: the next request starts a new count.
    with connections["orders"].cursor() as cursor:
        cursor.execute("UPDATE lotus_throttle SET window_start = window_start - 86400 WHERE hits = 2")
    assert counters.count("orders", scope="place", ident=ident, window=86400).hits == 1


def test_the_relay_prunes_counters_whose_window_ended():
    live, ended = uuid.uuid4().hex, uuid.uuid4().hex
    counters.count("default", scope="login_account", ident=live, window=60)
    counters.count("default", scope="login_account", ident=ended, window=60)
    with connections["default"].cursor() as cursor:
        cursor.execute("UPDATE lotus_throttle SET expires = expires - 120")
        cursor.execute("SELECT count(*) FROM lotus_throttle")
        assert cursor.fetchone()[0] >= 2
    counters.count("default", scope="login_account", ident=live, window=60)  # a new window: expires later
    assert Relay("profiles").prune() >= 1
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lotus_throttle")
        assert cursor.fetchone()[0] == 1
