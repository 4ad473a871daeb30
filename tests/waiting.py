"""Bounded waits on real subprocesses, woken by the event itself.

A test that starts a process waits on the process (``Popen.wait``) or on the
lines it prints (``select`` on its stdout), never in a sleep loop against the
wall clock. The bounds only catch a hung process: a healthy one ends the wait
as soon as the event happens, however loaded the machine.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time

# Long enough for a worker to start torch on a busy two-core machine.
PROCESS_BOUND = 120.0


def wait_for_exit(proc: subprocess.Popen, timeout: float = PROCESS_BOUND, what: str = "the process") -> int:
    """``proc``'s exit status; kills it and fails the test if it runs past ``timeout`` seconds."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{what} still ran after {timeout:.0f} s: killed") from None


def wait_for_line(proc: subprocess.Popen, wanted, timeout: float = PROCESS_BOUND, what: str = "a line") -> str:
    """The first line ``proc`` prints on its stdout (a pipe) for which ``wanted(line)`` is true.

    Reads the pipe's bytes as they come (a buffered reader could hold a line
    back while ``select`` waits). Fails if the process closes its stdout
    first, or after ``timeout`` seconds.
    """
    deadline, pending = time.monotonic() + timeout, b""
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if wanted(line.decode(errors="replace")):
                    return line.decode(errors="replace")
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise AssertionError(f"no {what} within {timeout:.0f} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the process ended (status {proc.wait()}) before printing {what}")
            pending += chunk


def wait_until(condition, timeout: float = PROCESS_BOUND, what: str = "the condition") -> None:
    """Poll ``condition()`` every 50 ms until it is true; fail after ``timeout`` seconds.

    Only for what a running process writes into a file it rewrites atomically
    (an experiment's progress.json): there is no event to wait on without
    inotify. Everything else waits on the process or its output above.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)
