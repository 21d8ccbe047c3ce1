"""Sign in for scripts/fuzz.sh: register and log in a fresh customer, log in the operator, and
print both access tokens as shell assignments.

The operator's credentials are the stack's own (``lotus_settings.OPERATOR``, which the
environment fills), read the way ``manage.py seed`` reads them.
"""

import os
import secrets
import sys

import django
import requests

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lotus.settings")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
django.setup()

from lotus.conf import lotus_settings  # noqa: E402  (after django.setup())


def access_token(url: str, email: str, password: str) -> str:
    response = requests.post(f"{url}/profile/login", json={"email": email, "password": password}, timeout=30)
    response.raise_for_status()
    return response.json()["access"]


def main(url: str) -> None:
    email, password = f"fuzz-{secrets.token_hex(6)}@lotus.test", secrets.token_urlsafe(18)
    requests.post(f"{url}/profile/register", json={"email": email, "password": password}, timeout=30).raise_for_status()
    operator = lotus_settings.OPERATOR
    print(f"LOTUS_FUZZ_CUSTOMER_TOKEN={access_token(url, email, password)}")
    print(f"LOTUS_FUZZ_OPERATOR_TOKEN={access_token(url, operator['EMAIL'], operator['PASSWORD'])}")


if __name__ == "__main__":
    main(sys.argv[1])
