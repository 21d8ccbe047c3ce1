"""Stateless JWT authentication shared by every service.

Profiles signs tokens (simplejwt) that carry the customer's id (``user_id``), ``email``
and ``is_staff`` (the operator claim). Every other service trusts the signature and reads
the claims; none of them calls profiles or reads its database.
"""

from __future__ import annotations

from rest_framework import permissions
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication


class TokenAuthentication(JWTStatelessUserAuthentication):
    """``Authorization: Bearer <access>``; ``request.user`` is a simplejwt ``TokenUser``."""

    www_authenticate_realm = "lotus"


class IsOperator(permissions.BasePermission):
    """Only operators (staff tokens) may call this endpoint; customers get 403."""

    message = "Only an operator may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


def customer_id(request) -> int:
    """The authenticated caller's customer id, from the token's ``user_id`` claim."""
    return int(request.user.id)
