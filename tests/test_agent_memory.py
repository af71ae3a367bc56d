"""After every wipe trigger the agent's memory holds no copy of any value.

Canary values come from the fake `op` (1Password path: values stay in bytearrays from `op
inject`'s pipe to the socket). The keyring path is not covered: `keyring` returns `str`,
which CPython cannot wipe. The agent's whole address space is read through /proc/PID/maps and
/proc/PID/mem; the agent is not dumpable, so only root can (CI runs as root).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from agentkit import (
    CANARIES,
    Agent,
    Shell,
    agent,
    canary_project,
    sessions,
    shells,
    skip_unless_strict,
    wait_for,
)
from conftest import Sandbox
from helpers import DEVSECRETS
from memscan import count_in_memory

from devsecrets.agent import client

__all__ = ["agent", "shells"]  # fixtures, imported to be used here
Shells = Callable[[Path], Shell]
F_SETPIPE_SZ = 1031


def canaries_in(pid: int) -> int:
    return sum(count_in_memory(pid, value.encode()) for value in CANARIES.values())


def require_readable(pid: int) -> None:
    try:
        count_in_memory(pid, b"probe")
    except OSError as exc:
        skip_unless_strict(f"cannot read the agent's memory ({exc.strerror}): run as root")


def held_session(
    sandbox: Sandbox, tmp_path: Path, shells: Shells, agent_pid: int, extra: str = ""
) -> tuple[Shell, str]:
    """A hooked shell in the canary project whose `run` was served by the agent."""
    require_readable(agent_pid)
    shell = shells(canary_project(sandbox, tmp_path, extra=extra))
    capability = shell.enter()
    out = shell.run("-- sh -c 'test -n \"$TOKEN\" && echo served'")
    assert "served" in out and shell.status == 0
    during = canaries_in(agent_pid)
    print(f"canary copies in the agent's memory during the session: {during}")
    assert during >= len(CANARIES)  # the scan finds every value while it is held
    return shell, capability


def assert_wiped(agent: Agent) -> None:
    wait_for(lambda: sessions() == [], what="the wipe")
    assert canaries_in(agent.pid) == 0


def test_leave(agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    _, capability = held_session(sandbox, tmp_path, shells, agent.pid)
    assert client.leave(capability)["wiped"] is True
    assert_wiped(agent)


def test_ttl(agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    held_session(sandbox, tmp_path, shells, agent.pid, extra="policy:\n  session_ttl: 1s\n")
    assert_wiped(agent)


def test_lock(agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    held_session(sandbox, tmp_path, shells, agent.pid)
    result = subprocess.run([DEVSECRETS, "lock"], capture_output=True, check=True)
    assert b"wiped 1 session" in result.stdout
    assert canaries_in(agent.pid) == 0


def test_shell_exit(agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    shell, _ = held_session(sandbox, tmp_path, shells, agent.pid)
    shell.kill()
    assert_wiped(agent)


def test_config_change(agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    held_session(sandbox, tmp_path, shells, agent.pid)
    config = tmp_path / "proj" / ".devsecrets.yml"
    config.write_text(config.read_text().replace("OTHER:", "RENAMED:"))
    assert_wiped(agent)  # noticed by the agent itself, before any `run`


def test_trust_withdrawn(agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    held_session(sandbox, tmp_path, shells, agent.pid)
    subprocess.run([DEVSECRETS, "deny"], cwd=tmp_path / "proj", capture_output=True, check=True)
    assert_wiped(agent)


def test_sigterm(sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    """The agent logs "wiped" right after each wipe. With its stderr a full pipe it stops at
    that line, alive, so its memory can be read between the wipe and its exit."""
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen([DEVSECRETS, "agent", "--foreground"], stderr=write_fd, cwd="/")
    stopping = Agent(proc, tmp_path / "unused.log")
    try:
        wait_for(lambda: _answering(proc.pid), what="the agent")
        held_session(sandbox, tmp_path, shells, proc.pid)
        os.set_blocking(read_fd, False)
        with contextlib.suppress(BlockingIOError):
            while os.read(read_fd, 65536):  # what the agent logged so far
                pass
        os.set_blocking(write_fd, False)
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(write_fd, b".")  # fill the pipe: the agent's next write blocks
        os.set_blocking(write_fd, True)  # (the flag is shared with the agent's copy)
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: _blocked_in_write(proc.pid), what="the agent to stop at its log line")
        assert canaries_in(proc.pid) == 0
    finally:
        stopping.stop()
        os.close(read_fd)
        os.close(write_fd)


def _answering(pid: int) -> bool:
    with contextlib.suppress(client.AgentUnavailable):
        return bool(client.status()["pid"] == pid)
    return False


def _blocked_in_write(pid: int) -> bool:
    with open(f"/proc/{pid}/wchan") as wchan:
        return "pipe_write" in wchan.read()
