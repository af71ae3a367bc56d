"""The shell hooks wired to the session agent, in real bash, zsh and fish on a pty.

Entering a trusted project starts a fetch in the agent (started on demand) and returns at
once; a later prompt prints the agent's report. `devsecrets` in the shell is a function that
hands the capability to devsecrets alone, so `run` is served from the agent (the fake op's
call log shows no new `inject`); leaving, losing trust, `lock`, the shell exiting and a
killed agent all end in a shell that holds nothing anybody else can use. After every step
(`checked`): no canary, no capability, no hook variable in what the shell exports.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import agent, agent_pid, inject_calls, wait_for
from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import DEVSECRETS, store_keyring, write_project
from shellkit import (
    CANARY_KR,
    CANARY_OP,
    CONFIG,
    ENTERED,
    LEFT,
    READY,
    SHELLS,
    Shell,
    canaries,
    hook_file,
    shell,
    world,
)

from devsecrets.agent import client
from devsecrets.agent.rundir import socket_path

__all__ = ["agent", "canaries", "shell", "world"]  # fixtures
pytestmark = pytest.mark.shells
SHOW = "devsecrets run -- sh -c 'echo key=$STRIPE_API_KEY db=$DATABASE_URL'"


def sessions_of(shell: Shell) -> list[dict[str, Any]]:
    """The agent's sessions bound to this shell (none when no agent runs)."""
    try:
        every = client.status()["sessions"]
    except client.AgentUnavailable:
        return []
    return [s for s in every if s["shell"] == shell.pid]


def enter(shell: Shell, line: str = "cd shop") -> str:
    """Enter the project, wait for the report, return the capability the shell holds."""
    mark = shell.mark()
    assert ENTERED in shell.checked(line)
    shell.await_line(READY, mark)
    capability = shell.variable("__devsecrets_cap")
    assert capability.startswith("dsc1_")
    [session] = sessions_of(shell)
    assert session["state"] == "ready"
    return capability


def served_by_the_agent(shell: Shell, sandbox: Sandbox) -> None:
    before = inject_calls(sandbox)
    out = shell.checked(SHOW)
    assert "key=<concealed by devsecrets> db=<concealed by devsecrets>" in out
    assert CANARY_OP not in out and CANARY_KR not in out
    assert inject_calls(sandbox) == before, "the run asked 1Password itself"


def not_a_shell_variable(shell: Shell, name: str) -> None:
    if shell.kind == "fish":
        assert "unset" in shell.step(f"set -q {name}; or echo unset")
    else:
        assert "[unset]" in shell.step(f'echo "[${{{name}-unset}}]"')


def test_enter_fetch_run_and_leave(shell: Shell, sandbox: Sandbox, tmp_path: Path) -> None:
    # Without a capability the function just runs devsecrets.
    is_function = "functions -q devsecrets; and echo function" if shell.kind == "fish" else ""
    assert "function" in shell.step(is_function or "type devsecrets")
    assert "no .devsecrets.yml" in shell.checked("devsecrets run -- true")
    capability = enter(shell)
    assert inject_calls(sandbox) == 1  # the agent's fetch
    served_by_the_agent(shell, sandbox)
    not_a_shell_variable(shell, "DEVSECRETS_SESSION")
    assert "devsecrets:" not in shell.checked("cd src")  # same project, same session
    served_by_the_agent(shell, sandbox)
    # Programs of the shell, and the child of `run`, never see the capability.
    python = f"{sys.executable} -c 'import os; print(sorted(os.environ.items()))'"
    for line in (python, "devsecrets run -- env", f"devsecrets run -- {python}"):
        out = shell.checked(line)
        assert "DEVSECRETS_SESSION" not in out and capability not in out, line
    # devsecrets and the hook's call get it never in argv (/proc/PID/cmdline) ...: spies on
    # PATH and in place of the hook's python say so.
    spy, argv_log, env_log = tmp_path / "spy", tmp_path / "argv.log", tmp_path / "env.log"
    spy.mkdir()
    for name, real in (("devsecrets", DEVSECRETS), ("python", sys.executable)):
        (spy / name).write_text(
            f'#!/bin/sh\necho "$0 $*" >> "{argv_log}"\nenv >> "{env_log}"\nexec "{real}" "$@"\n'
        )
        (spy / name).chmod(0o755)
    shell.step(f"set -gx PATH {spy} $PATH" if shell.kind == "fish" else f"PATH={spy}:$PATH")
    assert "(staging)" in shell.checked("devsecrets status")  # not `run`: not given it
    assert "DEVSECRETS_SESSION" not in env_log.read_text()
    assert "ran" in shell.checked("devsecrets run -- echo ran")
    shell.assign("__devsecrets_python", str(spy / "python"))
    assert LEFT in shell.checked("cd ../..")  # the hook's call sends `leave` with it
    assert argv_log.read_text().count(str(spy)) == 3
    assert capability not in argv_log.read_text()
    # ... nor in any environment: on a pipe, named by DEVSECRETS_SESSION_FD.
    assert capability not in env_log.read_text()
    assert env_log.read_text().count("DEVSECRETS_SESSION_FD=") == 2
    assert sessions_of(shell) == []  # wiped before the prompt came back
    assert shell.variable("__devsecrets_cap") == ""
    assert "devsecrets:" not in shell.checked("true")


