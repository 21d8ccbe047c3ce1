"""Unit tests: Lotus's settings namespace (``settings.LOTUS`` read through ``lotus_settings``):
defaults, merging, refusals, reloading when ``LOTUS`` changes, and the environment variables
``lotus/settings.py`` maps into it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from lotus.conf import DEFAULTS, lotus_settings, resolve
from lotus.testing import lotus_override
from lotus.topology import SERVICES

ROOT = Path(__file__).resolve().parents[2]

#: Every environment variable lotus/settings.py reads into LOTUS: (variable, value, section, key, read as).
ENVIRONMENT = [
    ("LOTUS_SERVICES", "orders,billing", "SERVICES", None, ["orders", "billing"]),
    ("LOTUS_KAFKA_NAMESPACE", "ns1", "KAFKA", "NAMESPACE", "ns1"),
    ("LOTUS_KAFKA_PARTITIONS", "7", "KAFKA", "PARTITIONS", 7),
    ("LOTUS_KAFKA_RETENTION_HOURS", "48", "KAFKA", "RETENTION_HOURS", 48.0),
    ("LOTUS_KAFKA_REPLICATION_FACTOR", "3", "KAFKA", "REPLICATION_FACTOR", 3),
    ("LOTUS_KAFKA_MIN_INSYNC_REPLICAS", "2", "KAFKA", "MIN_INSYNC_REPLICAS", 2),
    ("LOTUS_RELAY_BATCH_SIZE", "123", "RELAY", "BATCH_SIZE", 123),
    ("LOTUS_RELAY_POLL_SECONDS", "0.5", "RELAY", "POLL_SECONDS", 0.5),
    ("LOTUS_RELAY_LEASE_SECONDS", "12.5", "RELAY", "LEASE_SECONDS", 12.5),
    ("LOTUS_RELAY_MAX_ATTEMPTS", "3", "RELAY", "MAX_ATTEMPTS", 3),
    ("LOTUS_OUTBOX_RETENTION_HOURS", "2", "OUTBOX", "RETENTION_HOURS", 2.0),
    ("LOTUS_OUTBOX_CLAIM_SECONDS", "4.5", "OUTBOX", "CLAIM_SECONDS", 4.5),
    ("LOTUS_INBOX_RETENTION_HOURS", "100", "INBOX", "RETENTION_HOURS", 100.0),
    ("LOTUS_INBOX_RETENTION_MARGIN_HOURS", "30", "INBOX", "RETENTION_MARGIN_HOURS", 30.0),
    ("LOTUS_CONSUMER_MAX_ATTEMPTS", "9", "CONSUMER", "MAX_ATTEMPTS", 9),
    ("LOTUS_CONSUMER_BACKOFF_SECONDS", "0.01", "CONSUMER", "BACKOFF_SECONDS", 0.01),
    ("LOTUS_CONSUMER_COMMIT_INTERVAL_MS", "250", "CONSUMER", "COMMIT_INTERVAL_MS", 250),
    ("LOTUS_CONSUMER_PUBLISHES", "false", "CONSUMER", "PUBLISHES", False),
    ("LOTUS_WEB_PUBLISHES", "0", "WEB", "PUBLISHES", False),
    ("LOTUS_WEB_PUBLISH_WAIT_SECONDS", "2.5", "WEB", "PUBLISH_WAIT_SECONDS", 2.5),
    ("LOTUS_QUEUE_HOLD_SECONDS", "60", "QUEUE", "HOLD_SECONDS", 60.0),
    ("LOTUS_IDEMPOTENCY_TTL_HOURS", "1.5", "IDEMPOTENCY", "TTL_HOURS", 1.5),
    ("LOTUS_THROTTLE_LOGIN_ACCOUNT", "3/min", "THROTTLE", "LOGIN_ACCOUNT", "3/min"),
    ("LOTUS_THROTTLE_LOGIN_ADDRESS", "", "THROTTLE", "LOGIN_ADDRESS", None),
    ("LOTUS_THROTTLE_REGISTER", "5/hour", "THROTTLE", "REGISTER", "5/hour"),
    ("LOTUS_THROTTLE_TOP_UP", "100/s", "THROTTLE", "TOP_UP", "100/s"),
    ("LOTUS_THROTTLE_PLACE", "1000/day", "THROTTLE", "PLACE", "1000/day"),
    ("LOTUS_PAGE_DEFAULT_LIMIT", "20", "PAGINATION", "DEFAULT_LIMIT", 20),
    ("LOTUS_PAGE_MAX_LIMIT", "500", "PAGINATION", "MAX_LIMIT", 500),
    ("LOTUS_MAX_TOP_UP", "5000", "BILLING", "MAX_TOP_UP", 5000),
    ("LOTUS_MAX_BALANCE", "90000", "BILLING", "MAX_BALANCE", 90000),
    ("LOTUS_METRICS_PORT", "9109", "METRICS", "PORT", 9109),
    ("LOTUS_PAYMENT_TIMEOUT", "900", "DEADLINES", "PAYMENT", 900.0),
    ("LOTUS_STOCK_TIMEOUT", "901", "DEADLINES", "STOCK", 901.0),
    ("LOTUS_DELIVERY_TIMEOUT", "902", "DEADLINES", "DELIVERY", 902.0),
    ("LOTUS_CANCELLING_TIMEOUT", "903", "DEADLINES", "CANCELLING", 903.0),
    ("LOTUS_DEADLINE_CHECK_SECONDS", "0.2", "DEADLINES", "CHECK_SECONDS", 0.2),
    ("LOTUS_RECONCILE_GRACE_SECONDS", "12.5", "RECONCILE", "GRACE_SECONDS", 12.5),
    ("LOTUS_RECONCILE_KEEP_RUNS", "30", "RECONCILE", "KEEP_RUNS", 30),
    ("LOTUS_OPERATOR_EMAIL", "boss@lotus.test", "OPERATOR", "EMAIL", "boss@lotus.test"),
    ("LOTUS_OPERATOR_PASSWORD", "a-boss-secret-9", "OPERATOR", "PASSWORD", "a-boss-secret-9"),
    ("LOTUS_STUCK_AFTER_SECONDS", "90", "ADMIN", "STUCK_AFTER_SECONDS", 90.0),
    (
        "LOTUS_TRACE_VIEWER_URL",
        "http://j:16686/trace/{trace_id}",
        "ADMIN",
        "TRACE_VIEWER_URL",
        "http://j:16686/trace/{trace_id}",
    ),
]
#: Settings no environment variable sets (Python only).
NOT_FROM_THE_ENVIRONMENT = {("METRICS", "COLLECTORS"), ("DELIVERY", "HORIZON_DAYS")}
#: TEMPORARY: the flat names kept for lotus/messaging; none may remain once it reads lotus_settings.

READ_SETTINGS = """
import json
import django

