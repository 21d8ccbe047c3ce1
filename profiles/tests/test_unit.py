"""Registration on a fake unit of work (no database): what is inserted and announced, and
that a refused registration announces nothing."""

import pytest
from rest_framework.exceptions import ValidationError

from lotus.contracts.profiles import UserRegistered
from lotus.testing import FakeUnitOfWork
from profiles.models import Customer
from profiles.services import customer_register

PASSWORD = "Saga-Customer-Pass-2026"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_registering_inserts_the_customer_with_a_hashed_password_and_announces_it():
    uow = FakeUnitOfWork("profiles")
    customer = customer_register(uow=uow, email=" Ann@Lotus.TEST ", password=PASSWORD, first_name="Ann")
    assert uow.rows == [customer]
    assert (customer.email, customer.first_name, customer.is_staff) == ("ann@lotus.test", "Ann", False)
    assert customer.check_password(PASSWORD)
    assert PASSWORD not in customer.password
    assert uow.sent == [UserRegistered(customer_id=customer.id, email="ann@lotus.test")]


def test_an_email_taken_in_any_case_is_refused_and_announces_nothing():
    uow = FakeUnitOfWork("profiles", rows=[Customer(id=1, email="ann@lotus.test")])
    with pytest.raises(ValidationError) as refused:
        customer_register(uow=uow, email="ANN@lotus.test", password=PASSWORD)
    assert list(refused.value.detail) == ["email"]
    assert len(uow.rows) == 1
    assert uow.sent == []


def test_a_weak_password_is_refused_before_anything_is_written():
    uow = FakeUnitOfWork("profiles")
    with pytest.raises(ValidationError) as refused:
        customer_register(uow=uow, email="ann@lotus.test", password="password")
    assert list(refused.value.detail) == ["password"]
    assert uow.rows == []
    assert uow.sent == []
