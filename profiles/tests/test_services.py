"""Registration, sign-in and refresh as services: what is stored, published and refused."""

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import get_hasher, identify_hasher
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from lotus.contracts.profiles import UserRegistered
from lotus.messaging.models import OutboxMessage
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import published, run_together
from profiles.models import Customer
from profiles.services import InvalidCredentials, customer_register, customer_tokens, token_refresh

pytestmark = pytest.mark.django_db(databases="__all__")
PASSWORD = "Saga-Customer-Pass-2026"


def register(**arguments) -> Customer:
    """:func:`customer_register` in a unit of work of its own, as the API runs it."""
    with UnitOfWork("profiles") as uow:
        return customer_register(uow=uow, **arguments)


def test_register_stores_a_lower_cased_email_and_publishes_user_registered_keyed_by_the_id():
    customer = register(email="  Ann@Lotus.TEST ", password=PASSWORD, first_name="Ann", last_name="Lee")
    stored = Customer.objects.get()
    assert (stored.id, stored.email, stored.first_name, stored.last_name) == (
        customer.id,
        "ann@lotus.test",
        "Ann",
        "Lee",
    )
    assert stored.check_password(PASSWORD)
    assert not stored.is_staff
    assert published("profiles", UserRegistered) == [UserRegistered(customer_id=customer.id, email="ann@lotus.test")]
    assert OutboxMessage.objects.using("default").get().key == str(customer.id)


def test_the_similarity_validator_sees_the_customer():
    with pytest.raises(ValidationError) as refused:
        register(email="annabelle.whitfield@lotus.test", password="annabelle.whitfield")
    assert "too similar" in str(refused.value.detail["password"])
    assert not Customer.objects.exists()
    assert published("profiles") == []


@pytest.mark.real_hasher
def test_the_password_is_hashed_with_the_projects_default_hasher():
    customer = register(email="ann@lotus.test", password=PASSWORD)
    stored = Customer.objects.get(id=customer.id).password
    assert PASSWORD not in stored
    assert identify_hasher(stored).algorithm == get_hasher("default").algorithm
    assert identify_hasher(stored).algorithm not in {"md5", "unsalted_md5", "unsalted_sha1", "sha1"}
    assert customer_tokens(email="ann@lotus.test", password=PASSWORD)["access"]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_concurrent_registrations_of_one_email_create_one_customer():
    errors = run_together(
        [
            lambda: register(email="bob@lotus.test", password=PASSWORD),
            lambda: register(email="BOB@lotus.test", password=PASSWORD),
        ]
    )
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError)
    assert list(errors[0].detail) == ["email"]
    assert Customer.objects.filter(email="bob@lotus.test").count() == 1
    assert len(published("profiles", UserRegistered)) == 1


def test_sign_in_gives_tokens_carrying_the_customers_claims():
    customer = register(email="ann@lotus.test", password=PASSWORD)
    tokens = customer_tokens(email="Ann@Lotus.test", password=PASSWORD)
    for token in (AccessToken(tokens["access"]), RefreshToken(tokens["refresh"])):
        assert (int(token["user_id"]), token["email"], token["is_staff"]) == (customer.id, "ann@lotus.test", False)


def test_sign_in_refuses_a_deactivated_customer():
    register(email="ann@lotus.test", password=PASSWORD)
    Customer.objects.update(is_active=False)
    with pytest.raises(InvalidCredentials):
        customer_tokens(email="ann@lotus.test", password=PASSWORD)


def test_refresh_reads_the_claims_again_from_the_account():
    customer = register(email="ann@lotus.test", password=PASSWORD)
    tokens = customer_tokens(email="ann@lotus.test", password=PASSWORD)
    Customer.objects.filter(id=customer.id).update(is_staff=True)
    fresh = token_refresh(refresh=tokens["refresh"])
    access, refresh = AccessToken(fresh["access"]), RefreshToken(fresh["refresh"])
    assert (int(access["user_id"]), access["email"], access["is_staff"]) == (customer.id, "ann@lotus.test", True)
    assert (int(refresh["user_id"]), refresh["email"], refresh["is_staff"]) == (customer.id, "ann@lotus.test", True)


def test_a_used_refresh_token_is_refused():
    register(email="ann@lotus.test", password=PASSWORD)
    refresh = customer_tokens(email="ann@lotus.test", password=PASSWORD)["refresh"]
    token_refresh(refresh=refresh)
    with pytest.raises(InvalidCredentials, match="blacklisted"):
        token_refresh(refresh=refresh)


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_of_refreshes_racing_with_one_refresh_token_exactly_one_gets_tokens():
    register(email="ann@lotus.test", password=PASSWORD)
    refresh = customer_tokens(email="ann@lotus.test", password=PASSWORD)["refresh"]
    granted: list[dict] = []
    errors = run_together([lambda: granted.append(token_refresh(refresh=refresh)) for _ in range(4)])
    assert len(granted) == 1, (granted, errors)
    assert len(errors) == 3, errors
    assert all(isinstance(error, InvalidCredentials) for error in errors), errors
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(refresh, verify=False)["jti"]).count() == 1


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_refresh_is_refused_once_the_account_is_gone(change):
    register(email="ann@lotus.test", password=PASSWORD)
    tokens = customer_tokens(email="ann@lotus.test", password=PASSWORD)
    if change == "deactivate":
        Customer.objects.update(is_active=False)
    else:
        Customer.objects.all().delete()
    with pytest.raises(InvalidCredentials):
        token_refresh(refresh=tokens["refresh"])


def test_refresh_refuses_an_expired_refresh_token():
    customer = register(email="ann@lotus.test", password=PASSWORD)
    refresh = RefreshToken.for_user(customer)
    refresh.set_exp(from_time=timezone.now() - timedelta(days=30))
    with pytest.raises(InvalidCredentials):
        token_refresh(refresh=str(refresh))
