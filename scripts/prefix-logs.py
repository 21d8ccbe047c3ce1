"""Print the output of `make up`'s programs on the terminal, each line prefixed by its program.

supervisord writes each program's output to ``STATE_DIR/<program>.log`` (scripts/supervisord-conf.sh)
and runs this as its first-started, last-stopped program. Reading the files rather than sitting
in each program's pipe keeps the pid supervisord watches the program's own and loses nothing:
supervisord has written a program's last words, such as the traceback of a failed start, to
its file before it reports the exit, and on SIGTERM this prints what is left before exiting.

    python scripts/prefix-logs.py STATE_DIR PROGRAM...
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.1


class Follower:
    """One program's log file, followed across supervisord's rotations."""

    def __init__(self, path: Path, prefix: str) -> None:
        self.path = path
        self.prefix = prefix
        self.file = None
        self.partial = b""

    def pump(self, out, *, final: bool = False) -> None:
        if self.file is None:
            try:
                self.file = self.path.open("rb")
            except FileNotFoundError:
                return
        self._emit(self.file.read(), out)
        try:
            rotated = os.stat(self.path).st_ino != os.fstat(self.file.fileno()).st_ino
        except FileNotFoundError:
            rotated = True
        if rotated:
            self._emit(self.file.read(), out)
            self.file.close()
            self.file = None
            if not final:
                self.pump(out)
        if final and self.partial:
            self._emit(b"\n", out)

    def _emit(self, data: bytes, out) -> None:
        if not data:
            return
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            out.write(self.prefix + line + b"\n")


def main(state_dir: str, *programs: str) -> None:
    width = max(map(len, programs))
    followers = [Follower(Path(state_dir) / f"{name}.log", f"{name:<{width}} | ".encode()) for name in programs]
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    out = sys.stdout.buffer
    while not stopping:
        for follower in followers:
            follower.pump(out)
        out.flush()
        time.sleep(POLL_SECONDS)
    for follower in followers:
        follower.pump(out, final=True)
    out.flush()


if __name__ == "__main__":
    main(*sys.argv[1:])
