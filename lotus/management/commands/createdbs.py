"""``manage.py createdbs``: create each service's database if it does not exist yet."""

import time
from pathlib import Path

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from psycopg import sql


class Command(BaseCommand):
    help = "Create the missing service databases (PostgreSQL) or their folder (SQLite)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--fresh", action="store_true", help="drop the databases first (throw-away stacks: end-to-end tests)"
        )

    def handle(self, *args, fresh, **options):
        for alias in connections:
            config = connections[alias].settings_dict
            if connections[alias].vendor == "sqlite":
                path = Path(config["NAME"])
                path.parent.mkdir(parents=True, exist_ok=True)
                if fresh:
                    for leftover in path.parent.glob(f"{path.name}*"):
                        leftover.unlink()
                continue
            try:
                created = _create_postgres_database(config, fresh=fresh)
            except psycopg.Error as exc:
                where = f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}"
                raise CommandError(f"cannot create database {config['NAME']} on {where}: {exc}") from exc
            self.stdout.write(f"createdbs: {config['NAME']} {'created' if created else 'exists'}")


def _create_postgres_database(config: dict, *, fresh: bool) -> bool:
    with psycopg.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        if fresh:
            _drop_database(conn, config["NAME"])
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (config["NAME"],)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
        return True


def _drop_database(conn: psycopg.Connection, name: str, *, attempts: int = 20) -> None:
    """``DROP … WITH (FORCE)`` ends the database's sessions, but PostgreSQL refuses to end an
    autovacuum worker's (it belongs to no role the user may signal): one is often busy on a
    database a benchmark or test has just filled. It ends within seconds; try again until then."""
    for attempt in range(1, attempts + 1):
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == attempts:
                raise
            time.sleep(0.5)
