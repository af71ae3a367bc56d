"""Who cannot get anything from the agent: another user, a child started by `run`, a
program started from the hooked shell without the capability.

The second user is created with `useradd` when the suite runs as root (CI) and skipped
otherwise. That user cannot run the venv's Python (it lives under root's home in CI), so its
probes use /usr/bin/python3 with the standard library only.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from agentkit import (
    CANARIES,
    Agent,
    Shell,
    agent,
    canary_project,
    inject_calls,
    shells,
    skip_unless_strict,
    wait_for,
)
from conftest import Sandbox

import devsecrets.agent.harden
from devsecrets.agent.rundir import socket_path

__all__ = ["agent", "shells"]  # fixtures, imported to be used here
Shells = Callable[[Path], Shell]
PROBE_USER = "dsprobe"
SYSTEM_PYTHON = "/usr/bin/python3"

CHILD_PROBE = """\
import json, os
from devsecrets.agent import client, protocol
from devsecrets.lookup import find_config

seen = {"in_env": [k for k, v in os.environ.items() if k == "DEVSECRETS_SESSION" or "dsc1_" in v]}
sock = client.connect()
protocol.send_message(sock, {"op": "status"})
raw = b""
while chunk := sock.recv(65536):
    raw += chunk
sock.close()
seen["status"] = raw.decode(errors="replace")
seen["get"] = []
for cap in ("", "x", "dsc1_" + "A" * 43):
    try:
        client.get_values(cap, "sh", [], find_config())
        seen["get"].append("SERVED")
    except client.AgentUnavailable as exc:
        seen["get"].append(exc.code)
print("PROBE" + json.dumps(seen))
"""

OTHER_USER_PROBE = """\
import json, socket, sys
pid, path = sys.argv[1], sys.argv[2]
seen = {}
for name in ("environ", "mem", "maps"):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            f.read(1)
        seen[name] = "read"
    except OSError as exc:
        seen[name] = type(exc).__name__
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(path)
    seen["connect"] = "connected"
except OSError as exc:
    seen["connect"] = type(exc).__name__
