"""proc.stop_all(): nothing devsecrets started is left running when it leaves, even a
command a worker thread is starting at that very moment."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import pytest

from devsecrets import proc


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """stop_all() is once per process: each test gets its own state, and leaves none."""
    monkeypatch.setattr(proc, "_stopping", False)
    monkeypatch.setattr(proc, "_starting", 0)
    monkeypatch.setattr(proc, "_live", set())


def test_stop_all_kills_a_command_still_being_started(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []
    forked, release, release_cleanup = threading.Event(), threading.Event(), threading.Event()
    real_popen = subprocess.Popen

    def slow_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child = real_popen(*args, **kwargs)  # running, not yet registered by proc.run
        started.append(child)
        forked.set()
        release.wait(10)
        return child

    monkeypatch.setattr(subprocess, "Popen", slow_popen)
    # On SIGTERM devsecrets kills itself right after stop_all(): the worker's own clean-up
    # may never run, so here it never gets past its start.
    monkeypatch.setattr(proc, "_kill_group", lambda child: release_cleanup.wait(10))
    outcome: list[BaseException] = []

    def worker() -> None:
        try:
            proc.run(["sleep", "60"], timeout=30)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert forked.wait(10)
        threading.Timer(0.2, release.set).start()
        proc.stop_all()  # returns only once the command it was starting is killed
        try:
            code = started[0].wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        assert code == -9, "the command being started was left running"
    finally:
        release.set()
        release_cleanup.set()
        for child in started:
            child.kill()
        thread.join(10)
    assert [type(exc) for exc in outcome] == [proc.Stopped]


def test_nothing_starts_after_stop_all() -> None:
    proc.stop_all()
    with pytest.raises(proc.Stopped):
        proc.run(["true"], timeout=5)


def test_a_command_runs_and_is_forgotten() -> None:
    done = proc.run(["sh", "-c", "printf out; printf err >&2; exit 3"], timeout=5)
    assert (done.returncode, bytes(done.stdout), done.stderr) == (3, b"out", "err")
    assert proc._live == set()
