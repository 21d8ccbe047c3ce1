"""HTTP API of the profiles service."""

from django.conf import settings
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from lotus.api import validated
from lotus.auth import customer_id
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.throttling.throttles import AddressThrottle, EmailThrottle
from profiles import selectors, services


class LoginAccountThrottle(EmailThrottle):
    """Guesses at one account, from anywhere: ``LOTUS_THROTTLE_LOGIN_ACCOUNT``."""

    service, scope = "profiles", "login_account"


class LoginAddressThrottle(AddressThrottle):
    """Sign-ins from one address, at any accounts: ``LOTUS_THROTTLE_LOGIN_ADDRESS``."""

    service, scope = "profiles", "login_address"


class RegisterThrottle(AddressThrottle):
    """Registrations from one address: ``LOTUS_THROTTLE_REGISTER``."""

    service, scope = "profiles", "register"


class CustomerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    isOperator = serializers.BooleanField(source="is_staff")


def _password_min_length() -> int:
    for validator in settings.AUTH_PASSWORD_VALIDATORS:
        if validator["NAME"].endswith(".MinimumLengthValidator"):
            return validator.get("OPTIONS", {}).get("min_length", 8)
    return 1


class PasswordField(serializers.CharField):
    """A new password; its rules are Django's ``AUTH_PASSWORD_VALIDATORS``, applied by the service."""

    openapi = {
        "minLength": _password_min_length(),
        # Not all digits, and no NUL (refused by DRF).
        "pattern": "^[^\\u0000]*[^\\u00000-9][^\\u0000]*$",
        "description": f"At least {_password_min_length()} characters, not all digits, not a commonly used "
        "password and not too similar to the email or the names (Django's password validators).",
    }


class RegisterApi(APIView):
    OutputSerializer = CustomerOutputSerializer
    success_status = 201

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254, help_text="Unique among customers (case-insensitive).")
        password = PasswordField(max_length=128, trim_whitespace=False)
        firstName = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
        lastName = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)

    def post(self, request):
        data = validated(self.InputSerializer, request)
        with UnitOfWork("profiles") as uow:
            customer = services.customer_register(
                uow=uow,
                email=data["email"],
                password=data["password"],
                first_name=data["firstName"],
                last_name=data["lastName"],
            )
        return Response(CustomerOutputSerializer(customer).data, status=status.HTTP_201_CREATED)


class TokensSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="The access token (JWT): `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(required=False, help_text="The refresh token, for `POST /profile/refresh`.")


class LoginApi(APIView):
    OutputSerializer = TokensSerializer
    error_statuses = {401: "Wrong email or password."}
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginAddressThrottle, LoginAccountThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    def post(self, request):
        data = validated(self.InputSerializer, request)
        return Response(services.customer_tokens(email=data["email"], password=data["password"]))


class RefreshApi(APIView):
    """New access and refresh tokens; the refresh token given is used up (a second use is 401)."""

    OutputSerializer = TokensSerializer
    error_statuses = {401: "The refresh token is invalid or has expired."}
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=2000)

    def post(self, request):
        data = validated(self.InputSerializer, request)
        return Response(services.token_refresh(refresh=data["refresh"]))


class LogoutApi(APIView):
    """Revoke a refresh token (204); it is refused from then on. Access tokens expire on their own."""

    error_statuses = {401: "The refresh token is invalid, has expired or was revoked already."}
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=2000)

    def post(self, request):
        data = validated(self.InputSerializer, request)
        services.customer_logout(refresh=data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    OutputSerializer = CustomerOutputSerializer
    error_statuses = {404: "The account of this token no longer exists."}

    def get(self, request):
        return Response(CustomerOutputSerializer(selectors.customer_get(customer_id=customer_id(request))).data)
