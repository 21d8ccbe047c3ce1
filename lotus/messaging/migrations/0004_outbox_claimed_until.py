"""Outbox rows a consumer publishes itself carry ``claimed_until``; the relay leaves them alone
until then. On PostgreSQL the insert trigger now wakes the relay only for unclaimed rows, so a
consumer's batch does not wake a relay that would find nothing to do."""

from django.db import migrations, models

NOTIFY_UNCLAIMED = """
CREATE OR REPLACE FUNCTION lotus_outbox_notify() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted WHERE claimed_until IS NULL) THEN
        PERFORM pg_notify('lotus_outbox', '');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS lotus_outbox_notify ON messaging_outboxmessage;
CREATE TRIGGER lotus_outbox_notify AFTER INSERT ON messaging_outboxmessage
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION lotus_outbox_notify();
"""

NOTIFY_EVERY = """
CREATE OR REPLACE FUNCTION lotus_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('lotus_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS lotus_outbox_notify ON messaging_outboxmessage;
CREATE TRIGGER lotus_outbox_notify AFTER INSERT ON messaging_outboxmessage
    FOR EACH STATEMENT EXECUTE FUNCTION lotus_outbox_notify();
"""


def notify_unclaimed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOTIFY_UNCLAIMED)


def notify_every(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOTIFY_EVERY)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0003_outbox_notify_trigger")]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="claimed_until",
            field=models.DateTimeField(
                blank=True,
                help_text="Set while the consumer that wrote the row publishes it; the relay leaves it alone until then.",
                null=True,
            ),
        ),
        migrations.RunPython(notify_unclaimed, notify_every),
    ]
