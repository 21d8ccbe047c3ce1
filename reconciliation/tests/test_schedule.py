"""``manage.py reconcile --every``: a worker process that runs on a schedule, stores each run and
stops cleanly (exit 0) on SIGTERM; a run that finds disagreements exits 1 (real PostgreSQL)."""

import signal
import subprocess
import sys

import pytest

from lotus.testing import wait_for, worker_environment
from lotus.topology import SERVICES
from reconciliation.models import ReconciliationRun
from stock.models import StockItem

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


def reconcile(*args: str, **kwargs):
    command = [sys.executable, "manage.py", "reconcile", *args]
    return command, {"env": worker_environment(*SERVICES), "text": True, **kwargs}


def test_every_runs_on_a_schedule_and_stops_on_sigterm():
    command, options = reconcile("--every", "0.2", "--grace", "0")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **options)
    try:
        wait_for(lambda: ReconciliationRun.objects.count() >= 2, timeout=60, message="two scheduled runs")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output[-3000:]
    assert output.count("reconcile: 0 disagreement(s)") >= 2
    assert "finishing the work in hand" in output


def test_one_run_exits_1_and_names_what_disagrees():
    StockItem.objects.create(product_id=77, on_hand=1, reserved=1, received=2)  # one held, no reservation
    command, options = reconcile("--grace", "0")
    result = subprocess.run(command, capture_output=True, timeout=120, **options)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "stock_counter: product 77: 1 reserved, reservations hold 0" in result.stdout
    assert "reconcile: 1 disagreement(s) (stock_counter 1)" in result.stdout
