"""Unit: every process refuses to start when the inbox would forget message ids before Kafka
stops redelivering them (``LOTUS_INBOX_RETENTION_HOURS`` < topic retention + margin, checked by lotus.conf).

``manage.py check`` loads the settings the way every Lotus process does (web, relay, consumer),
so it runs in a subprocess with the environment under test."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lotus.conf import lotus_settings

ROOT = Path(__file__).resolve().parents[2]
RETENTION_VARIABLES = (
    "LOTUS_KAFKA_RETENTION_HOURS",
    "LOTUS_INBOX_RETENTION_HOURS",
    "LOTUS_INBOX_RETENTION_MARGIN_HOURS",
)


def manage_check(**variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in RETENTION_VARIABLES}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_defaults_start_and_keep_inbox_ids_a_day_longer_than_the_topics():
    checked = manage_check()
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert lotus_settings.KAFKA["RETENTION_HOURS"] == 168
    assert lotus_settings.INBOX["RETENTION_HOURS"] == 168 + 24


def test_an_inbox_retention_shorter_than_the_topics_retention_plus_the_margin_refuses_to_start():
    checked = manage_check(LOTUS_INBOX_RETENTION_HOURS="168")
    assert checked.returncode != 0
    assert "ImproperlyConfigured" in checked.stderr
    assert (
        'INBOX["RETENTION_HOURS"] (LOTUS_INBOX_RETENTION_HOURS=168) is shorter than '
        'KAFKA["RETENTION_HOURS"] (LOTUS_KAFKA_RETENTION_HOURS=168)'
    ) in checked.stderr
    assert "LOTUS_INBOX_RETENTION_MARGIN_HOURS=24" in checked.stderr


@pytest.mark.parametrize(
    ("variables", "starts"),
    [
        ({"LOTUS_KAFKA_RETENTION_HOURS": "24", "LOTUS_INBOX_RETENTION_HOURS": "48"}, True),
        ({"LOTUS_KAFKA_RETENTION_HOURS": "24", "LOTUS_INBOX_RETENTION_HOURS": "47.5"}, False),
        ({"LOTUS_KAFKA_RETENTION_HOURS": "720"}, True),  # the inbox default follows the topics
        ({"LOTUS_KAFKA_RETENTION_HOURS": "0"}, False),
    ],
)
def test_the_check_follows_the_topic_retention_and_the_margin(variables, starts):
    checked = manage_check(**variables)
    assert (checked.returncode == 0) == starts, checked.stderr[-2000:]
    if not starts:
        assert f"LOTUS_KAFKA_RETENTION_HOURS={variables['LOTUS_KAFKA_RETENTION_HOURS']}" in checked.stderr