print(json.dumps(seen))
"""


def probe_output(out: str) -> dict[str, object]:
    line = next(line for line in out.splitlines() if line.startswith("PROBE"))
    return dict(json.loads(line[len("PROBE") :]))


def assert_got_nothing(seen: dict[str, object], out: str) -> None:
    assert seen["in_env"] == []
    assert seen["get"] == ["bad_request", "unknown_session", "unknown_session"]
    assert '"sessions"' in str(seen["status"])  # names and times only:
    assert not any(value in out for value in CANARIES.values())


def test_a_child_of_run_and_a_program_of_the_shell_get_nothing(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    shell = shells(canary_project(sandbox, tmp_path))
    shell.enter()
    probe = tmp_path / "probe.py"
    probe.write_text(CHILD_PROBE)
    out = shell.run(f"--no-mask -- {sys.executable} {probe}")
    assert shell.status == 0, out
    assert_got_nothing(probe_output(out), out)
    out = shell.sh(f"{sys.executable} {probe}")
    assert_got_nothing(probe_output(out), out)


def test_entering_for_itself_costs_a_provider_fetch(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    """The one thing such a program can do: open its own session. The agent then asks the
    provider, exactly as the program could by running `op` itself; held values are never
    handed to a new session."""
    shell = shells(canary_project(sandbox, tmp_path))
    shell.enter()
    before = inject_calls(sandbox)
    out = shell.run(
        f"--no-mask -- {sys.executable} -c 'import os; from devsecrets.agent import client; "
        'print(client.enter_project(os.getpid())["session"]["state"])\''
    )
    assert shell.status == 0 and out.strip() == "fetching", out
    wait_for(lambda: inject_calls(sandbox) == before + 1, what="the new session's fetch")


@pytest.fixture(scope="module")
def probe_user() -> pwd.struct_passwd:
    if os.getuid() != 0:
        skip_unless_strict("needs root to create a second user (CI runs as root)")
    if not Path(SYSTEM_PYTHON).exists() or not shutil.which("useradd"):
        skip_unless_strict(f"needs {SYSTEM_PYTHON} and useradd")
    try:
        return pwd.getpwnam(PROBE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PROBE_USER],
            check=True,
        )
        return pwd.getpwnam(PROBE_USER)


def as_user(user: pwd.struct_passwd, *argv: str, cwd: Path) -> str:
    result = subprocess.run(
        argv,
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        env={"PATH": "/usr/bin:/bin", "HOME": "/"},
        cwd=cwd,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return result.stdout.decode()


def test_another_user_can_neither_read_the_agent_nor_connect(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, probe_user: pwd.struct_passwd
) -> None:
    out = as_user(
        probe_user,
        SYSTEM_PYTHON,
        "-c",
        OTHER_USER_PROBE,
        str(agent.pid),
        str(socket_path()),
        cwd=Path("/"),
    )
    assert json.loads(out) == {
        "environ": "PermissionError",
        "mem": "PermissionError",
        "maps": "PermissionError",
        "connect": "PermissionError",
    }


def test_the_agent_answers_no_other_uid_even_past_the_directory(
    agent: Agent, probe_user: pwd.struct_passwd
) -> None:
    """SO_PEERCRED: a process whose effective uid is another user's, but which may still
    traverse the private directory (filesystem uid 0), connects and is told nothing."""
    script = textwrap.dedent(
        f"""
        import ctypes, json, os, socket
        os.setresuid(0, {probe_user.pw_uid}, 0)
        ctypes.CDLL(None).setfsuid(0)
        s = socket.socket(socket.AF_UNIX)
        s.connect({str(socket_path())!r})
        body = json.dumps({{"v": 1, "op": "status"}}).encode()
        try:  # the agent may close before, while or after we send
            s.sendall(len(body).to_bytes(4, "big") + body)
            print(repr(s.recv(65536)))
        except (BrokenPipeError, ConnectionResetError):
            print("reset")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, timeout=30
    )
    assert result.stdout.decode().strip() in ("b''", "reset")


def test_same_user_processes_cannot_read_a_hardened_process(
    probe_user: pwd.struct_passwd,
) -> None:
    """What PR_SET_DUMPABLE 0 buys against a process of the *same* (non-root) user — the
    agent and `run` use it. harden.py's own source runs as the probe user, next to a
    control that does not call it."""
    holder = Path(devsecrets.agent.harden.__file__).read_text() + textwrap.dedent(
        """
        import sys as _sys, time as _time
        if _sys.argv[1] == "on":
            print(harden_process()["memory access"], flush=True)
        else:
            print("control", flush=True)
        _time.sleep(30)
        """
    )
    script = textwrap.dedent(
        f"""
        import json, subprocess, sys
        seen = {{}}
        for mode in ("off", "on"):
            p = subprocess.Popen([sys.executable, "-c", {holder!r}, mode],
                                 stdout=subprocess.PIPE, env={{"SECRETISH": "1"}})
            seen[mode] = p.stdout.readline().decode().strip()
            try:
                with open(f"/proc/{{p.pid}}/environ", "rb") as f:
                    seen[mode + " environ"] = "read" if f.read() else "empty"
            except OSError as exc:
                seen[mode + " environ"] = type(exc).__name__
            try:
                open(f"/proc/{{p.pid}}/mem", "rb").close()  # opening is the access check
                seen[mode + " mem"] = "opened"
            except OSError as exc:
                seen[mode + " mem"] = type(exc).__name__
            p.kill()
            p.wait()
        print(json.dumps(seen))
        """
    )
    out = as_user(probe_user, SYSTEM_PYTHON, "-c", script, cwd=Path("/"))
    assert json.loads(out) == {
        "off": "control",
        "off environ": "read",
        "off mem": "opened",
        "on": "closed to other processes of your user (PR_SET_DUMPABLE 0); root can read it",
        "on environ": "PermissionError",
        "on mem": "PermissionError",
    }
