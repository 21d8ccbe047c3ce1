"""The secrets of one checkout: generated once under ``var/secrets/``, never committed.

With ``DJANGO_DEBUG`` off (the default) no process starts without a Django secret key and the
JWT keys (:mod:`lotus.keys`), and ``manage.py seed`` needs an operator password; no default for
any of them lives in the code. Outside Kubernetes (whose chart generates its own) they come from
here: ``make up``, ``scripts/stack.sh``, the benchmark, the chaos suite and pytest all read the
same files, so a clean clone runs with no variable set and every local process agrees on them::

    scripts/secrets.sh env     # export lines to eval (what the scripts do)
    python -m lotus.local_secrets env

Each file is created once (mode 600, in a directory of mode 700): a Django secret key, an RSA
key pair that signs (profiles) and verifies (every service) access tokens, and the operator's
password, which is printed on stderr the time it is generated. A variable already set in the
environment wins over its file (the group of JWT variables as a whole). ``LOTUS_SECRETS_DIR``
moves the directory. This module imports nothing of Django: it runs before settings can load.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shlex
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SECRET_KEY_FILE = "django_secret_key"
PRIVATE_KEY_FILE = "jwt_private_key.pem"
PUBLIC_KEY_FILE = "jwt_public_key.pem"
OPERATOR_PASSWORD_FILE = "operator_password"

#: Variables that name the JWT keys: when any is set, the environment brings its own pair.
JWT_VARIABLES = (
    "LOTUS_JWT_PRIVATE_KEY",
    "LOTUS_JWT_PRIVATE_KEY_FILE",
    "LOTUS_JWT_PUBLIC_KEY",
    "LOTUS_JWT_PUBLIC_KEY_FILE",
)


def secrets_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("LOTUS_SECRETS_DIR") or ROOT / "var" / "secrets").resolve()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One generator at a time (pytest, a stack and ``make up`` may start together)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    descriptor = os.open(directory / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    os.replace(temporary, path)


def _rsa_pair() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def ensure(directory: Path | None = None) -> list[str]:
    """Create whichever secret file is missing; return the names of those created."""
    directory = directory or secrets_dir()
    created = []
    with _locked(directory):
        if not (directory / SECRET_KEY_FILE).exists():
            _write(directory / SECRET_KEY_FILE, secrets.token_urlsafe(64).encode())
            created.append(SECRET_KEY_FILE)
        if not (directory / PRIVATE_KEY_FILE).exists() or not (directory / PUBLIC_KEY_FILE).exists():
            private, public = _rsa_pair()
            _write(directory / PUBLIC_KEY_FILE, public)
            _write(directory / PRIVATE_KEY_FILE, private)
            created += [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE]
        if not (directory / OPERATOR_PASSWORD_FILE).exists():
            _write(directory / OPERATOR_PASSWORD_FILE, secrets.token_urlsafe(18).encode())
            created.append(OPERATOR_PASSWORD_FILE)
    return created


def environment(directory: Path | None = None, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables this checkout's secrets give, except those ``environ`` already sets."""
    directory = directory or secrets_dir(environ)
    values = {}
    if not environ.get("DJANGO_SECRET_KEY"):
        values["DJANGO_SECRET_KEY"] = (directory / SECRET_KEY_FILE).read_text().strip()
    if not any(environ.get(name) for name in JWT_VARIABLES):
        values["LOTUS_JWT_PRIVATE_KEY_FILE"] = str(directory / PRIVATE_KEY_FILE)
        values["LOTUS_JWT_PUBLIC_KEY_FILE"] = str(directory / PUBLIC_KEY_FILE)
    if not environ.get("LOTUS_OPERATOR_PASSWORD"):
        values["LOTUS_OPERATOR_PASSWORD"] = (directory / OPERATOR_PASSWORD_FILE).read_text().strip()
    return values


def load(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Generate what is missing and put into ``environ`` what it does not set yet (pytest, the
    benchmark and the chaos suite call this before anything reads the settings)."""
    directory = secrets_dir(environ)
    _announce(ensure(directory), directory, environ)
    values = environment(directory, environ)
    environ.update(values)
    return values


def _announce(created: list[str], directory: Path, environ: Mapping[str, str]) -> None:
    if created:
        print(f"lotus: generated {', '.join(created)} under {directory} (mode 600)", file=sys.stderr)
    if OPERATOR_PASSWORD_FILE in created and not environ.get("LOTUS_OPERATOR_PASSWORD"):
        password = (directory / OPERATOR_PASSWORD_FILE).read_text().strip()
        email = environ.get("LOTUS_OPERATOR_EMAIL", "operator@lotus.local")
        print(
            f"lotus: the operator {email} has the password {password}\n"
            f"lotus: (printed this once; it stays in {directory / OPERATOR_PASSWORD_FILE})",
            file=sys.stderr,
        )


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "env"
    directory = secrets_dir()
    if command == "ensure":
        _announce(ensure(directory), directory, os.environ)
        return 0
    if command == "env":
        _announce(ensure(directory), directory, os.environ)
        for name, value in environment(directory).items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if command == "dir":
        print(directory)
        return 0
    print("usage: python -m lotus.local_secrets [env|ensure|dir]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
