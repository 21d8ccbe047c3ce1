"""Admin: accounts with their ledger, and the charges of orders."""

from django.contrib import admin

from billing.models import Account, Charge, LedgerEntry


class LedgerInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("kind", "amount", "order_id", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("customer_id", "balance", "created_at")
    search_fields = ("customer_id",)
    readonly_fields = ("customer_id", "balance", "created_at")
    inlines = [LedgerInline]

    def has_add_permission(self, request):
        return False


@admin.register(Charge)
class ChargeAdmin(admin.ModelAdmin):
    list_display = ("order_id", "account", "amount", "status", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("order_id",)
    readonly_fields = ("order_id", "account", "amount", "status", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False
