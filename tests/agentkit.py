"""Real session agents for tests: started in the test's sandbox, always stopped by pid.

`Shell` is a real `bash -s` that behaves like a hooked shell: it enters the project from a
child process, keeps the capability in an *unexported* variable, and hands it to one
`devsecrets` invocation at a time (as the hook's shell function will).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import DEVSECRETS, trusted_project

from devsecrets.agent import client

CANARIES = {
    "TOKEN": "agentcanary-TOKEN-7c1e9a4f02b6",
    "OTHER": "agentcanary-OTHER-3d8b5e61a9c0",
    "GH_TOKEN": "agentcanary-GHTOK-52f0c7d1e8a4",
}
CONFIG = """\
version: 1
project: shop
secrets:
  TOKEN: op://Staging/tok/credential
  OTHER: op://Staging/other/credential
  GH_TOKEN:
    from: op://Staging/gh/credential
    commands: [gh]
"""
# Read at import: the sandbox fixture removes DEVSECRETS_* variables from each test's env.
STRICT = bool(os.environ.get("DEVSECRETS_TEST_STRICT"))
ENTER = (
    "import sys; from devsecrets.agent import client; "
    "print(client.enter_project(int(sys.argv[1]))['cap'])"
)


def skip_unless_strict(reason: str) -> None:
    """Skip, or fail under DEVSECRETS_TEST_STRICT=1 (CI), where the condition must hold."""
    if STRICT:
        pytest.fail(f"{reason} (DEVSECRETS_TEST_STRICT=1)")
    pytest.skip(reason)


def canary_state(sandbox: Sandbox, latency_ms: float = 0, **kwargs: Any) -> None:
    items = [
        item("tok", {"credential": CANARIES["TOKEN"]}),
        item("other", {"credential": CANARIES["OTHER"]}),
        item("gh", {"credential": CANARIES["GH_TOKEN"]}),
    ]
    write_state(
        sandbox.op_state,
        make_state([vault("Staging", items=items)], latency_ms=latency_ms, **kwargs),
    )


def canary_project(sandbox: Sandbox, root: Path, extra: str = "", latency_ms: float = 0) -> Path:
    canary_state(sandbox, latency_ms)
    return trusted_project(root, CONFIG + extra)


def inject_calls(sandbox: Sandbox) -> int:
    return sum(1 for call in sandbox.op_calls() if "inject" in str(call.get("argv")))


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def agent_pid() -> int | None:
    with contextlib.suppress(client.AgentUnavailable):
        return int(client.status()["pid"])
    return None


def sessions() -> list[dict[str, Any]]:
    return list(client.status()["sessions"])


def session_state(capability: str | None = None) -> str | None:
    """State of the caller's session (the one the capability names), or of the only one."""
    found = [s for s in client.status(capability)["sessions"] if s["yours"] or not capability]
    return str(found[0]["state"]) if found else None


def wait_ready(capability: str | None = None) -> None:
    wait_for(lambda: session_state(capability) in ("ready", "failed"), what="the fetch")


class Agent:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.log = log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def start_agent(tmp_path: Path, *args: str) -> Agent:
    """`devsecrets agent --foreground` as a child of the test, answering on the socket."""
    log = tmp_path / "agent.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            [DEVSECRETS, "agent", "--foreground", *args],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
            cwd="/",
        )
    agent = Agent(proc, log)
    try:
        wait_for(lambda: agent_pid() == proc.pid or proc.poll() is not None, what="the agent")
    except BaseException:
        agent.stop()
        raise
    return agent


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    started = start_agent(tmp_path)
    yield started
    started.stop()


class Shell:
    """A real bash reading commands from a pipe, holding the capability like the hook."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile", "-s"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(os.environ, PWD=str(cwd)),
        )
        self.pid = self.proc.pid
        self.count = 0
        self.status = 0

    def sh(self, command: str, timeout: float = 30) -> str:
        """Run one command line in the shell; its output (stdout and stderr)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.count += 1
        marker = f"__done_{self.count}__"
        self.proc.stdin.write(f"{command}\necho {marker} $?\n".encode())
        self.proc.stdin.flush()
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            if line.startswith(marker):
                self.status = int(line.split()[1])
                return "".join(lines)
            lines.append(line)
        raise AssertionError(f"no answer from the shell to {command!r}: {''.join(lines)}")

    def enter(self) -> str:
        """What the hook does on entering: a capability in an unexported variable. Returns it
        once the agent's fetch has ended (ready or failed)."""
        out = self.sh(f"DS_CAP=$({sys.executable} -c {_quote(ENTER)} $$)")
        assert self.status == 0, out
        capability = self.sh('echo "$DS_CAP"').strip()
        wait_ready(capability)
        return capability

    def run(self, args: str) -> str:
        """`devsecrets run ARGS` as the hook's shell function calls it: the capability on a
        pipe, fd 9."""
        pipe = """9< <(printf '%s' "$DS_CAP")"""
        return self.sh(f"DEVSECRETS_SESSION_FD=9 {DEVSECRETS} run {args} {pipe}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def shells() -> Iterator[Callable[[Path], Shell]]:
    started: list[Shell] = []

    def make(cwd: Path) -> Shell:
        shell = Shell(cwd)
        started.append(shell)
        return shell

    yield make
    for shell in started:
        shell.kill()
