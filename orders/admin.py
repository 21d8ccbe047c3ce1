"""Admin: the catalog, and orders with their state and saga history.

The saga's state is read-only here: no field of an order can be edited, and none added or
deleted. An operator acts on a saga from its saga page (the "saga" column, the "Saga" button of an
order's page; ``sagas.views``), through the services' own functions, so that every change is a
transition the saga knows about and its history records.

Orders whose cancellation the deadline checker escalated (compensations overdue, see
``orders.services.order_escalate``) are what the operator looks at first: the "escalated"
filter lists them, and "escalated, still cancelling" the ones that need a hand (a dead letter
to replay, a service to fix).
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from lotus.admin_site import ReadOnlyAdmin
from orders.models import Order, OrderTransition, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "price", "manual_delivery")


class TransitionInline(admin.TabularInline):
    model = OrderTransition
    fields = ("source", "target", "reason", "at", "message_type", "message_source", "message_id")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class EscalatedFilter(admin.SimpleListFilter):
    title = "escalated"
    parameter_name = "escalated"

    def lookups(self, request, model_admin):
        return [("stuck", "escalated, still cancelling"), ("yes", "escalated"), ("no", "not escalated")]

    def queryset(self, request, queryset):
        if self.value() == "stuck":
            return queryset.filter(escalated_at__isnull=False, status=Order.Status.CANCELLING)
        if self.value() == "yes":
            return queryset.filter(escalated_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(escalated_at__isnull=True)
        return queryset


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "saga",
        "customer_id",
        "product_id",
        "price",
        "status",
        "pending_compensations",
        "escalated_at",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", EscalatedFilter, "product_id")
    search_fields = ("id", "customer_id")
    readonly_fields = (
        "id",
        "customer_id",
        "product_id",
        "price",
        "manual_delivery",
        "delivery_slot",
        "status",
        "pending_compensations",
        "refunded",
        "cancel_reason",
        "escalated_at",
        "created_at",
        "updated_at",
    )
    inlines = [TransitionInline]

    @admin.display(description="saga")
    def saga(self, order: Order) -> str:
        return format_html('<a href="{}">saga</a>', reverse("sagas:saga", args=[order.id]))
