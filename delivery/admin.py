"""Admin: couriers, their booked slots, and the orders' delivery requests."""

from django.contrib import admin

from delivery.models import Courier, DeliveryRequest, SlotBooking


@admin.register(Courier)
class CourierAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "capacity_per_slot")
    search_fields = ("name",)


@admin.register(SlotBooking)
class SlotBookingAdmin(admin.ModelAdmin):
    list_display = ("slot", "courier", "booked")
    list_filter = ("courier",)
    date_hierarchy = "slot"
    # Bookings change only with their delivery requests (services.py keeps the two in step).
    readonly_fields = ("courier", "slot", "booked")

    def has_add_permission(self, request):
        return False


@admin.register(DeliveryRequest)
class DeliveryRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "order_id", "product_id", "status", "manual", "courier", "slot", "reason", "created_at")
    list_filter = ("status", "manual", "courier")
    search_fields = ("order_id",)
    readonly_fields = (
        "order_id",
        "product_id",
        "requested_slot",
        "manual",
        "status",
        "courier",
        "slot",
        "reason",
        "created_at",
    )

    def has_add_permission(self, request):
        return False
