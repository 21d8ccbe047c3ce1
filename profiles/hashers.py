"""Argon2id sized for a web pod.

Django's defaults (100 MiB, parallelism 8) make each sign-in cost 100 MiB: a profiles pod
running 8 request threads under a 512 Mi limit runs out of memory on a burst of guesses.
OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane) costs a fifth of that per hash.
Hashes made with other parameters (Django's defaults) are redone at the next successful
sign-in: Django's ``check_password`` asks :meth:`must_update` and saves the new hash.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class WebArgon2PasswordHasher(Argon2PasswordHasher):
    """Same algorithm name (``argon2``), so every existing Argon2 hash is still recognised."""

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
