"""The suite's own supervisor: one process group per Lotus process, restarted whenever it exits.

honcho stops the whole stack when one child dies, which is the opposite of what a chaos run
needs. Here every exit is noticed within half a second and the process is started again; an
exit the suite did not cause (a SIGKILL it sent, or the stop at the end) is recorded with its
exit code and the last lines of its log, because "no process exited without being killed" is
one of the invariants.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: How long a process stays down before it is started again (as a container would).
RESTART_DELAY = 1.0


@dataclass
class Exit:
    name: str
    code: int
    at: float
    last_lines: list[str]

    def describe(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.at))
        tail = " | ".join(line.strip() for line in self.last_lines[-3:])
        return f"{self.name} exited with {self.code} at {stamp}: {tail[:400]}"


@dataclass
class Process:
    name: str
    command: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None
    expect_exit: bool = False
    frozen: bool = False
    starts: int = 0

    @property
    def kind(self) -> str:
        """relay, consume, web, deadlines or router: what a fault picks among."""
        return self.name.split("-", 1)[0]

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, base_env: dict[str, str], cwd: Path) -> None:
        self.expect_exit = False
        self.frozen = False
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n=== chaos: start #{self.starts} at {time.strftime('%H:%M:%S')}\n".encode())
            self.popen = subprocess.Popen(
                ["sh", "-c", f"exec {self.command}"],
                cwd=cwd,
                env={**base_env, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: gunicorn's workers die with it
            )

    def signal(self, signum: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def tail(self, lines: int = 15) -> list[str]:
        try:
            with self.log.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 8192))
                return log.read().decode(errors="replace").splitlines()[-lines:]
        except OSError:
            return []


def from_procfile(text: str, log_dir: Path) -> list[Process]:
    """``name: command`` lines, as ``scripts/stack.sh procfile`` writes them."""
    processes = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes.append(Process(name.strip(), command.strip(), log_dir / f"{name.strip()}.log"))
    return processes


def replica(process: Process, name: str) -> Process:
    """Another instance of ``process`` (a standby relay, a second consumer), without its metrics port."""
    command = re.sub(r"LOTUS_METRICS_PORT=\d+", "LOTUS_METRICS_PORT=0", process.command)
    return Process(name, command, process.log.with_name(f"{name}.log"), dict(process.env))


class Supervisor:
    def __init__(self, processes: list[Process], env: dict[str, str], cwd: Path) -> None:
        self.processes = {process.name: process for process in processes}
        self.env = env
        self.cwd = cwd
        self.unexpected: list[Exit] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        for process in self.processes.values():
            process.start(self.env, self.cwd)
        self.watcher.start()

    def named(self, kind: str) -> list[Process]:
        return [process for process in self.processes.values() if process.kind == kind]

    def kill(self, process: Process) -> bool:
        """SIGKILL the process group (the watcher starts it again); False if it was not running."""
        with self.lock:
            if not process.running:
                return False  # it exited by itself just now: that exit stays unexpected
            process.expect_exit = True
            process.frozen = False
            process.signal(signal.SIGKILL)
            return True

    def freeze(self, process: Process) -> None:
        with self.lock:
            process.frozen = True
            process.signal(signal.SIGSTOP)

    def thaw(self, process: Process) -> None:
        with self.lock:
            process.frozen = False
            process.signal(signal.SIGCONT)

    def thaw_all(self) -> None:
        for process in self.processes.values():
            if process.frozen:
                self.thaw(process)

    def all_running(self) -> bool:
        return all(process.running for process in self.processes.values())

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            for process in self.processes.values():
                with self.lock:
                    code = process.popen.poll() if process.popen is not None else None
                    if code is None or self.stopping.is_set():
                        continue
                    if not process.expect_exit:
                        self.unexpected.append(Exit(process.name, code, time.time(), process.tail()))
                        print(
                            f"chaos: {time.strftime('%H:%M:%S')} {process.name} exited by itself ({code})", flush=True
                        )
                # Outside the lock: a fault may pick another process meanwhile.
                time.sleep(RESTART_DELAY)
                with self.lock:
                    if not self.stopping.is_set():
                        process.start(self.env, self.cwd)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGCONT and SIGTERM everything, then SIGKILL what is left after ``timeout``."""
        self.stopping.set()
        with self.lock:
            for process in self.processes.values():
                process.expect_exit = True
                process.signal(signal.SIGCONT)
                process.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            if process.popen is None:
                continue
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"chaos: {process.name} did not stop within {timeout:.0f} s; SIGKILL", flush=True)
                process.signal(signal.SIGKILL)
                process.popen.wait(5)
