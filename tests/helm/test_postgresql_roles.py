"""Integration: the chart's lotus-roles.sh against a real PostgreSQL 15 server.

The shared server's lotus role may not create roles, so this starts a throwaway cluster of its
own (initdb on a free port, as the postgres user when run as root) and does what the chart
does: the script as the superuser, `createdbs` and `migrateall` as each service's owner role,
the script again (the migrate Job's last step). Then each role is tried for what it may and may
not do, over TCP with its password, as the pods would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from glob import glob
from pathlib import Path

import psycopg
import pytest

from lotus.topology import SERVICES
from tests.helm.test_chart import ROOT, of_kind, render

pytestmark = pytest.mark.integration

SUPERUSER = "lotus"


def passwords() -> dict[str, str]:
    return {f"PW_{s.upper()}{suffix}": f"{s}{suffix.lower()}-pw" for s in SERVICES for suffix in ("", "_RO")}


def url(role: str, database: str, password: str, port: int) -> str:
    return f"postgresql://{role}:{password}@127.0.0.1:{port}/{database}"


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL 15 cluster of this test's own: (port, socket directory, run-as prefix)."""
    binaries = sorted(glob("/usr/lib/postgresql/15/bin"))
    if not binaries:
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    bindir = Path(binaries[-1])
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="lotus-roles-", dir="/tmp"))
    if as_postgres:
        shutil.chown(base, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = base / "data"
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust"],
        check=True,
        capture_output=True,
    )
    # The superuser over the socket only; every other role over TCP with its password.
    hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    subprocess.run([*as_postgres, "sh", "-c", f"printf '{hba}' > {data}/pg_hba.conf"], check=True)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                "psql",
                "-h",
                str(base),
                "-p",
                str(port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-qc",
                "CREATE DATABASE lotus",
            ],
            check=True,
        )
        yield port, base
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(base, ignore_errors=True)


def run_script(port: int, socket_dir: Path) -> str:
    script = of_kind(render("defaults"), "ConfigMap")["lotus-postgresql-initdb"]["data"]["lotus-roles.sh"]
    env = {
        **os.environ,
        **passwords(),
        "PGHOST": str(socket_dir),
        "PGPORT": str(port),
        "POSTGRES_USER": SUPERUSER,
        "POSTGRES_DB": "lotus",
    }
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def migrated(server):
    port, socket_dir = server
    out = run_script(port, socket_dir)
    assert out.split() == [word for s in SERVICES for word in ("lotus-roles:", f"lotus_{s}")]
    # A table an earlier chart version's superuser created: the next run hands it to the owner.
    subprocess.run(
        [
            "psql",
            "-h",
            str(socket_dir),
            "-p",
            str(port),
            "-U",
            SUPERUSER,
            "-d",
            "lotus_billing",
            "-qc",
            "CREATE TABLE legacy (x int)",
        ],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    for service in SERVICES:
        env[f"DATABASE_URL_{service.upper()}"] = url(
            f"lotus_{service}", f"lotus_{service}", passwords()[f"PW_{service.upper()}"], port
        )
    env["DJANGO_SECRET_KEY"] = "roles-test-" + "k" * 50
    for command in ("createdbs", "migrateall"):
        result = subprocess.run(
            [sys.executable, "manage.py", command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    run_script(port, socket_dir)
    return port


def connect(port: int, role: str, database: str) -> psycopg.Connection:
    key = "PW_" + role.removeprefix("lotus_").upper()
    return psycopg.connect(url(role, database, passwords()[key], port), autocommit=True, connect_timeout=5)


def test_each_owner_role_opens_only_its_own_database(migrated):
    port = migrated
    for service in SERVICES:
        with connect(port, f"lotus_{service}", f"lotus_{service}") as conn:
            owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            assert owner.fetchone() == (f"lotus_{service}",)
            conn.execute("CREATE TABLE scratch (x int)")
            conn.execute("DROP TABLE scratch")
        other = "lotus_orders" if service != "orders" else "lotus_billing"
        with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
            connect(port, f"lotus_{service}", other)
    with connect(port, "lotus_billing", "lotus_billing") as conn:
        owner = conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'legacy'").fetchone()
        assert owner == ("lotus_billing",), "the superuser's table went to the owner role"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url("lotus_billing", "lotus_billing", "wrong", port), connect_timeout=5)


def test_the_admins_roles_read_and_write_nothing_but_the_sign_in(migrated):
    port = migrated
    for service in SERVICES:
        with connect(port, f"lotus_{service}_ro", f"lotus_{service}") as conn:
            conn.execute("SELECT count(*) FROM messaging_outboxmessage").fetchone()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM messaging_outboxmessage")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE scratch (x int)")
    with (
        connect(port, "lotus_billing_ro", "lotus_billing") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("UPDATE billing_account SET balance = balance + 1")
    with connect(port, "lotus_profiles", "lotus_profiles") as conn:
        conn.execute(
            "INSERT INTO profiles_customer (password, is_superuser, email, first_name, last_name, is_staff,"
            " is_active, date_joined) VALUES ('x', false, 'op@lotus.test', '', '', true, true, now())"
        )
    with connect(port, "lotus_profiles_ro", "lotus_profiles") as conn:
        conn.execute("INSERT INTO django_session VALUES ('k', 'data', now() + interval '1 day')")
        conn.execute("UPDATE profiles_customer SET last_login = now()")
        # manage.py reconcile, with the admin's roles, stores its runs and prunes the oldest.
        conn.execute(
            "INSERT INTO reconciliation_reconciliationrun"
            " (started_at, duration_seconds, grace_seconds, disagreements, counts, judged)"
            " VALUES (now(), 0.1, 60, '[]', '{}', '{}')"
        )
        conn.execute("DELETE FROM reconciliation_reconciliationrun")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE profiles_customer SET is_superuser = true")
    with connect(port, "lotus_orders_ro", "lotus_orders") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM django_migrations")
