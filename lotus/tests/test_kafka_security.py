"""Unit tests: every Kafka client (producer, consumer, admin) authenticates as the environment
says (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_CA_LOCATION``): the chart's broker
takes SASL/SCRAM only, and a client that left the credentials out would be refused there.

The clients are real librdkafka ones pointed at a closed port: building them checks the property
names and values; what they were built with is recorded on the way."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import certifi
import pytest
from django.test import override_settings

from lotus.messaging import kafka

ROOT = Path(__file__).resolve().parents[2]

SCRAM = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "lotus-billing",
    "sasl.password": "s3cret",
    "ssl.ca.location": "",
}


@pytest.fixture
def built(monkeypatch):
    """Record the configuration of every client the factories build."""
    configs = []
    for name in ("Producer", "Consumer", "AdminClient"):
        real = getattr(kafka, name)

        def build(config, _real=real, _name=name):
            configs.append((_name, dict(config)))
            return _real(config)

        monkeypatch.setattr(kafka, name, build)
    return configs


def make_all() -> None:
    kafka.make_producer()
    kafka.make_consumer("lotus.billing")
    kafka.make_admin()


@override_settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", KAFKA_SECURITY=SCRAM)
def test_every_client_carries_the_sasl_credentials(built):
    make_all()
    assert [name for name, _ in built] == ["Producer", "Consumer", "AdminClient"]
    for name, config in built:
        assert config["security.protocol"] == "SASL_SSL", name
        assert config["sasl.mechanism"] == "SCRAM-SHA-512", name
        assert config["sasl.username"] == "lotus-billing", name
        assert config["sasl.password"] == "s3cret", name
        assert "ssl.ca.location" not in config, f"{name}: no CA given, the system's bundle applies"


@override_settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", KAFKA_SECURITY={**SCRAM, "ssl.ca.location": certifi.where()})
def test_a_ca_bundle_is_passed_with_ssl(built):
    make_all()
    assert {config["ssl.ca.location"] for _, config in built} == {certifi.where()}


@override_settings(
    KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
    KAFKA_SECURITY={**SCRAM, "security.protocol": "plaintext", "ssl.ca.location": "/nowhere"},
)
def test_plaintext_sends_no_credentials(built):
    make_all()
    for name, config in built:
        assert config["security.protocol"] == "PLAINTEXT", name
        assert not {key for key in config if key.startswith(("sasl.", "ssl."))}, name


def test_settings_read_the_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_S")}
    env.update(DJANGO_SETTINGS_MODULE="lotus.settings", DJANGO_SECRET_KEY=secrets.token_urlsafe(48))
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.KAFKA_SECURITY))"
    )
    defaults = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(defaults) == {
        "security.protocol": "PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "",
        "sasl.password": "",
        "ssl.ca.location": "",
    }
    env.update(
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        KAFKA_SASL_USERNAME="lotus-orders",
        KAFKA_SASL_PASSWORD="pw",
        KAFKA_SSL_CA_LOCATION="/etc/ca.pem",
    )
    given = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(given) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "lotus-orders",
        "sasl.password": "pw",
        "ssl.ca.location": "/etc/ca.pem",
    }


def test_every_producer_waits_for_all_in_sync_replicas_idempotently(built):
    kafka.make_producer(**{"linger.ms": 0, "bootstrap.servers": "127.0.0.1:1"})
    ((name, config),) = built
    assert name == "Producer"
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["linger.ms"] == 0, "tuning is allowed"
    for weaker in ({"acks": "1"}, {"acks": 0}, {"enable.idempotence": False}):
        with pytest.raises(ValueError, match="all in-sync replicas, idempotently"):
            kafka.make_producer(**weaker)
    assert len(built) == 1, "a weakened producer is never built"
