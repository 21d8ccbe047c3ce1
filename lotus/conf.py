"""TEMPORARY stub until the settings branch lands: reads the flat settings."""

from django.conf import settings


class _Stub:
    _MAP = {
        "KAFKA": {
            "NAMESPACE": "LOTUS_KAFKA_NAMESPACE",
            "PARTITIONS": "LOTUS_KAFKA_PARTITIONS",
            "RETENTION_HOURS": "LOTUS_KAFKA_RETENTION_HOURS",
        },
        "RELAY": {
            "BATCH_SIZE": "LOTUS_RELAY_BATCH_SIZE",
            "POLL_SECONDS": "LOTUS_RELAY_POLL_SECONDS",
            "LEASE_SECONDS": "LOTUS_RELAY_LEASE_SECONDS",
            "MAX_ATTEMPTS": "LOTUS_RELAY_MAX_ATTEMPTS",
        },
        "OUTBOX": {"RETENTION_HOURS": "LOTUS_OUTBOX_RETENTION_HOURS", "CLAIM_SECONDS": "LOTUS_OUTBOX_CLAIM_SECONDS"},
        "INBOX": {"RETENTION_HOURS": "LOTUS_INBOX_RETENTION_HOURS"},
        "CONSUMER": {
            "MAX_ATTEMPTS": "LOTUS_CONSUMER_MAX_ATTEMPTS",
            "BACKOFF_SECONDS": "LOTUS_CONSUMER_BACKOFF_SECONDS",
            "COMMIT_INTERVAL_MS": "LOTUS_CONSUMER_COMMIT_INTERVAL_MS",
            "PUBLISHES": "LOTUS_CONSUMER_PUBLISHES",
        },
        "WEB": {"PUBLISHES": "LOTUS_WEB_PUBLISHES", "PUBLISH_WAIT_SECONDS": "LOTUS_WEB_PUBLISH_WAIT_SECONDS"},
        "QUEUE": {"HOLD_SECONDS": "LOTUS_QUEUE_HOLD_SECONDS"},
        "DEADLINES": {
            "PAYMENT": "LOTUS_PAYMENT_TIMEOUT",
            "STOCK": "LOTUS_STOCK_TIMEOUT",
            "DELIVERY": "LOTUS_DELIVERY_TIMEOUT",
            "CANCELLING": "LOTUS_CANCELLING_TIMEOUT",
            "CHECK_SECONDS": "LOTUS_DEADLINE_CHECK_SECONDS",
        },
    }

    def __getattr__(self, name):
        return {key: getattr(settings, flat) for key, flat in self._MAP[name].items()}


lotus_settings = _Stub()
