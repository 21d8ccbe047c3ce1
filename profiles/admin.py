"""Admin: customers and operators, by email."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from profiles.models import Customer


@admin.register(Customer)
class CustomerAdmin(UserAdmin):
    ordering = ("id",)
    list_display = ("email", "first_name", "last_name", "is_staff", "date_joined")
    list_filter = ("is_staff", "is_active")
    search_fields = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("first_name", "last_name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
