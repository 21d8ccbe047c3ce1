"""Plain-SQL database helpers for the paths that run for every message or request.

:func:`insert` writes new rows at once; :func:`insert_statement` and :func:`run_together`
let a caller write several statements as one: on PostgreSQL, data-modifying ``WITH`` parts of
a single statement (a consumer's batch then costs one round trip for its outbox rows, ledger
entries, history and inbox ids instead of a hundred and fifty); elsewhere one after another.
The unit of work (:mod:`lotus.messaging.unit_of_work`) is their user.

:func:`get` reads one row, :func:`locked` reads it ``FOR UPDATE``, :func:`select` and
:func:`exists` read by a few simple conditions, and :func:`update` writes some fields of an
instance back: the same as ``filter(...).first()``, ``select_for_update().filter(...).first()``,
``filter(...)``, ``filter(...).exists()`` and ``save(update_fields=...)``, in plain SQL.
Like ``bulk_create`` and ``update()``, they call no ``save()`` method and send no model
signals: use them for models that rely on neither.

:func:`insert_unless_present` writes a model instance with ``INSERT … ON CONFLICT DO NOTHING
RETURNING``: the row is created, or an equal row (by a unique constraint) already exists and
nothing happens, in one round trip and without an error that would abort the transaction.

:class:`DatabaseNow` is a time taken from the database's clock rather than this host's, and
:func:`waited_longer_than` compares with it: every process shares that clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.options import Options
from django.utils import timezone

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class Statement:
    """One SQL statement for :func:`run_together`. With ``returns``, it returns one column,
    which :func:`run_together` hands back as text."""

    sql: str
    params: list
    returns: bool = True


def run_together(statements: list[Statement], *, using: str) -> list[list[str]]:
    """Run ``statements`` in order and return what each returned (text; empty for those
    without ``returns``). On PostgreSQL they travel as the parts of one ``WITH`` statement: one
    round trip, and every part sees the tables as they were before the statement (not the rows
    the other parts write); foreign keys between them are checked at commit (Django creates
    them ``DEFERRABLE INITIALLY DEFERRED``). Elsewhere they run one after another, so a later
    statement sees an earlier one's rows: order them so that both engines give the same result
    (reads and updates of existing rows before the inserts)."""
    connection = connections[using]
    if connection.vendor != "postgresql" or len(statements) == 1:
        results = []
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                results.append([str(value) for (value,) in cursor.fetchall()] if statement.returns else [])
        return results
    parts, selects, params = [], [], []
    for index, statement in enumerate(statements):
        parts.append(f"s{index} AS ({statement.sql})")
        if statement.returns:
            # Values travel as text: the parts' types differ (bigint, uuid).
            selects.append(f"SELECT {index}, CAST(v AS text) FROM s{index} AS r{index}(v)")
        params += statement.params
    if not selects:
        selects.append("SELECT -1, NULL")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {' UNION ALL '.join(selects)}", params)
        returned = cursor.fetchall()
    results: list[list[str]] = [[] for _ in statements]
    for index, value in returned:
        if index >= 0:
            results[index].append(value)
    return results


def insert_statement(instances: list[models.Model], *, using: str) -> Statement:
    """The ``INSERT … RETURNING pk`` statement of new instances of one model (at most
    :data:`CHUNK`); give the keys it returns to :func:`set_keys`."""
    if len(instances) > CHUNK:
        raise ValueError(f"{len(instances)} rows in one statement; at most {CHUNK}")
    return Statement(*_insert_statement(instances, connections[using]))


def set_keys(instances: list[models.Model], keys: list[object], *, using: str) -> None:
    """Give inserted ``instances`` the primary keys their ``INSERT`` returned, in order."""
    for row, key in zip(instances, keys, strict=True):
        row.pk = row._meta.pk.to_python(key)
        row._state.adding, row._state.db = False, using


def one_of(column: str, values: list, *, using: str) -> tuple[str, list]:
    """SQL saying that ``column`` is one of ``values``, and its parameters: ``= ANY(%s)`` with
    an array on PostgreSQL (one statement text whatever the count, so it is prepared once),
    ``IN (…)`` elsewhere."""
    if connections[using].vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def insert(rows: list[models.Model], *, using: str) -> None:
    """Insert ``rows`` (new model instances of one model) now and set their primary keys."""
    if rows:
        _insert_all(rows, using=using)


def insert_unless_present(instance: models.Model, *, unique_fields: tuple[str, ...], using: str) -> bool:
    """Insert ``instance`` unless a row with the same ``unique_fields`` exists; on insert, set
    its primary key and return True. ``unique_fields`` must match a unique constraint."""
    quote = connections[using].ops.quote_name
    conflict = ", ".join(quote(instance._meta.get_field(name).column) for name in unique_fields)
    return bool(_insert_all([instance], using=using, on_conflict=f"ON CONFLICT ({conflict}) DO NOTHING"))


#: Rows per INSERT statement (SQLite limits the parameters of one statement).
CHUNK = 200


def _insert_statement(
    instances: list[models.Model], connection: BaseDatabaseWrapper, on_conflict: str = ""
) -> tuple[str, list]:
    """``INSERT … RETURNING pk`` of instances of one model, and its parameters."""
    meta = instances[0]._meta
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.db_returning]  # the database fills those
    columns = ", ".join(quote(field.column) for field in fields)
    rows, values = [], []
    for row in instances:
        placeholders = []
        for field in fields:
            value = field.pre_save(row, add=True)
            if isinstance(value, DatabaseNow):
                sql, params = value.as_sql(connection)
                placeholders.append(sql)
                values += params
            else:
                placeholders.append("%s")
                values.append(field.get_db_prep_save(value, connection))
        rows.append(f"({', '.join(placeholders)})")
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join(rows)} "
        f"{on_conflict} RETURNING {quote(meta.pk.column)}"
    )
    return sql, values


@dataclass(frozen=True)
class DatabaseNow:
    """A time the database fills in from its own clock, ``seconds`` from now: give it as a
    field's value to :func:`insert`, or render it into SQL with :meth:`as_sql`. Times that
    several processes compare (claims, leases) come from one clock this way, not from each
    host's."""

    seconds: float = 0.0

    def as_sql(self, connection: BaseDatabaseWrapper) -> tuple[str, list]:
        if not self.seconds:
            return ("now()", []) if connection.vendor == "postgresql" else ("strftime('%%Y-%%m-%%d %%H:%%M:%%f')", [])
        if connection.vendor == "postgresql":
            return "(now() + CAST(%s AS double precision) * interval '1 second')", [self.seconds]
        # SQLite keeps times as text in Django's format; strftime gives the same shape.
        return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %s)", [f"{self.seconds:+f} seconds"]


