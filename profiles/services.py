"""Writes of the profiles service: registration and sign-in tokens.

Tokens are signed with profiles' private key (RS256, see lotus.keys). A refresh token is used
once: a refresh revokes it and hands out a new one (rotation), logout revokes it; revoked
tokens are simplejwt's blacklist (``token_blacklist``, in the profiles database). A stolen
refresh token that its owner uses first is refused to the thief, and the other way round.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from lotus.contracts.profiles import UserRegistered
from lotus.errors import LotusError
from lotus.messaging.unit_of_work import UnitOfWork
from profiles.models import Customer, normalized_email


class InvalidCredentials(LotusError):
    status_code = 401
    code = "invalid_credentials"


class CannotSign(LotusError):
    status_code = 503
    code = "cannot_sign"


def _require_signing_key() -> None:
    """A process that serves profiles among other services may lack the private key (the
    chart's admin); it answers sign-in with 503 rather than fail while signing (lotus.keys)."""
    if not settings.SIMPLE_JWT.get("SIGNING_KEY"):
        raise CannotSign("This process does not sign tokens (no LOTUS_JWT_PRIVATE_KEY); sign in through profiles.")


def customer_register(
    *, uow: UnitOfWork, email: str, password: str, first_name: str = "", last_name: str = ""
) -> Customer:
    """Create a customer (email unique regardless of case) and announce it, in ``uow``."""
    email = normalized_email(email)
    customer = Customer(email=email, first_name=first_name, last_name=last_name)
    try:
        validate_password(password, user=customer)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"password": list(exc.messages)}) from exc
    customer.set_password(password)
    # One statement whether or not the email is taken, even by a registration committing
    # concurrently (it waits for that one): no error aborts the transaction.
    if not uow.insert_unless_present(customer, unique_fields=("email",)):
        raise exceptions.ValidationError({"email": ["A customer with this email already exists."]})
    uow.send(UserRegistered(customer_id=customer.id, email=email))
    return customer


def customer_tokens(*, email: str, password: str) -> dict[str, str]:
    """Sign in: an access and a refresh token carrying the id, email and operator claim."""
    _require_signing_key()
    customer = authenticate(username=normalized_email(email), password=password)
    if customer is None:
        raise InvalidCredentials("Wrong email or password.")
    refresh = token_for(customer)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def token_refresh(*, refresh: str) -> dict[str, str]:
    """New access and refresh tokens for ``refresh``, which is revoked: a refresh token used
    twice is refused the second time. The account is read again: a deleted or deactivated
    customer gets no more tokens, and a changed email or operator status reaches the new ones."""
    _require_signing_key()
    token = _verified_refresh(refresh)
    with UnitOfWork("profiles") as uow:
        if not _revoke(uow, token):
            raise InvalidCredentials("Invalid refresh token: it was used already.")
        customer = (
            Customer.objects.using(uow.alias).filter(id=token.get(jwt_settings.USER_ID_CLAIM), is_active=True).first()
        )
        if customer is None:
            raise InvalidCredentials("Invalid refresh token: its account no longer exists.")
        fresh = token_for(customer)
    return {"access": str(fresh.access_token), "refresh": str(fresh)}


def customer_logout(*, refresh: str) -> None:
    """Revoke ``refresh``: it gives no more tokens. Access tokens already made from it stay
    valid until they expire (``LOTUS_JWT_ACCESS_MINUTES``): no service asks profiles about them."""
    token = _verified_refresh(refresh)
    with UnitOfWork("profiles") as uow:
        _revoke(uow, token)


def _verified_refresh(refresh: str) -> RefreshToken:
    try:
        return RefreshToken(refresh)  # signature, expiry, type, and not revoked
    except TokenError as exc:
        raise InvalidCredentials(f"Invalid refresh token: {exc}") from exc


def _revoke(uow: UnitOfWork, token: RefreshToken) -> bool:
    """Put ``token`` on the blacklist; False if it was there already (one statement decides,
    so of two requests racing with the same token exactly one gets True)."""
    jti = token[jwt_settings.JTI_CLAIM]
    # Login recorded it; a token signed before the blacklist existed is recorded now.
    uow.insert_unless_present(
        OutstandingToken(jti=jti, token=str(token), expires_at=datetime_from_epoch(token["exp"])),
        unique_fields=("jti",),
    )
    outstanding = uow.get(OutstandingToken, jti=jti)
    return uow.insert_unless_present(BlacklistedToken(token=outstanding), unique_fields=("token",))


def token_for(customer: Customer) -> RefreshToken:
    """A refresh token whose claims (copied into every access token made from it) let each
    service authorise the customer without asking profiles."""
    refresh = RefreshToken.for_user(customer)
    refresh["email"] = customer.email
    refresh["is_staff"] = customer.is_staff
    return refresh
