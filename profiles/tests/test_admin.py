"""The admin: the seeded operator signs in by email and manages customers; emails stay case-insensitive."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from lotus.testing import lotus_override
from profiles.models import Customer
from profiles.seed import seed

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def operator_client(client, operator):
    email, password = operator
    assert client.login(email=email.upper(), password=password)
    return client


def test_the_seed_creates_the_operator_then_resets_its_password():
    assert "created" in seed()
    with lotus_override("OPERATOR", PASSWORD="a-new-operator-secret-7"):
        assert "updated" in seed()
    operator = Customer.objects.get()
    assert (operator.is_staff, operator.is_superuser, operator.is_active) == (True, True, True)
    assert operator.check_password("a-new-operator-secret-7")


@pytest.mark.parametrize("password", [None, ""])
def test_the_seed_refuses_to_run_without_an_operator_password(password):
    """No default password in the code: an unset one stops the seed, no account is made."""
    with (
        lotus_override("OPERATOR", PASSWORD=password),
        pytest.raises(ImproperlyConfigured, match="LOTUS_OPERATOR_PASSWORD"),
    ):
        seed()
    assert not Customer.objects.exists()


def test_the_admin_login_page_accepts_the_operator(client, operator):
    email, password = operator
    response = client.post("/admin/login/?next=/admin/", {"username": email, "password": password})
    assert response.status_code == 302
    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_page_refuses_a_customer(client):
    Customer.objects.create_user("ann@lotus.test", "a-fine-pass-42")
    response = client.post("/admin/login/?next=/admin/", {"username": "ann@lotus.test", "password": "a-fine-pass-42"})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_the_customer_list_shows_and_searches_emails(operator_client):
    Customer.objects.create_user("ann@lotus.test", "x")
    Customer.objects.create_user("bob@lotus.test", "x")
    page = operator_client.get("/admin/profiles/customer/?q=ann").content.decode()
    assert "ann@lotus.test" in page
    assert "bob@lotus.test" not in page


def test_the_change_page_renders(operator_client):
    customer = Customer.objects.create_user("ann@lotus.test", "x")
    assert operator_client.get(f"/admin/profiles/customer/{customer.id}/change/").status_code == 200


def test_adding_a_customer_lower_cases_the_email_and_refuses_a_duplicate_in_any_case(operator_client):
    form = {"email": "New@Lotus.test", "password1": "a-fine-pass-42", "password2": "a-fine-pass-42"}
    assert operator_client.get("/admin/profiles/customer/add/").status_code == 200
    response = operator_client.post("/admin/profiles/customer/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    created = Customer.objects.get(email="new@lotus.test")
    assert created.check_password("a-fine-pass-42")
    again = operator_client.post("/admin/profiles/customer/add/", {**form, "email": "NEW@lotus.test"})
    assert again.status_code == 200
    assert "already exists" in again.content.decode()
    assert Customer.objects.filter(email="new@lotus.test").count() == 1
