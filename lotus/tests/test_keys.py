"""Secrets: no default key, asymmetric tokens, and processes that refuse to start without them.

Unit tests of :mod:`lotus.keys` (what the settings accept) and :mod:`lotus.local_secrets` (what a
checkout generates), then real processes (``manage.py``, gunicorn, pytest) started with a
missing, short or once-committed key: each refuses to start and names the variable."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys
from pathlib import Path

import environ
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from lotus import keys, local_secrets
from lotus.topology import SERVICES

ROOT = Path(__file__).resolve().parents[2]
#: The key lotus/settings.py used to fall back on (published in this repository's history).
OLD_COMMITTED_KEY = "lotus-dev-only-secret-key-change-me-in-production-0123456789"
GOOD_KEY = "Zq8v-3kLmP_w9" * 5


def pem_private(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def pem_public(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def certificate(key) -> str:
    """A self-signed CA certificate of ``key``, as Helm's ``genCA`` makes."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lotus-jwt")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clean_env(monkeypatch):
    """No key variable set; returns a setter."""
    for name in ("DJANGO_SECRET_KEY", *local_secrets.JWT_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch.setenv


# --- the Django secret key ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "DJANGO_SECRET_KEY is not set"),
        ("", "DJANGO_SECRET_KEY is not set"),
        ("x" * 30 + "0123456789abcdefghi", "DJANGO_SECRET_KEY is 49 characters long"),
        (OLD_COMMITTED_KEY, "DJANGO_SECRET_KEY is a key published in source code"),
        ("django-insecure-" + "k" * 50, "DJANGO_SECRET_KEY is a key published in source code"),
        ("a" * 80, "fewer than 5 distinct characters"),
    ],
)
def test_without_debug_a_missing_short_or_published_secret_key_is_refused(clean_env, value, says):
    if value is not None:
        clean_env("DJANGO_SECRET_KEY", value)
    with pytest.raises(ImproperlyConfigured, match=says):
        keys.secret_key(environ.Env(), debug=False)


def test_a_generated_secret_key_is_taken(clean_env):
    clean_env("DJANGO_SECRET_KEY", GOOD_KEY)
    assert keys.secret_key(environ.Env(), debug=False) == GOOD_KEY


def test_with_debug_a_missing_secret_key_is_a_random_one_of_this_process(clean_env):
    with pytest.warns(UserWarning, match="random key"):
        first = keys.secret_key(environ.Env(), debug=True)
    with pytest.warns(UserWarning, match="random key"):
        second = keys.secret_key(environ.Env(), debug=True)
    assert len(first) >= keys.MIN_SECRET_KEY_LENGTH
    assert first != second


def test_no_secret_default_is_left_in_the_code():
    sources = [ROOT / "lotus" / "settings.py", ROOT / "lotus" / "conf.py", ROOT / "lotus" / "keys.py"]
    for source in sources:
        text = source.read_text()
        assert OLD_COMMITTED_KEY not in text, source
        assert "operator-secret-42" not in text, source
    from lotus.conf import DEFAULTS

    assert DEFAULTS["OPERATOR"]["PASSWORD"] is None


# --- the JWT keys ---------------------------------------------------------------------------


def test_a_service_that_does_not_sign_needs_only_the_public_key_and_never_holds_the_private(clean_env, rsa_key):
    clean_env("LOTUS_JWT_PUBLIC_KEY", pem_public(rsa_key))
    got = keys.jwt_keys(environ.Env(), debug=False, serves=("billing",))
    assert (got.private, got.public) == ("", pem_public(rsa_key))
    clean_env("LOTUS_JWT_PRIVATE_KEY", pem_private(rsa_key))
    assert keys.jwt_keys(environ.Env(), debug=False, serves=("billing",)).private == ""


def test_a_process_serving_profiles_among_others_signs_only_when_given_the_private_key(clean_env, rsa_key):
    """make up's web, and the chart's admin and jobs (every service, the public key only)."""
    clean_env("LOTUS_JWT_PUBLIC_KEY", pem_public(rsa_key))
    assert keys.jwt_keys(environ.Env(), debug=False, serves=SERVICES).private == ""
    clean_env("LOTUS_JWT_PRIVATE_KEY", pem_private(rsa_key))
    assert keys.jwt_keys(environ.Env(), debug=False, serves=SERVICES).private == pem_private(rsa_key)


def test_profiles_refuses_to_start_without_the_private_key(clean_env, rsa_key):
    clean_env("LOTUS_JWT_PUBLIC_KEY", pem_public(rsa_key))
    with pytest.raises(ImproperlyConfigured, match=r"LOTUS_JWT_PRIVATE_KEY .*serves profiles"):
        keys.jwt_keys(environ.Env(), debug=False, serves=("profiles",))


def test_no_process_starts_without_the_public_key(clean_env):
    with pytest.raises(ImproperlyConfigured, match="LOTUS_JWT_PUBLIC_KEY"):
        keys.jwt_keys(environ.Env(), debug=False, serves=("billing",))