def test_a_slow_provider_does_not_hold_up_the_prompt(
    agent: object, shell: Shell, sandbox: Sandbox
) -> None:
    latency = 1.0
    state = make_state(
        [vault("Staging", items=[item("stripe-sandbox", {"credential": CANARY_OP})])],
        latency_ms=latency * 1000,
    )
    write_state(sandbox.op_state, state)
    mark = shell.mark()
    started = time.monotonic()
    assert ENTERED in shell.step("cd shop")
    assert time.monotonic() - started < latency / 2, "the prompt waited for 1Password"
    assert [s["state"] for s in sessions_of(shell)] == ["fetching"]
    out = shell.step(SHOW)  # waits for the agent's fetch, which is already under way
    assert "key=<concealed by devsecrets>" in out
    assert inject_calls(sandbox) == 1  # the agent's
    shell.await_line(READY, mark)


def test_leaving_the_shell_wipes_its_session(tmp_path: Path, world: Path) -> None:
    for kind in SHELLS:
        session = Shell(kind, tmp_path, world, hook_file(tmp_path, kind))
        enter(session)
        session.close()  # the agent notices the dead shell pid by itself: no hook runs
        wait_for(lambda s=session: sessions_of(s) == [], what=f"{kind}'s session to go")


def test_a_recheck_retires_the_capability_it_passed_on(
    shell: Shell, sandbox: Sandbox, world: Path
) -> None:
    """The hook's call carries the capability in its environment, which the user's other
    processes can read for a moment — and they can make the hook call again by touching the
    config. The session stands, under a new capability; the one passed on is dead."""
    old = enter(shell)
    record = os.stat(shell.variable("__devsecrets_record")).st_mtime
    os.utime(world / "shop" / ".devsecrets.yml", (record + 5, record + 5))
    assert "devsecrets:" not in shell.checked("true")  # re-checked: nothing new to say
    new = shell.variable("__devsecrets_cap")
    assert new.startswith("dsc1_") and new != old
    with pytest.raises(client.AgentUnavailable, match="no such session"):
        client.renew(old)
    [session] = sessions_of(shell)
    assert session["state"] == "ready"
    served_by_the_agent(shell, sandbox)  # the same values: no new fetch


def test_tracing_the_shell_never_prints_the_capability(shell: Shell, sandbox: Sandbox) -> None:
    trace = {"bash": "set -x", "zsh": "setopt xtrace", "fish": "set -g fish_trace 1"}
    shell.step(trace[shell.kind])
    mark = shell.mark()
    assert ENTERED in shell.step("cd shop")
    shell.await_line(READY, mark)
    traced = shell.since(mark)
    capability = shell.variable("__devsecrets_cap")  # (prints it: not part of `traced`)
    mark, before = shell.mark(), inject_calls(sandbox)
    assert "key=<concealed by devsecrets>" in shell.step(SHOW)  # (`checked` would see the
    assert inject_calls(sandbox) == before  # trace's hook names as leaks)
    assert LEFT in shell.step("cd ..")
    traced += shell.since(mark)
    traced_hook = {"bash": "+ __devsecrets_hook", "zsh": "+__devsecrets_hook", "fish": "-> cd"}
    assert traced_hook[shell.kind] in traced  # the shell did trace
    assert capability.startswith("dsc1_") and "dsc1_" not in traced


