"""Database helpers for the apps' hot paths, where one statement instead of three matters.

:func:`insert_unless_present` writes a model instance with ``INSERT … ON CONFLICT DO NOTHING
RETURNING``: the row is created, or an equal row (by a unique constraint) already exists and
nothing happens, in one round trip and without an error that would abort the transaction.
It works on PostgreSQL and SQLite.
"""

from __future__ import annotations

from django.db import connections, models


def insert_unless_present(instance: models.Model, *, unique_fields: tuple[str, ...], using: str) -> bool:
    """Insert ``instance`` unless a row with the same ``unique_fields`` exists; on insert, set
    its primary key and return True. ``unique_fields`` must match a unique constraint."""
    meta = instance._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.db_returning]  # the database fills those
    columns = ", ".join(quote(field.column) for field in fields)
    values = [field.get_db_prep_save(field.pre_save(instance, add=True), connection) for field in fields]
    conflict = ", ".join(quote(meta.get_field(name).column) for name in unique_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(meta.pk.column)}",
            values,
        )
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = meta.pk.to_python(row[0])
    instance._state.adding, instance._state.db = False, using
    return True