def _insert_all(instances: list[models.Model], *, using: str, on_conflict: str = "") -> int:
    """Insert instances of one model with plain ``INSERT … RETURNING`` statements (the ORM's
    ``bulk_create`` costs several times more Python than the database spends); set their
    primary keys and return how many rows were inserted."""
    if on_conflict and len(instances) != 1:
        raise ValueError("a conflict clause needs a single row: which rows were skipped is not returned")
    connection = connections[using]
    inserted = 0
    for start in range(0, len(instances), CHUNK):
        chunk = instances[start : start + CHUNK]
        sql, values = _insert_statement(chunk, connection, on_conflict)
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            keys = [key for (key,) in cursor.fetchall()]
        chunk = chunk[: len(keys)]  # a single row skipped by its conflict clause
        set_keys(chunk, keys, using=using)
        inserted += len(keys)
    return inserted


def get(model: type[M], *, using: str, **equal: object) -> M | None:
    """The row of ``model`` whose fields equal ``equal`` (a unique match), or None."""
    found = _select(model, using, equal, for_update=False)
    return found[0] if found else None


def locked(model: type[M], *, using: str, **equal: object) -> M | None:
    """Like :func:`get`, and the row stays locked ``FOR UPDATE`` until the transaction ends."""
    found = _select(model, using, equal, for_update=True)
    return found[0] if found else None


