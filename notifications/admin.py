"""Admin: the notifications sent to customers."""

from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "order_id", "event", "created_at")
    list_filter = ("event",)
    search_fields = ("order_id", "customer_id")
    readonly_fields = ("customer_id", "order_id", "event", "message", "created_at")

    def has_add_permission(self, request):
        return False
