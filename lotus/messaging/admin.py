"""Admin pages for each service's outbox (parked rows replayable), inbox and dead letters
(replayable)."""

from django.contrib import admin, messages

from lotus.bootstrap import handlers_for
from lotus.messaging import models
from lotus.messaging.dead_letters import replay
from lotus.messaging.outbox import replay_parked


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "message_type", "topic", "key", "created_at", "sent_at", "attempts", "parked_at")
    list_filter = (
        "message_type",
        ("sent_at", admin.EmptyFieldListFilter),
        ("parked_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("message_id", "key")
    actions = ["replay_parked"]

    @admin.action(description="Publish the selected parked rows again")
    def replay_parked(self, request, queryset):
        ids = list(queryset.filter(parked_at__isnull=False, sent_at__isnull=True).values_list("id", flat=True))
        count = replay_parked(queryset.db, ids)
        self.message_user(request, f"{count} parked row(s) given back to the relay", messages.SUCCESS)


class InboxAdmin(ReadOnlyAdmin):
    list_display = ("message_id", "message_type", "topic", "processed_at")
    list_filter = ("message_type",)
    search_fields = ("message_id",)


class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ("id", "message_type", "topic", "partition", "offset", "attempts", "created_at", "replayed_at")
    list_filter = ("message_type", ("replayed_at", admin.EmptyFieldListFilter))
    search_fields = ("message_id", "key", "error")
    actions = ["replay_selected"]

    @admin.action(description="Replay the selected dead letters (apply them once)")
    def replay_selected(self, request, queryset):
        service = self.model.lotus_service
        handlers = handlers_for(service)
        for letter in queryset.filter(replayed_at__isnull=True):
            try:
                outcome = replay(letter, service=service, handlers=handlers)
            except Exception as exc:  # noqa: BLE001 -- shown to the operator, the letter stays
                self.message_user(request, f"#{letter.id} failed again: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"#{letter.id}: {outcome.value}", messages.SUCCESS)


for proxy in models.SERVICE_PROXIES.values():
    if issubclass(proxy, models.OutboxMessage):
        admin.site.register(proxy, OutboxAdmin)
    elif issubclass(proxy, models.InboxMessage):
        admin.site.register(proxy, InboxAdmin)
    else:
        admin.site.register(proxy, DeadLetterAdmin)
