"""Admin: stock per product and the reservations queued or held against it."""

from django.contrib import admin

from stock.models import Reservation, StockItem


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    list_display = ("product_id", "on_hand", "reserved", "received")
    search_fields = ("product_id",)
    # Goods arrive through /stock/add, which also serves the waiting queue; editing counters here would not.
    readonly_fields = ("product_id", "on_hand", "reserved", "received")


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("id", "order_id", "product_id", "quantity", "status", "created_at")
    list_filter = ("status", "product_id")
    search_fields = ("order_id",)
    readonly_fields = ("order_id", "product_id", "quantity", "status", "created_at")

    def has_add_permission(self, request):
        return False
