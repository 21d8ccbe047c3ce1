"""Admin: the catalog, and orders with their state and saga history."""

from django.contrib import admin

from orders.models import Order, OrderTransition, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "price", "manual_delivery")


class TransitionInline(admin.TabularInline):
    model = OrderTransition
    fields = ("source", "target", "reason", "at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "product_id", "price", "status", "created_at", "updated_at")
    list_filter = ("status", "product_id")
    search_fields = ("id", "customer_id")
    readonly_fields = (
        "id",
        "customer_id",
        "product_id",
        "price",
        "manual_delivery",
        "delivery_slot",
        "status",
        "created_at",
        "updated_at",
    )
    inlines = [TransitionInline]

    def has_add_permission(self, request):
        return False