def test_the_public_key_may_be_a_certificate_and_the_private_key_a_file(clean_env, rsa_key, tmp_path):
    (tmp_path / "tls.key").write_text(pem_private(rsa_key))
    (tmp_path / "tls.crt").write_text(certificate(rsa_key))
    clean_env("LOTUS_JWT_PRIVATE_KEY_FILE", str(tmp_path / "tls.key"))
    clean_env("LOTUS_JWT_PUBLIC_KEY_FILE", str(tmp_path / "tls.crt"))
    got = keys.jwt_keys(environ.Env(), debug=False, serves=("profiles",))
    assert got.public == pem_public(rsa_key)
    token = jwt.encode({"user_id": 1}, got.private, algorithm="RS256")
    assert jwt.decode(token, got.public, algorithms=["RS256"]) == {"user_id": 1}


def test_a_pem_given_on_one_line_with_escaped_newlines_is_read(clean_env, rsa_key):
    clean_env("LOTUS_JWT_PUBLIC_KEY", pem_public(rsa_key).replace("\n", "\\n"))
    assert keys.jwt_keys(environ.Env(), debug=False, serves=("billing",)).public == pem_public(rsa_key)


def test_the_private_key_alone_gives_its_public_key(clean_env, rsa_key):
    clean_env("LOTUS_JWT_PRIVATE_KEY", pem_private(rsa_key))
    assert keys.jwt_keys(environ.Env(), debug=False, serves=("profiles",)).public == pem_public(rsa_key)


def test_keys_that_do_not_belong_together_are_refused(clean_env, rsa_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    clean_env("LOTUS_JWT_PRIVATE_KEY", pem_private(rsa_key))
    clean_env("LOTUS_JWT_PUBLIC_KEY", pem_public(other))
    with pytest.raises(ImproperlyConfigured, match="not the public half"):
        keys.jwt_keys(environ.Env(), debug=False, serves=("profiles",))


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
        lambda: ec.generate_private_key(ec.SECP256R1()),
    ],
    ids=["rsa-1024", "ec"],
)
def test_keys_unfit_for_rs256_are_refused(clean_env, make):
    clean_env("LOTUS_JWT_PUBLIC_KEY", pem_public(make()))
    with pytest.raises(ImproperlyConfigured, match="RSA key of at least 2048 bits"):
        keys.jwt_keys(environ.Env(), debug=False, serves=("billing",))


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"LOTUS_JWT_PUBLIC_KEY": "not a pem"}, "neither a PEM public key nor a PEM certificate"),
        ({"LOTUS_JWT_PUBLIC_KEY_FILE": "/nonexistent/lotus.pem"}, "cannot be read"),
        ({"LOTUS_JWT_PRIVATE_KEY": "not a pem"}, "not an unencrypted PEM private key"),
        ({"LOTUS_JWT_PUBLIC_KEY": "x", "LOTUS_JWT_PUBLIC_KEY_FILE": "/x"}, "not both"),
    ],
)
def test_broken_key_variables_are_refused_by_name(clean_env, variables, says):
    for name, value in variables.items():
        clean_env(name, value)
    with pytest.raises(ImproperlyConfigured, match=says):
        keys.jwt_keys(environ.Env(), debug=False, serves=("profiles",))


def test_the_settings_sign_with_rs256_only(settings):
    assert settings.SIMPLE_JWT["ALGORITHM"] == "RS256"
    assert settings.SIMPLE_JWT["VERIFYING_KEY"].startswith("-----BEGIN PUBLIC KEY-----")
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"] is True
    assert settings.SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] is True


# --- a checkout's generated secrets ---------------------------------------------------------


def test_a_checkout_generates_its_secrets_once_readable_by_its_owner_only(tmp_path, capsys):
    directory = tmp_path / "secrets"
    given = {"LOTUS_SECRETS_DIR": str(directory)}
    first = local_secrets.load(given)
    assert "has the password" in capsys.readouterr().err, "the operator's password is printed when made"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert len(first["DJANGO_SECRET_KEY"]) >= keys.MIN_SECRET_KEY_LENGTH
    assert len(first["LOTUS_OPERATOR_PASSWORD"]) >= 20
    assert given["DJANGO_SECRET_KEY"] == first["DJANGO_SECRET_KEY"]

    again = local_secrets.load({"LOTUS_SECRETS_DIR": str(directory)})
    assert again == first, "the same values every time"
    assert capsys.readouterr().err == "", "printed once"

    env = environ_of(again)
    pair = keys.jwt_keys(env, debug=False, serves=("profiles",))
    keys.secret_key(env, debug=False)
    assert jwt.decode(jwt.encode({"a": 1}, pair.private, algorithm="RS256"), pair.public, algorithms=["RS256"])


def environ_of(values: dict[str, str]) -> environ.Env:
    env = environ.Env()
    env.ENVIRON = values
    return env


