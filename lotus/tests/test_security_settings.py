"""HTTPS settings: ``manage.py check --deploy`` is clean with the environment the chart gives a
pod when its ingress terminates TLS (``LOTUS_TLS=true``), the plain ``manage.py check`` of
``make test`` stays clean without it, and what the variables turn on behaves: plain HTTP is
redirected except for the probes and the scrape, HSTS is sent over HTTPS.

The settings are read once per process, so each environment is checked in a subprocess."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Left out of the inherited environment, so that each test names the ones it sets.
HTTPS_VARIABLES = (
    "LOTUS_TLS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
)


def run(*command: str, **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in HTTPS_VARIABLES}
    return subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def chart_environment(**overrides: str) -> dict[str, str]:
    """What the chart gives a web pod behind an ingress with TLS: a real key, DEBUG off, its host."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "lotus.example.com",
        "LOTUS_TLS": "true",
        **overrides,
    }


def settings_in(**variables: str) -> dict:
    names = [
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
        "SECURE_REDIRECT_EXEMPT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
    ]
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{name: getattr(settings, name, None) for name in {names!r}}}))"
    )
    shown = run("-c", script, DJANGO_SETTINGS_MODULE="lotus.settings", **variables)
    assert shown.returncode == 0, shown.stderr[-2000:]
    return json.loads(shown.stdout)


def test_check_deploy_is_clean_with_the_charts_environment_when_tls_is_on():
    checked = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", **chart_environment())
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "no issues" in checked.stdout


def test_check_deploy_names_what_is_missing_when_tls_is_off():
    checked = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", **chart_environment(LOTUS_TLS="false"))
    assert checked.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in checked.stderr


def test_the_plain_check_of_make_test_stays_clean():
    checked = run("manage.py", "check", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stderr[-3000:]


def test_tls_turns_on_the_proxy_header_secure_cookies_the_redirect_and_hsts():
    assert settings_in(LOTUS_TLS="true") == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "SECURE_REDIRECT_EXEMPT": ["^healthz$", "^readyz$", "^metrics$"],
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
    }


def test_without_tls_nothing_changes_for_plain_http():
    shown = settings_in()
    assert shown["SECURE_PROXY_SSL_HEADER"] is None
    assert (shown["SECURE_SSL_REDIRECT"], shown["SECURE_HSTS_SECONDS"]) == (False, 0)
    assert (shown["SESSION_COOKIE_SECURE"], shown["CSRF_COOKIE_SECURE"]) == (False, False)


def test_each_https_setting_has_its_own_variable():
    shown = settings_in(
        LOTUS_TLS="true",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_HSTS_SECONDS="3600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        DJANGO_SECURE_HSTS_PRELOAD="false",
    )
    assert shown["SECURE_SSL_REDIRECT"] is False
    assert shown["SECURE_HSTS_SECONDS"] == 3600
    assert (shown["SECURE_HSTS_INCLUDE_SUBDOMAINS"], shown["SECURE_HSTS_PRELOAD"]) == (False, False)
    assert shown["SESSION_COOKIE_SECURE"] is True


@pytest.fixture
def tls(settings):
    """The settings LOTUS_TLS=true gives (checked above), in this process."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("tls")
def test_probes_and_the_scrape_over_plain_http_are_not_redirected(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    assert client.get("/metrics").status_code == 200


@pytest.mark.usefixtures("tls")
def test_plain_http_is_redirected_and_https_through_the_proxy_gets_hsts(client):
    redirected = client.get("/order", HTTP_HOST="lotus.example.com")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://lotus.example.com/order"

    secure = client.get("/order", HTTP_HOST="lotus.example.com", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 401  # served (and refused for want of a token), not redirected
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
