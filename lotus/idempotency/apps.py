from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "lotus.idempotency"
    label = "idempotency"
    verbose_name = "Idempotency keys"
