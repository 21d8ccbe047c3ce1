"""Customers and operators, signed in by email."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


def normalized_email(email: str) -> str:
    """Emails are unique regardless of case: they are stored trimmed and lower-cased."""
    return (email or "").strip().lower()


class CustomerManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("an email is required")
        customer = self.model(email=normalized_email(email), **fields)
        customer.set_password(password)
        customer.save(using=self._db)
        return customer

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username):
        return self.get(**{self.model.USERNAME_FIELD: normalized_email(username)})


class Customer(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Operators: may add stock and accept deliveries.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = CustomerManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        # Runs before the uniqueness check of model forms (the admin), so "A@x" collides with "a@x".
        super().clean()
        self.email = normalized_email(self.email)

    def save(self, *args, **kwargs) -> None:
        self.email = normalized_email(self.email)
        super().save(*args, **kwargs)

    def token_claims(self) -> dict[str, object]:
        """What every service reads from this customer's tokens besides ``user_id``."""
        return {"email": self.email, "is_staff": self.is_staff}
