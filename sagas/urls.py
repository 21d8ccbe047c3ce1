"""The saga pages, under ``/admin/sagas/`` (mounted by ``lotus/urls.py``), each inside the admin site."""

from django.contrib import admin
from django.urls import path

from sagas import views

app_name = "sagas"

urlpatterns = [
    path("", admin.site.admin_view(views.search), name="search"),
    path("stuck/", admin.site.admin_view(views.stuck), name="stuck"),
    path("<uuid:order_id>/", admin.site.admin_view(views.saga), name="saga"),
    path("<uuid:order_id>/cancel/", admin.site.admin_view(views.cancel), name="cancel"),
    path("<uuid:order_id>/accept-delivery/", admin.site.admin_view(views.accept_delivery), name="accept_delivery"),
    path(
        "<uuid:order_id>/dead-letters/<str:service>/<int:letter_id>/replay/",
        admin.site.admin_view(views.replay_dead_letter),
        name="replay",
    ),
]