django.setup()
from django.conf import settings
from lotus.conf import DEFAULTS, lotus_settings

print(json.dumps({
    "LOTUS": settings.LOTUS,
    "read": {section: getattr(lotus_settings, section) for section in DEFAULTS},
    "flat": sorted(name for name in dir(settings) if name.startswith("LOTUS_")),
}, default=dict))
"""


def read_settings_in_a_process(**variables: str) -> dict:
    """``settings.LOTUS`` and every section of ``lotus_settings`` as a fresh process with only
    ``variables`` of the LOTUS_* environment reads them."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LOTUS_") or name.startswith("LOTUS_JWT_")
    }
    env["DJANGO_SETTINGS_MODULE"] = "lotus.settings"
    done = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_without_a_lotus_setting_every_section_has_its_defaults():
    resolved = resolve({})
    assert set(resolved) == set(DEFAULTS)
    assert resolved["SERVICES"] == SERVICES
    for section, defaults in DEFAULTS.items():
        if section not in ("SERVICES", "INBOX", "KAFKA"):
            assert dict(resolved[section]) == defaults, section
    # The minimum in-sync replicas' default follows the replication factor: one less, at least 1.
    assert dict(resolved["KAFKA"]) == {**DEFAULTS["KAFKA"], "MIN_INSYNC_REPLICAS": 1}
    assert resolved["CONSUMER"]["MAX_ATTEMPTS"] == 5
    assert resolved["DEADLINES"]["CANCELLING"] == 300
    # The inbox default follows the topics' retention, plus the margin.
    assert dict(resolved["INBOX"]) == {"RETENTION_HOURS": 168 + 24, "RETENTION_MARGIN_HOURS": 24}


