"""The messaging tables, present in every service database.

* :class:`OutboxMessage` -- messages a service committed and the relay has to publish;
* :class:`InboxMessage` -- ids of messages a service has applied (the deduplication record);
* :class:`DeadLetter` -- messages a consumer gave up on, with the error, for replay;
* :class:`Lease` -- which relay replica publishes a database's outbox, until when.

These models are shared by all databases, so queries must name theirs:
``OutboxMessage.objects.using(alias_for("billing"))``.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxMessage(models.Model):
    message_id = models.UUIDField(db_index=True)
    message_type = models.CharField(max_length=100)
    topic = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    body = models.TextField(help_text="The envelope as JSON, published as is.")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while the consumer that wrote the row publishes it; the relay leaves it alone until then.",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Times the broker refused the row while it answered.")
    last_error = models.TextField(blank=True)
    parked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set aside after too many refusals: not published, and later rows of its key wait behind it.",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(sent_at__isnull=True), name="outbox_unsent_idx"),
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outbox_sent_idx"),
            models.Index(
                fields=["key"], condition=Q(sent_at__isnull=True, parked_at__isnull=False), name="outbox_parked_key_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_type} {self.message_id} → {self.topic}"


class InboxMessage(models.Model):
    message_id = models.UUIDField(primary_key=True)
    message_type = models.CharField(max_length=100)
    topic = models.CharField(max_length=200, blank=True)
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-processed_at"]

    def __str__(self) -> str:
        return f"{self.message_type} {self.message_id}"


class DeadLetter(models.Model):
    message_id = models.UUIDField(null=True, blank=True, db_index=True)
    message_type = models.CharField(max_length=100, blank=True)
    topic = models.CharField(max_length=200)
    partition = models.IntegerField(null=True, blank=True)
    offset = models.BigIntegerField(null=True, blank=True)
    key = models.CharField(max_length=200, blank=True)
    body = models.TextField(help_text="The raw message as received.")
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.message_type or 'malformed'} from {self.topic}: {self.error[:60]}"


class Lease(models.Model):
    """A lease held by one replica (the relay's, :mod:`lotus.messaging.lease`); the database's
    clock sets and checks ``expires_at``."""

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.holder} until {self.expires_at:%H:%M:%S}"


def _service_proxies() -> dict[str, type[models.Model]]:
    """Per-service proxies of the shared models, so the admin can show each database's rows.

    ``billing_outbox`` reads ``OutboxMessage`` rows of the billing database, and so on; the
    router sends a model with a ``lotus_service`` attribute to that service's database.
    """
    from lotus.topology import SERVICES

    proxies = {}
    for service in SERVICES:
        for base, label in ((OutboxMessage, "outbox"), (InboxMessage, "inbox"), (DeadLetter, "dead letters")):
            name = f"{service.title()}{base.__name__}"
            meta = type(
                "Meta",
                (),
                {"proxy": True, "verbose_name": f"{service} {label}", "verbose_name_plural": f"{service} {label}"},
            )
            proxies[name] = type(name, (base,), {"__module__": __name__, "Meta": meta, "lotus_service": service})
    return proxies


SERVICE_PROXIES = _service_proxies()
globals().update(SERVICE_PROXIES)
