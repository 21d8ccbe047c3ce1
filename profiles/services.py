"""Writes of the profiles service: registration and sign-in tokens."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from lotus.contracts.profiles import UserRegistered
from lotus.errors import LotusError
from lotus.messaging.unit_of_work import UnitOfWork
from profiles.models import Customer, normalized_email


class InvalidCredentials(LotusError):
    status_code = 401
    code = "invalid_credentials"


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
    customer = authenticate(username=normalized_email(email), password=password)
    if customer is None:
        raise InvalidCredentials("Wrong email or password.")
    refresh = token_for(customer)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def token_refresh(*, refresh: str) -> str:
    """A new access token. The account is read again: a deleted or deactivated customer gets no
    more tokens, and a changed email or operator status reaches the next access token."""
    try:
        token = RefreshToken(refresh)
    except TokenError as exc:
        raise InvalidCredentials(f"Invalid refresh token: {exc}") from exc
    customer = Customer.objects.filter(id=token.get(jwt_settings.USER_ID_CLAIM), is_active=True).first()
    if customer is None:
        raise InvalidCredentials("Invalid refresh token: its account no longer exists.")
    token["email"] = customer.email
    token["is_staff"] = customer.is_staff
    return str(token.access_token)


def token_for(customer: Customer) -> RefreshToken:
    """A refresh token whose claims (copied into every access token made from it) let each
    service authorise the customer without asking profiles."""
    refresh = RefreshToken.for_user(customer)
    refresh["email"] = customer.email
    refresh["is_staff"] = customer.is_staff
    return refresh
