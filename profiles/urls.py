"""HTTP API of the profiles service."""

from django.urls import path

from profiles import apis

urlpatterns = [
    path("profile/register", apis.RegisterApi.as_view(), name="profile-register"),
    path("profile/login", apis.LoginApi.as_view(), name="profile-login"),
    path("profile/refresh", apis.RefreshApi.as_view(), name="profile-refresh"),
    path("profile/logout", apis.LogoutApi.as_view(), name="profile-logout"),
    path("profile/me", apis.MeApi.as_view(), name="profile-me"),
]