def test_variables_already_set_win_over_the_checkouts_files(tmp_path):
    given = {"LOTUS_SECRETS_DIR": str(tmp_path), "DJANGO_SECRET_KEY": GOOD_KEY, "LOTUS_JWT_PUBLIC_KEY": "mine"}
    values = local_secrets.load(given)
    assert set(values) == {"LOTUS_OPERATOR_PASSWORD"}
    assert (given["DJANGO_SECRET_KEY"], given["LOTUS_JWT_PUBLIC_KEY"]) == (GOOD_KEY, "mine")
    assert "LOTUS_JWT_PRIVATE_KEY_FILE" not in given


def test_secrets_sh_prints_export_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOTUS_", "DJANGO_"))}
    done = subprocess.run(
        [ROOT / "scripts" / "secrets.sh", "env"],
        env={**env, "LOTUS_SECRETS_DIR": str(tmp_path), "LOTUS_VENV": str(Path(sys.executable).parent.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = [line.split("=", 1)[0] for line in done.stdout.splitlines()]
    assert names == [
        "export DJANGO_SECRET_KEY",
        "export LOTUS_JWT_PRIVATE_KEY_FILE",
        "export LOTUS_JWT_PUBLIC_KEY_FILE",
        "export LOTUS_OPERATOR_PASSWORD",
    ]
    password = (tmp_path / local_secrets.OPERATOR_PASSWORD_FILE).read_text()
    assert password in done.stderr, "the first time, the operator's password is shown"


# --- real processes -------------------------------------------------------------------------


def bare_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """A shell's environment with no Lotus or Django variable (and no checkout secrets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOTUS_", "DJANGO_"))}
    env["LOTUS_SECRETS_DIR"] = str(tmp_path / "unused")
    return {**env, **variables}


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory, rsa_key):
    directory = tmp_path_factory.mktemp("jwt")
    (directory / "private.pem").write_text(pem_private(rsa_key))
    (directory / "public.pem").write_text(pem_public(rsa_key))
    return {
        "LOTUS_JWT_PRIVATE_KEY_FILE": str(directory / "private.pem"),
        "LOTUS_JWT_PUBLIC_KEY_FILE": str(directory / "public.pem"),
    }


def manage_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("secret_key", "says"),
    [
        (None, "DJANGO_SECRET_KEY is not set"),
        ("", "DJANGO_SECRET_KEY is not set"),
        ("too-short-0123456789", "DJANGO_SECRET_KEY is 20 characters long"),
        (OLD_COMMITTED_KEY, "DJANGO_SECRET_KEY is a key published in source code"),
    ],
)
def test_manage_py_refuses_to_start_without_a_proper_secret_key(tmp_path, pair_files, secret_key, says):
    variables = dict(pair_files)
    if secret_key is not None:
        variables["DJANGO_SECRET_KEY"] = secret_key
    done = manage_check(bare_environment(tmp_path, **variables))
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert says in done.stderr


def test_manage_py_starts_with_generated_keys_and_debug_off(tmp_path, pair_files):
    done = manage_check(bare_environment(tmp_path, DJANGO_SECRET_KEY=GOOD_KEY, **pair_files))
    assert done.returncode == 0, done.stderr


def test_a_profiles_process_needs_the_private_key_the_others_only_the_public_key(tmp_path, pair_files):
    public_only = {"DJANGO_SECRET_KEY": GOOD_KEY, "LOTUS_JWT_PUBLIC_KEY_FILE": pair_files["LOTUS_JWT_PUBLIC_KEY_FILE"]}
    refused = manage_check(bare_environment(tmp_path, LOTUS_SERVICES="profiles", **public_only))
    assert refused.returncode != 0
    assert "LOTUS_JWT_PRIVATE_KEY (or LOTUS_JWT_PRIVATE_KEY_FILE) is not set" in refused.stderr
    for services in ("billing", "orders", "stock", "delivery", "notifications", ",".join(SERVICES)):
        started = manage_check(bare_environment(tmp_path, LOTUS_SERVICES=services, **public_only))
        assert started.returncode == 0, (services, started.stderr)


def test_gunicorn_refuses_to_start_without_a_secret_key(tmp_path, pair_files):
    done = subprocess.run(
        [Path(sys.executable).with_name("gunicorn"), "lotus.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"],
        cwd=ROOT,
        env=bare_environment(tmp_path, **pair_files),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in done.stderr


def test_pytest_runs_from_a_clean_shell_with_the_checkouts_generated_keys(tmp_path):
    """No variable set, DEBUG off: lotus.pytest_settings gives the run generated keys before
    lotus.settings loads (here under a directory of the test's own)."""
    env = bare_environment(tmp_path)
    env["LOTUS_SECRETS_DIR"] = str(tmp_path / "secrets")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "lotus/tests/test_topology.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(path.name for path in (tmp_path / "secrets").iterdir() if not path.name.startswith(".")) == [
        "django_secret_key",
        "jwt_private_key.pem",
        "jwt_public_key.pem",
        "operator_password",
    ]
