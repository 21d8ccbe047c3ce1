"""The runs in the admin: read-only (a run is a record of what was found)."""

from django.contrib import admin

from lotus.admin_site import ReadOnlyAdmin
from reconciliation.models import ReconciliationRun


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "total", "counts", "duration_seconds", "grace_seconds")
    readonly_fields = ("started_at", "duration_seconds", "grace_seconds", "counts", "judged", "disagreements")