def select(
    model: type[M], *, using: str, for_update: bool = False, order_by: tuple[str, ...] = (), **conditions: object
) -> list[M]:
    """The rows of ``model`` that match every condition, as instances: ``field=value``,
    ``field__gt=value`` or ``field__in=values`` (the lookups the hot paths need)."""
    return _select(model, using, conditions, for_update=for_update, order_by=order_by)


def exists(model: type[models.Model], *, using: str, **conditions: object) -> bool:
    """Whether a row of ``model`` matches every condition (as in :func:`select`)."""
    connection = connections[using]
    where, params = _where(model._meta, conditions, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {where} LIMIT 1", params)
        return cursor.fetchone() is not None


LOOKUPS = {"": "=", "exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _where(meta: Options, conditions: dict[str, object], connection: BaseDatabaseWrapper) -> tuple[str, list]:
    parts: list[str] = []
    params: list[object] = []
    for key, value in conditions.items():
        name, _, lookup = key.partition("__")
        field = meta.get_field(name)
        column = connection.ops.quote_name(field.column)
        if lookup == "in":
            values = [field.get_db_prep_value(item, connection) for item in value]
            parts.append(f"{column} IN ({', '.join(['%s'] * len(values))})" if values else "1 = 0")
            params += values
        elif lookup in LOOKUPS:
            parts.append(f"{column} {LOOKUPS[lookup]} %s")
            params.append(field.get_db_prep_value(value, connection))
        else:
            raise ValueError(f"lotus.db does not support the lookup {key!r}")
    return " AND ".join(parts) or "1 = 1", params


def _select(
    model: type[M], using: str, conditions: dict[str, object], *, for_update: bool, order_by: tuple[str, ...] = ()
) -> list[M]:
    meta = model._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = meta.concrete_fields
    where, params = _where(meta, conditions, connection)
    order = f" ORDER BY {', '.join(quote(meta.get_field(name).column) for name in order_by)}" if order_by else ""
    lock = " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(field.column) for field in fields)} FROM {quote(meta.db_table)} "
            f"WHERE {where}{order}{lock}",
            params,
        )
        rows = cursor.fetchall()
    columns = [field.get_col(meta.db_table) for field in fields]
    attnames = [field.attname for field in fields]
    return [
        model.from_db(
            using, attnames, [_from_db(column, value, connection) for column, value in zip(columns, row, strict=True)]
        )
        for row in rows
    ]


def update(instance: models.Model, fields: list[str], *, using: str) -> None:
    """Write ``fields`` of an instance loaded from the database (by primary key)."""
    meta = instance._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    values = [field.get_db_prep_save(getattr(instance, field.attname), connection) for field in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(field.column)} = %s' for field in columns)} "
            f"WHERE {quote(meta.pk.column)} = %s",
            [*values, meta.pk.get_db_prep_value(instance.pk, connection)],
        )


def _from_db(column: models.expressions.Col, value: object, connection: BaseDatabaseWrapper) -> object:
    """Convert a raw value as the ORM does (the backend's converters, then the field's)."""
    for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
        value = converter(value, column, connection)
    return value


def database_now(using: str, *, current: bool = False) -> datetime:
    """The database's clock: ``now()`` on PostgreSQL (the start of the current transaction), or
    with ``current`` the moment of the call (``clock_timestamp()``); SQLite runs inside this
    process, so its clock is this process's."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()" if current else "SELECT now()")
        return cursor.fetchone()[0]


def waited_longer_than(seconds: float, *, using: str) -> Callable[[datetime], bool]:
    """A test of whether a moment lies more than ``seconds`` before the database's ``now()``
    (always False when ``seconds`` is 0 or less); the clock is read once, when first needed."""
    cutoff: list[datetime] = []

    def waited(since: datetime) -> bool:
        if seconds <= 0:
            return False
        if not cutoff:
            cutoff.append(database_now(using) - timedelta(seconds=seconds))
        return since < cutoff[0]

    return waited
