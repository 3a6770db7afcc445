"""`python -m bot run` started by make stops its services when make ends (a killed make leaves them running),
once everything is up and while it is still starting."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR

# `run`'s supervision of one long-lived service, started by a parent that then stands in for make
CHILD = """
import os, subprocess
from bot import runtime
from bot.cli import _supervise
service = subprocess.Popen(["sleep", "60"])
print(service.pid, flush=True)
try:
    print(_supervise([service], started_by=os.getppid()), flush=True)
finally:
    runtime.stop(service)
"""
# `run` still starting up (installing, waiting for Rasa): no supervision loop yet, only the parent's death signal
STARTING = """
import signal, subprocess, time
from bot import runtime
from bot.cli import _stop_on_sigterm, _stop_with_parent
signal.signal(signal.SIGTERM, _stop_on_sigterm)
_stop_with_parent()
service = subprocess.Popen(["sleep", "60"])
print(service.pid, flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print("stopped while starting", flush=True)
finally:
    runtime.stop(service)
"""


def _parent_of(child: str) -> str:
    """A parent standing in for make: it starts `child` and waits."""
    return f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"


def _running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][0] != "Z"  # a zombie has ended


@pytest.mark.parametrize(("child", "reason"), [(CHILD, "ended"), (STARTING, "stopped while starting")])
def test_the_services_stop_when_the_command_that_started_run_ends(child, reason):
    parent = subprocess.Popen(
        [sys.executable, "-c", _parent_of(child)], cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True
    )
    try:
        service = int(parent.stdout.readline())
        time.sleep(1.5)
        assert _running(service), "the service runs while its parent lives"
        parent.kill()  # as when make is killed: nothing is passed on to its recipe's command
        parent.wait()
        deadline = time.monotonic() + 10
        while _running(service) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(service)
        assert reason in parent.stdout.readline()  # the child's last word, written to the pipe it still holds
    finally:
        parent.kill()
        parent.stdout.close()


def test_without_a_parent_to_watch_supervision_ends_only_when_a_service_stops():
    from bot.cli import _supervise

    service = subprocess.Popen(["sleep", "1"])
    started = time.monotonic()
    assert _supervise([service], started_by=None).startswith("A process stopped")
    assert time.monotonic() - started >= 0.9
