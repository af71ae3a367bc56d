"""Ctrl-C while 1Password is being asked: devsecrets leaves at once with 130, and no `op`
it started is left running (op runs in its own session, so the terminal's SIGINT never
reaches it: devsecrets must kill it)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pexpect
import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import DEVSECRETS, trusted_project

CONFIG = """\
project: shop
secrets:
  STRIPE_API_KEY: op://Staging/stripe/credential
  PAYPAL_KEY: op://Sandbox/paypal/credential
"""
OP_TIMEOUT = 12


@pytest.fixture
def hanging_project(sandbox: Sandbox, tmp_path: Path) -> Path:
    write_state(
        sandbox.op_state,
        make_state(
            [
                vault("Staging", items=[item("stripe", {"credential": "v1"})]),
                vault("Sandbox", items=[item("paypal", {"credential": "v2"})]),
            ],
            mode="hang",
        ),
    )
    return trusted_project(tmp_path, CONFIG)


def _alive(pid: object) -> bool:
    """Running, and not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat.rsplit(") ", 1)[1].startswith("Z")


def _left_running(sandbox: Sandbox) -> list[dict[str, object]]:
    """The op processes still alive once those killed have had time to die: a SIGKILLed
    process on a busy machine can show as running for a while. A hanging op that nobody
    killed never ends (the fake hangs forever), so this wait cannot hide one."""
    deadline = time.monotonic() + 5
    while True:
        left = [c for c in sandbox.op_calls() if _alive(c["pid"])]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _wait_for_hanging_op(sandbox: Sandbox, calls: int) -> None:
    """Until `calls` op processes that hang are running (`--version` answers at once)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hanging = [c for c in sandbox.op_calls() if c["argv"] != ["--version"]]
        if len(hanging) >= calls and all(_alive(c["pid"]) for c in hanging):
            return
        time.sleep(0.05)
    raise AssertionError(f"op was not started: {sandbox.op_calls()}")


@pytest.mark.parametrize(
    ("args", "calls"),
    [
        (["run", "--", "true"], 3),  # one inject, one item list per vault
        (["status"], 2),
        (["rotate", "--due"], 2),
        (["rotate", "STRIPE_API_KEY"], 1),
        (["doctor"], 1),
        (["onboard", "--check"], 1),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_ctrl_c_while_op_hangs_exits_at_once_and_kills_op(
    sandbox: Sandbox, hanging_project: Path, args: list[str], calls: int
) -> None:
    env = dict(os.environ, PWD=str(hanging_project), DEVSECRETS_OP_TIMEOUT=str(OP_TIMEOUT))
    child = pexpect.spawn(DEVSECRETS, args, cwd=str(hanging_project), env=env, timeout=OP_TIMEOUT)
    try:
        _wait_for_hanging_op(sandbox, calls)
        time.sleep(0.3)
        interrupted = time.monotonic()
        child.sendintr()
        child.expect(pexpect.EOF)
        elapsed = time.monotonic() - interrupted
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, child.before
    assert elapsed < 3, f"exited {elapsed:.1f} s after Ctrl-C"
    assert _left_running(sandbox) == [], "op processes left running"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("args", [["run", "--", "true"], ["status"]], ids=" ".join)
def test_sigterm_or_a_closed_terminal_while_op_hangs_kills_op_too(
    sandbox: Sandbox, hanging_project: Path, args: list[str], sig: signal.Signals
) -> None:
    env = dict(os.environ, PWD=str(hanging_project), DEVSECRETS_OP_TIMEOUT=str(OP_TIMEOUT))
    child = subprocess.Popen(
        [DEVSECRETS, *args], cwd=hanging_project, env=env, stderr=subprocess.PIPE
    )
    try:
        _wait_for_hanging_op(sandbox, 3 if args[0] == "run" else 2)
        signalled = time.monotonic()
        child.send_signal(sig)
        _, err = child.communicate(timeout=OP_TIMEOUT)
        elapsed = time.monotonic() - signalled
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -sig, err  # left as killed by that signal, as without us
    assert elapsed < 3 and b"Traceback" not in err
    assert _left_running(sandbox) == [], "op processes left running"