def test_lock_and_a_killed_agent(shell: Shell, sandbox: Sandbox) -> None:
    """After either, `run` asks the providers itself; the next entry into a project fetches
    again (and starts a new agent when none runs)."""
    enter(shell)
    assert "devsecrets: wiped 1 session" in shell.checked("devsecrets lock")
    assert sessions_of(shell) == []
    before = inject_calls(sandbox)
    out = shell.checked(SHOW)  # the capability is dead: run asks the providers itself
    assert "key=<concealed by devsecrets>" in out and inject_calls(sandbox) == before + 1
    assert "devsecrets: this shell's session has ended (it expired, or `devsecrets lock` " in out
    assert "leave the project and come back to start a new session" in out
    assert "devsecrets:" not in shell.checked("cd src")  # still the same project: stays locked
    assert sessions_of(shell) == []
    assert LEFT in shell.checked("cd ../..")
    enter(shell)
    served_by_the_agent(shell, sandbox)
    first = agent_pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: agent_pid() is None, what="the agent to die")
    before = inject_calls(sandbox)
    out = shell.checked(SHOW)
    assert "key=<concealed by devsecrets>" in out and inject_calls(sandbox) == before + 1
    assert "devsecrets: the session agent is not running; asking the providers" in out
    assert LEFT in shell.checked("cd ..")  # nothing is held: the agent's memory is gone
    enter(shell)
    assert agent_pid() not in (None, first)
    served_by_the_agent(shell, sandbox)


def test_losing_trust_leaves_and_an_untrusted_project_is_not_entered(
    shell: Shell, world: Path
) -> None:
    enter(shell)
    out = shell.checked("echo '  NEW_TOKEN: keyring' >> .devsecrets.yml")
    assert "changed since you allowed it — review it, then run devsecrets allow; session wiped" in (
        out
    )
    assert sessions_of(shell) == [] and shell.variable("__devsecrets_cap") == ""
    assert "devsecrets:" not in shell.checked("cd ..")  # nothing left to say on leaving
    (world / "shop" / ".devsecrets.yml").write_text(CONFIG)  # as it was allowed
    enter(shell)
    write_project(world, CONFIG.replace("shop", "fresh"), name="fresh")
    out = shell.checked("cd ../fresh")  # straight from a trusted project to another
    assert "is not trusted" in out and "session wiped" not in out  # (shop's went quietly)
    assert sessions_of(shell) == [] and shell.variable("__devsecrets_cap") == ""
    enter(shell, "cd ../shop")
    assert "is denied; nothing is served here; session wiped" in shell.checked("devsecrets deny")
    assert sessions_of(shell) == []


def test_an_unusable_agent_is_named_and_run_still_works(
    tmp_path: Path, world: Path, sandbox: Sandbox
) -> None:
    directory = Path(socket_path()).parent
    directory.mkdir(parents=True)
    directory.chmod(0o755)  # open to other users: the hook must not start an agent there
    session = Shell("bash", tmp_path, world, hook_file(tmp_path, "bash"))
    out = session.checked("cd shop")
    assert "devsecrets: shop (staging) — 3 secrets; no session agent (" in out
    assert "chmod 700" in out and "each run asks the providers" in out
    assert session.variable("__devsecrets_cap") == "" and agent_pid() is None
    out = session.checked(SHOW)
    assert "key=<concealed by devsecrets>" in out and inject_calls(sandbox) == 1
    assert "devsecrets: left shop — nothing was held" in session.checked("cd ..")
    session.close()


def test_ctrl_c_during_the_hook_call_keeps_the_capability(shell: Shell, tmp_path: Path) -> None:
    """…so that the next call can still `leave` the session. (bash, zsh and fish all end the
    hook function on Ctrl-C; the hook also keeps the capability when its call fails.)"""
    capability = enter(shell)
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\necho slow-hook-call >&2\nexec sleep 30\n")
    slow.chmod(0o755)
    shell.assign("__devsecrets_python", str(slow))
    shell.child.sendline("cd ..")
    shell.child.expect_exact("slow-hook-call")
    shell.child.sendintr()
    shell.count += 1
    shell.child.expect_exact(shell.prompt, timeout=5)
    assert shell.variable("__devsecrets_cap") == capability
    shell.assign("__devsecrets_python", sys.executable)
    assert capability != enter(shell)  # the old one was left, a new session opened
    assert len(sessions_of(shell)) == 1


def test_the_entry_line_names_the_most_urgent_rotation(tmp_path: Path, world: Path) -> None:
    rotated = datetime.now(UTC) - timedelta(days=5, hours=12)
    store_keyring("shop", "DATABASE_URL", CANARY_KR, ref="keyring:database-url", rotated_at=rotated)
    session = Shell("bash", tmp_path, world, hook_file(tmp_path, "bash"))
    rotation = "; DATABASE_URL due for rotation in 1 day"
    assert ENTERED + rotation in session.checked("cd shop")  # from the ledger: no provider
    session.await_line(READY, 0)
    session.close()
