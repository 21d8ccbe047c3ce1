"""Forgetting refresh tokens once they have expired.

simplejwt's ``token_blacklist`` keeps a row for every refresh token profiles issues (rotation
needs it to refuse a token used twice) and one more for each revoked token. A token past its
expiry is refused by its signature's ``exp`` alone, so its rows protect nothing: the profiles
relay's housekeeping deletes them (the blacklisted row goes with its token), as
``manage.py flushexpiredtokens`` would, so the tables hold about one refresh lifetime of tokens.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from lotus.topology import alias_for_app


def prune(alias: str) -> int:
    """Delete the expired refresh tokens if ``alias`` is the database that holds them."""
    if alias != alias_for_app("token_blacklist"):
        return 0
    deleted, _ = OutstandingToken.objects.using(alias).filter(expires_at__lt=timezone.now()).delete()
    return deleted