@pytest.mark.parametrize(("factor", "insync"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_min_insync_replicas_defaults_to_one_less_than_the_replication_factor(factor, insync):
    assert resolve({"KAFKA": {"REPLICATION_FACTOR": factor}})["KAFKA"]["MIN_INSYNC_REPLICAS"] == insync
    given = resolve({"KAFKA": {"REPLICATION_FACTOR": factor, "MIN_INSYNC_REPLICAS": factor}})
    assert given["KAFKA"]["MIN_INSYNC_REPLICAS"] == factor


def test_given_keys_replace_their_defaults_and_the_others_stay():
    resolved = resolve({"RELAY": {"BATCH_SIZE": 7}, "KAFKA": {"RETENTION_HOURS": 720}, "SERVICES": ["orders"]})
    assert dict(resolved["RELAY"]) == {**DEFAULTS["RELAY"], "BATCH_SIZE": 7}
    assert resolved["KAFKA"]["PARTITIONS"] == 3
    assert resolved["INBOX"]["RETENTION_HOURS"] == 720 + 24
    assert resolved["SERVICES"] == ("orders",)
    assert DEFAULTS["RELAY"]["BATCH_SIZE"] == 500, "the defaults themselves are left alone"


@pytest.mark.parametrize(
    ("lotus", "named"),
    [
        ({"CONSUMERS": {"MAX_ATTEMPTS": 2}}, "no section 'CONSUMERS'"),
        ({"CONSUMER": {"MAX_ATTEMPT": 2}}, """LOTUS["CONSUMER"] has no key 'MAX_ATTEMPT'"""),
        ({"RELAY": 500}, """LOTUS["RELAY"] must be a dict"""),
        ({"SERVICES": ["orders", "payments"]}, "unknown service(s) payments"),
        ({"INBOX": {"RETENTION_HOURS": 100}}, "(LOTUS_INBOX_RETENTION_HOURS=100) is shorter than"),
        ({"KAFKA": {"RETENTION_HOURS": 0}}, "(LOTUS_KAFKA_RETENTION_HOURS=0) must be positive"),
        ({"KAFKA": {"REPLICATION_FACTOR": 0}}, "(LOTUS_KAFKA_REPLICATION_FACTOR=0) must be at least 1"),
        ({"KAFKA": {"PARTITIONS": 0}}, "(LOTUS_KAFKA_PARTITIONS=0) and"),
        (
            {"KAFKA": {"REPLICATION_FACTOR": 2, "MIN_INSYNC_REPLICAS": 3}},
            "(LOTUS_KAFKA_MIN_INSYNC_REPLICAS=3) must be between 1 and",
        ),
        ({"KAFKA": {"MIN_INSYNC_REPLICAS": 0}}, "(LOTUS_KAFKA_MIN_INSYNC_REPLICAS=0) must be between 1 and"),
        ({"THROTTLE": {"PLACE": "ten/min"}}, "(LOTUS_THROTTLE_PLACE='ten/min') must be a rate"),
        ({"THROTTLE": {"TOP_UP": "0/min"}}, "(LOTUS_THROTTLE_TOP_UP='0/min') must be a rate"),
        ({"THROTTLE": {"REGISTER": "5/week"}}, "(LOTUS_THROTTLE_REGISTER='5/week') must be a rate"),
        ({"PAGINATION": {"DEFAULT_LIMIT": 300}}, "(LOTUS_PAGE_DEFAULT_LIMIT=300) must be positive"),
        ({"BILLING": {"MAX_BALANCE": 10**12}}, "itself below 10^12"),
        (
            {"ADMIN": {"TRACE_VIEWER_URL": "http://jaeger/trace/"}},
            """(LOTUS_TRACE_VIEWER_URL='http://jaeger/trace/')""",
        ),
        ({"ADMIN": {"TRACE_VIEWER_URL": "jaeger/{trace_id}"}}, "must be an http(s) URL with"),
        ({"ADMIN": {"STUCK_AFTER_SECONDS": 0}}, "(LOTUS_STUCK_AFTER_SECONDS=0) must be positive"),
    ],
)
def test_an_unknown_or_inconsistent_setting_is_refused_by_name(lotus, named):
    with pytest.raises(ImproperlyConfigured) as refused:
        resolve(lotus)
    assert named in str(refused.value)


def test_a_typo_in_code_is_an_attribute_error_naming_the_sections():
    with pytest.raises(AttributeError, match="no settings section 'CONSUMERS'; they are SERVICES, KAFKA"):
        lotus_settings.CONSUMERS  # noqa: B018


def test_the_sections_are_read_only():
    with pytest.raises(TypeError):
        lotus_settings.CONSUMER["MAX_ATTEMPTS"] = 1


def test_lotus_settings_follow_the_settings_fixture_and_override_settings(settings):
    assert lotus_settings.CONSUMER["MAX_ATTEMPTS"] == 5
    with override_settings(LOTUS={**settings.LOTUS, "CONSUMER": {"MAX_ATTEMPTS": 2}}):
        assert lotus_settings.CONSUMER["MAX_ATTEMPTS"] == 2
        assert lotus_settings.CONSUMER["BACKOFF_SECONDS"] == 0.2
    assert lotus_settings.CONSUMER["MAX_ATTEMPTS"] == 5

    settings.LOTUS = {**settings.LOTUS, "RELAY": {"BATCH_SIZE": 9}}
    assert lotus_settings.RELAY["BATCH_SIZE"] == 9


def test_lotus_override_nests_and_is_undone_on_exit():
    namespace = lotus_settings.KAFKA["NAMESPACE"]
    publishes = lotus_settings.WEB["PUBLISHES"]  # the test's own setting (conftest turns it off without topics)
    with lotus_override("DEADLINES", PAYMENT=60):
        with lotus_override("DEADLINES", STOCK=30), lotus_override("WEB", PUBLISHES=not publishes):
            assert (lotus_settings.DEADLINES["PAYMENT"], lotus_settings.DEADLINES["STOCK"]) == (60, 30)
            assert lotus_settings.WEB["PUBLISHES"] is (not publishes)
            assert lotus_settings.KAFKA["NAMESPACE"] == namespace, "the session's namespace stays"
        assert (lotus_settings.DEADLINES["PAYMENT"], lotus_settings.DEADLINES["STOCK"]) == (60, 0)
        assert lotus_settings.WEB["PUBLISHES"] is publishes
    assert lotus_settings.DEADLINES["PAYMENT"] == 0


@lotus_override("QUEUE", HOLD_SECONDS=5)
def test_lotus_override_decorates_a_test(unique_key):
    assert unique_key, "fixtures still reach the decorated test"
    assert lotus_settings.QUEUE["HOLD_SECONDS"] == 5


def test_lotus_override_refuses_an_unknown_key_before_changing_anything():
    with pytest.raises(ImproperlyConfigured, match="has no key 'HOLD'"), lotus_override("QUEUE", HOLD=5):
        pass
    not_a_section = pytest.raises(ImproperlyConfigured, match="'SERVICES' is not a Lotus settings section")
    with not_a_section, lotus_override("SERVICES", orders=True):
        pass


def test_a_change_at_run_time_outlives_later_reloads(settings):
    with override_settings(LOTUS=settings.LOTUS):  # the change below is undone with it
        lotus_settings.change("KAFKA", NAMESPACE="bench1234")
        assert lotus_settings.KAFKA["NAMESPACE"] == "bench1234"
        with lotus_override("RELAY", BATCH_SIZE=3):
            assert lotus_settings.KAFKA["NAMESPACE"] == "bench1234"
        lotus_settings.reload()
        assert lotus_settings.KAFKA["NAMESPACE"] == "bench1234"
    assert lotus_settings.KAFKA["NAMESPACE"] != "bench1234"


def test_without_lotus_variables_settings_py_sets_no_key_so_the_defaults_apply():
    read = read_settings_in_a_process()
    assert all(not keys for keys in read["LOTUS"].values()), read["LOTUS"]
    assert read["read"]["RELAY"] == DEFAULTS["RELAY"]
    assert read["read"]["SERVICES"] == list(SERVICES)
    assert set(read["flat"]) == set()


def test_each_environment_variable_sets_its_key():
    read = read_settings_in_a_process(**{variable: value for variable, value, *_ in ENVIRONMENT})
    for variable, _, section, key, expected in ENVIRONMENT:
        got = read["read"][section] if key is None else read["read"][section][key]
        assert (got, type(got)) == (expected, type(expected)), variable


def test_every_setting_but_the_python_only_ones_has_an_environment_variable():
    mapped = {(section, key) for _, _, section, key, _ in ENVIRONMENT}
    every = {("SERVICES", None)} | {(s, k) for s, keys in DEFAULTS.items() if s != "SERVICES" for k in keys}
    assert mapped == every - NOT_FROM_THE_ENVIRONMENT
