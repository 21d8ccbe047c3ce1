"""The admin site, aware that it may only read.

Deployed, the admin runs on its own with read-only database roles (the chart's
``<database>_<service>_ro``): it shows every service's data but changes none of it; an operator
acts through the services. A write it still attempts (an action, a delete, a save) is refused by
PostgreSQL; the site turns that refusal into a message on the page it came from, not a 500.
"""

from __future__ import annotations

import functools

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.db import DatabaseError
from django.http import HttpResponseRedirect

#: SQLSTATEs of a write refused for want of a privilege or in a read-only transaction.
READ_ONLY_REFUSALS = frozenset({"42501", "25006"})

READ_ONLY_MESSAGE = (
    "This admin reads the services' databases and may not change them: nothing was changed. "
    "Act through the service instead: in one of its pods, `python manage.py deadletters replay --service NAME ID` "
    "or `python manage.py outbox replay --service NAME ID`."
)


def refused_as_read_only(exc: DatabaseError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in READ_ONLY_REFUSALS


class LotusAdminSite(admin.AdminSite):
    #: The front page: Django's, with the last reconciliation run above the apps (the template
    #: lives in the reconciliation app, which the lotus core does not import).
    index_template = "admin/lotus_index.html"

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def refusing_writes_politely(request, *args, **kwargs):
            try:
                return inner(request, *args, **kwargs)
            except DatabaseError as exc:
                if not refused_as_read_only(exc):
                    raise
                messages.error(request, READ_ONLY_MESSAGE)
                return HttpResponseRedirect(request.get_full_path())

        return refusing_writes_politely


class LotusAdminConfig(AdminConfig):
    default_site = "lotus.admin_site.LotusAdminSite"


class ReadOnlyAdmin(admin.ModelAdmin):
    """A model the admin shows and never changes: no add, change or delete (saga state, records
    of what was found). The operator acts through the services instead."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
