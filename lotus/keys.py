"""The Django secret key and the JWT keys, read from the environment and checked at start.

Profiles signs access and refresh tokens with an RSA private key (RS256); every service
verifies them with the public key, so a service that can read tokens cannot mint one. With
``DJANGO_DEBUG`` off a process refuses to start (``ImproperlyConfigured``, naming the
variable) when a key it needs is missing or unfit: the secret key when it is missing, shorter
than 50 characters or a value once committed to this repository; the public key always; the
private key in a process that serves profiles alone (``LOTUS_SERVICES=profiles``: profiles'
pods). A process that serves profiles among other services (``make up``'s web; the chart's
admin and jobs, which never sign) signs when it has the private key and otherwise answers
sign-in and refresh with 503. A process that does not serve profiles never holds the private
key, whatever its environment says. With ``DJANGO_DEBUG`` on a
missing key is replaced by a random one for this process alone (tokens then verify only in
the process that signed them). ``scripts/secrets.sh`` generates a checkout's keys
(:mod:`lotus.local_secrets`). Imported by ``lotus/settings.py``: nothing of Django but its
exception.
"""

from __future__ import annotations

import hashlib
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_KEY_LENGTH = 50
MIN_RSA_BITS = 2048

#: SHA-256 of secret keys that were committed to this repository (refused, never stored).
COMMITTED_SECRET_KEYS = frozenset(
    {
        "a05dbf032674db2126a7cc7add7c7f791c17ce3f3a3571ce5c243fd800b7d0f6",
    }
)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secret_key(env: environ.Env, *, debug: bool) -> str:
    """``DJANGO_SECRET_KEY``, checked (see the module docstring)."""
    value = env.str("DJANGO_SECRET_KEY", default="")
    if debug:
        if value:
            return value
        warnings.warn("DJANGO_SECRET_KEY is not set: this DEBUG process uses a random key of its own", stacklevel=2)
        return secrets.token_urlsafe(64)
    if not value:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Generate one (scripts/secrets.sh env prints this checkout's), "
            "or set DJANGO_DEBUG=1 on a laptop."
        )
    if _digest(value) in COMMITTED_SECRET_KEYS or value.startswith("django-insecure-"):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is a key published in source code; generate a new one.")
    if len(value) < MIN_SECRET_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is {len(value)} characters long; it needs at least {MIN_SECRET_KEY_LENGTH}."
        )
    if len(set(value)) < 5:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY has fewer than 5 distinct characters; generate a random one.")
    return value


@dataclass(frozen=True)
class JwtKeys:
    """PEM text: the private key (``""`` in a process that does not sign) and the public key."""

    private: str
    public: str


def _pem(env: environ.Env, name: str) -> tuple[str, str]:
    """The PEM text of ``NAME`` or of the file ``NAME_FILE`` names, and where it came from."""
    value = env.str(name, default="")
    path = env.str(f"{name}_FILE", default="")
    if value and path:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if path:
        try:
            return Path(path).read_text(), f"{name}_FILE ({path})"
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE names {path}, which cannot be read: {exc.strerror}") from exc
    # A PEM in one line (some secret stores drop newlines) comes with literal "\n".
    return value.replace("\\n", "\n"), name


def _load_private(text: str, source: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise ImproperlyConfigured(f"{source} must be an RSA key of at least {MIN_RSA_BITS} bits (RS256).")
    return key


def _load_public(text: str, source: str):
    """A PEM public key, or a PEM X.509 certificate whose public key is taken (Helm's genCA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        if "BEGIN CERTIFICATE" in text:
            key = x509.load_pem_x509_certificate(text.encode()).public_key()
        else:
            key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source} is neither a PEM public key nor a PEM certificate: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise ImproperlyConfigured(f"{source} must be an RSA key of at least {MIN_RSA_BITS} bits (RS256).")
    return key


def _public_pem(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def jwt_keys(env: environ.Env, *, debug: bool, serves: tuple[str, ...]) -> JwtKeys:
    """The keys of ``LOTUS_JWT_PRIVATE_KEY[_FILE]`` and ``LOTUS_JWT_PUBLIC_KEY[_FILE]`` for a
    process serving ``serves``, checked (see the module docstring)."""
    signs = "profiles" in serves
    private_text, private_source = _pem(env, "LOTUS_JWT_PRIVATE_KEY")
    public_text, public_source = _pem(env, "LOTUS_JWT_PUBLIC_KEY")
    private = _load_private(private_text, private_source) if private_text.strip() else None
    public = _load_public(public_text, public_source) if public_text.strip() else None
    if private is not None and public is None:
        public = private.public_key()
    if private is not None and _public_pem(private.public_key()) != _public_pem(public):
        raise ImproperlyConfigured(
            f"{public_source} is not the public half of {private_source}: tokens would not verify."
        )
    if debug and public is None:
        warnings.warn("No JWT keys are set: this DEBUG process signs with a random key of its own", stacklevel=2)
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
        text = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return JwtKeys(private=text if signs else "", public=_public_pem(private.public_key()))
    if public is None:
        raise ImproperlyConfigured(
            "LOTUS_JWT_PUBLIC_KEY (or LOTUS_JWT_PUBLIC_KEY_FILE) is not set: every service verifies tokens "
            "with the public key (scripts/secrets.sh env prints this checkout's)."
        )
    if tuple(serves) == ("profiles",) and private is None:
        raise ImproperlyConfigured(
            "LOTUS_JWT_PRIVATE_KEY (or LOTUS_JWT_PRIVATE_KEY_FILE) is not set, and this process serves profiles, "
            "which signs tokens (LOTUS_SERVICES names the services a process serves)."
        )
    return JwtKeys(private=private_text if signs and private is not None else "", public=_public_pem(public))
