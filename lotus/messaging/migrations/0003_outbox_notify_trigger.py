"""On PostgreSQL, every outbox insert notifies the relay (``NOTIFY lotus_outbox``) from a
trigger: no extra round trip per published message, and the server delivers the
notification only when the inserting transaction commits (one per transaction)."""

from django.db import migrations

CREATE = """
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

DROP = """
DROP TRIGGER IF EXISTS lotus_outbox_notify ON messaging_outboxmessage;
DROP FUNCTION IF EXISTS lotus_outbox_notify();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0002_billingdeadletter_billinginboxmessage_and_more")]

    operations = [migrations.RunPython(create, drop)]
