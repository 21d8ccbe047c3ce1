"""The runs in the admin: read-only (a run is a record of what was found)."""

from django.contrib import admin

from reconciliation.models import ReconciliationRun


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "total", "counts", "duration_seconds", "grace_seconds")
    readonly_fields = ("started_at", "duration_seconds", "grace_seconds", "counts", "judged", "disagreements")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
