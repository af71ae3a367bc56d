"""The session agent as real processes: enter, get (as `run` does), leave, lock, status,
failures, and `run`'s fallback to the providers whenever the agent cannot serve."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from agentkit import (
    CANARIES,
    Agent,
    Shell,
    agent,
    canary_project,
    canary_state,
    inject_calls,
    sessions,
    shells,
    start_agent,
    wait_for,
    wait_ready,
)
from conftest import Sandbox
from helpers import DEVSECRETS, cli, trusted_project, write_project

from devsecrets.agent import client, protocol
from devsecrets.agent.rundir import socket_path
from devsecrets.errors import DevsecretsError

__all__ = ["agent", "shells"]  # fixtures, imported to be used here
PRINT_ENV = f"{sys.executable} -c 'import os; print(sorted(os.environ.items()))'"
Shells = Callable[[Path], Shell]


def enter_here(project: Path) -> str:
    config = project / ".devsecrets.yml"
    digest = client.config_digest(config)
    assert digest is not None
    return str(client.enter(config, digest, os.getpid())["cap"])


def test_enter_returns_at_once_and_fetches_in_the_background(
    agent: Agent, sandbox: Sandbox, tmp_path: Path
) -> None:
    project = canary_project(sandbox, tmp_path, latency_ms=700)
    reply = client.enter(project / ".devsecrets.yml", _digest(project), os.getpid())
    assert reply["session"]["state"] == "fetching"  # the op call takes 700 ms
    assert reply["cap"].startswith("dsc1_") and len(reply["cap"]) >= 5 + 43  # 256 bits
    wait_ready(reply["cap"])
    [summary] = sessions()
    assert summary["state"] == "ready"
    assert summary["names"] == ["TOKEN", "OTHER", "GH_TOKEN"]
    assert summary["scopes"] == {"TOKEN": "staging", "OTHER": "staging", "GH_TOKEN": "staging"}
    assert 0 < summary["expires_in"] <= 15 * 60
    assert not any(value in json.dumps(client.status()) for value in CANARIES.values())
    hardening = client.status()["hardening"]
    assert hardening["core dumps"] == "off (RLIMIT_CORE 0)"
    assert hardening["memory access"].startswith("closed to other processes of your user")
    assert hardening["swap"].startswith("3 value buffers locked in RAM")


def test_run_in_a_hooked_shell_gets_the_values_from_the_agent(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    project = canary_project(sandbox, tmp_path)
    shell = shells(project)
    shell.enter()
    fetched = inject_calls(sandbox)
    out = shell.run(f"--no-mask -- {PRINT_ENV}")
    assert shell.status == 0, out
    env = dict(eval(out))  # noqa: S307 (our own child's repr of os.environ)
    assert env["TOKEN"] == CANARIES["TOKEN"] and env["OTHER"] == CANARIES["OTHER"]
    assert "GH_TOKEN" not in env  # only for gh, as without the agent
    assert "DEVSECRETS_SESSION" not in env
    assert not any(v.startswith("dsc1_") for v in env.values())
    assert inject_calls(sandbox) == fetched  # no provider call: the agent served it
    assert "DS_CAP" not in shell.sh("env")  # the hook's variable is not exported


def test_the_capabilitys_pipe_is_closed_and_one_found_empty_wipes_every_session(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    shell = shells(canary_project(sandbox, tmp_path))
    shell.enter()
    fetched = inject_calls(sandbox)
    probe = "sh -c 'test -e /proc/self/fd/9 && echo fd9 open || echo fd9 closed; env'"
    out = shell.run(f"--no-mask -- {probe}")
    assert "fd9 closed" in out and "DEVSECRETS_SESSION" not in out
    assert CANARIES["TOKEN"] in out and inject_calls(sandbox) == fetched  # from the agent
    # Empty: another process read the pipe first. What it took must open nothing.
    out = shell.sh(f"DEVSECRETS_SESSION_FD=9 {DEVSECRETS} run -- true 9< <(:)")
    assert "the session capability was gone from its pipe" in out and shell.status == 0
    assert sessions() == []
    # Not a pipe (a terminal, a file): not the hook's doing; never read, never blocks on.
    out = shell.sh(f"DEVSECRETS_SESSION_FD=9 {DEVSECRETS} run -- true 9</dev/null")
    assert shell.status == 0 and "gone from its pipe" not in out


def test_the_warm_path_imports_neither_click_nor_yaml_nor_keyring(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    shell = shells(canary_project(sandbox, tmp_path))
    shell.enter()
    fetched = inject_calls(sandbox)
    out = shell.sh(
        f'DEVSECRETS_SESSION="$DS_CAP" {sys.executable} -X importtime {DEVSECRETS} run -- true'
    )
    assert shell.status == 0 and inject_calls(sandbox) == fetched, out
    imported = {line.split("|")[-1].strip() for line in out.splitlines() if "|" in line}
    assert "devsecrets.agent.fastpath" in imported
    slow = {"click", "yaml", "keyring", "platformdirs", "pathlib", "typing", "dataclasses", "json"}
    assert imported & slow == set()


def test_run_masks_and_passes_the_exit_status_on_the_warm_path(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    shell = shells(canary_project(sandbox, tmp_path))
    shell.enter()
    out = shell.run("-v --only TOKEN -- sh -c 'echo \"t=$TOKEN o=${OTHER-unset}\"; exit 3'")
    assert shell.status == 3
    assert "t=<concealed by devsecrets> o=unset" in out
    assert "running sh with 1 secrets (TOKEN) from the session agent" in out
    assert CANARIES["TOKEN"] not in out


def test_commands_restricted_secrets_and_unknown_commands(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    shell = shells(canary_project(sandbox, tmp_path))
    gh = tmp_path / "tools" / "gh"
    gh.parent.mkdir()
    gh.write_text('#!/bin/sh\necho "gh=$GH_TOKEN"\n')
    gh.chmod(0o755)
    shell.enter()
    assert "gh=<concealed by devsecrets>" in shell.run(f"-- {gh}")
    out = shell.run("-- no-such-command-xyz")
    assert shell.status == 127 and "command not found" in out


def test_without_agent_or_with_a_bad_capability_run_fetches_itself(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    project = canary_project(sandbox, tmp_path)
    spy, seen = tmp_path / "spy", tmp_path / "op-env.log"  # an `op` that logs its env
    spy.mkdir()
    (spy / "op").write_text(f'#!/bin/sh\nenv >> "{seen}"\nexec "{sandbox.bin}/op" "$@"\n')
    (spy / "op").chmod(0o755)
    path = f"{spy}:{os.environ['PATH']}"
    for capability in ("", "dsc1_forged"):
        before = inject_calls(sandbox)
        result = cli(
            "run", "--", "sh", "-c", 'test "$TOKEN" = "$1"', "-", CANARIES["TOKEN"],
            cwd=project, env={"DEVSECRETS_SESSION": capability, "PATH": path},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert inject_calls(sandbox) == before + 1
    assert "DEVSECRETS_SESSION" not in seen.read_text()  # devsecrets dropped it at once


def test_a_killed_agent_never_breaks_run(sandbox: Sandbox, tmp_path: Path, shells: Shells) -> None:
    shell = shells(canary_project(sandbox, tmp_path))
    shell.enter()  # starts a detached agent (ensure_agent)
    pid = int(client.status()["pid"])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid))
    before = inject_calls(sandbox)
    out = shell.run("-v -- sh -c 'echo got=${#TOKEN}'")
    assert shell.status == 0 and f"got={len(CANARIES['TOKEN'])}" in out
    assert "the session agent is not running; asking the providers" in out
    assert inject_calls(sandbox) == before + 1
    assert Path(socket_path()).exists()  # the stale socket is still there…
    shell.enter()  # …and the next enter replaces it with a new agent
    assert int(client.status()["pid"]) != pid


def test_a_stale_socket_file_is_replaced(sandbox: Sandbox, tmp_path: Path) -> None:
    path = Path(socket_path())
    path.parent.mkdir(mode=0o700, parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a socket file nobody listens on
    with pytest.raises(client.AgentUnavailable):
        client.status()
    state = client.ensure_agent()
    assert state["sessions"] == []
    assert client.ensure_agent()["pid"] == state["pid"]  # one agent, not two


def test_an_agent_of_another_version_is_named_and_not_used(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = Path(socket_path())
    path.parent.mkdir(mode=0o700, parents=True)
    (path.parent / "agent.lock").write_text("4242\n")
    old = socket.socket(socket.AF_UNIX)
    old.bind(str(path))
    old.listen()

    def answer_as_version_2() -> None:
        for _ in range(2):
            conn, _ = old.accept()
            with conn:
                protocol.read_header(conn)
                body = b'{"v": 2, "ok": true}'
                conn.sendall(len(body).to_bytes(4, "big") + body)

    thread = threading.Thread(target=answer_as_version_2, daemon=True)
    thread.start()
    try:
        with pytest.raises(DevsecretsError) as caught:
            client.ensure_agent()
        assert "another version of devsecrets" in caught.value.message
        assert caught.value.fix == "stop it (values it holds are wiped): kill 4242"
        with pytest.raises(client.AgentUnavailable) as unavailable:
            client.get_values("dsc1_x", "true", [], tmp_path / ".devsecrets.yml")
        assert unavailable.value.code == "version"
    finally:
        thread.join(timeout=5)
        old.close()


def test_a_second_agent_leaves_the_first_alone(agent: Agent, tmp_path: Path) -> None:
    result = cli("agent", "--foreground", cwd=tmp_path, timeout=20)
    assert result.returncode == 0
    assert client.status()["pid"] == agent.pid


def test_leave_lock_and_status_cli(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    project = canary_project(sandbox, tmp_path)
    capability = enter_here(project)
    wait_ready(capability)
    out = cli("status", cwd=project).stdout.decode()
    assert "agent: 3 secrets ready, 14 minutes left" in out or "15 minutes left" in out
    status = json.loads(cli("status", "--json", cwd=project).stdout)
    assert status["agent"]["sessions"][0]["state"] == "ready"
    assert client.leave(capability)["wiped"] is True
    assert client.leave(capability)["wiped"] is False  # leaving twice is harmless
    enter_here(project)
    enter_here(project)  # the same shell entering again replaces its session
    wait_ready()
    assert len(sessions()) == 1
    result = cli("lock", cwd=project)
    assert result.stdout.decode().strip() == "devsecrets: wiped 1 session; the agent holds nothing"
    assert sessions() == []
    assert client.status()["hardening"]["swap"].startswith("0 value buffers locked")
    assert "holding nothing for this project" in cli("status", cwd=project).stdout.decode()


def test_a_shell_is_in_one_project_at_a_time(
    agent: Agent, sandbox: Sandbox, tmp_path: Path
) -> None:
    first = canary_project(sandbox, tmp_path)
    second = trusted_project(tmp_path, "secrets:\n  TOKEN: op://Staging/tok/credential\n", "two")
    old = enter_here(first)
    enter_here(second)  # the hook missed `leave`: the first session goes all the same
    wait_ready()
    assert [s["config"] for s in sessions()] == [str(second / ".devsecrets.yml")]
    with pytest.raises(client.AgentUnavailable):
        client.get_values(old, "true", [], first / ".devsecrets.yml")


def test_lock_and_status_without_an_agent(sandbox: Sandbox, tmp_path: Path) -> None:
    project = canary_project(sandbox, tmp_path)
    assert cli("lock", cwd=project).stdout.decode().startswith("devsecrets: no agent is running")
    assert "agent: not running" in cli("status", cwd=project).stdout.decode()


def test_a_failed_fetch_is_reported_and_run_falls_back(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    project = canary_project(sandbox, tmp_path)
    canary_state(sandbox, mode="signed_out")
    shell = shells(project)
    shell.enter()
    [summary] = sessions()
    assert summary["state"] == "failed"
    assert "not signed in" in summary["error"][0]
    assert "fetch failed: TOKEN: the 1Password CLI is not signed in" in (
        cli("status", cwd=project).stdout.decode()
    )
    canary_state(sandbox)  # signed in again: run's own fetch works
    assert "len=" in shell.run("-- sh -c 'echo len=${#TOKEN}'") and shell.status == 0


def test_get_waits_for_a_fetch_in_progress(agent: Agent, sandbox: Sandbox, tmp_path: Path) -> None:
    project = canary_project(sandbox, tmp_path, latency_ms=1500)
    capability = enter_here(project)
    reply, values = client.get_values(capability, "true", [], project / ".devsecrets.yml")
    assert reply["names"] == ["TOKEN", "OTHER"] and values[0] == CANARIES["TOKEN"].encode()
    assert inject_calls(sandbox) == 1


def test_ctrl_c_while_waiting_for_the_agent(agent: Agent, sandbox: Sandbox, tmp_path: Path) -> None:
    project = canary_project(sandbox, tmp_path, latency_ms=5000)
    capability = enter_here(project)
    run = subprocess.Popen(
        [DEVSECRETS, "run", "--", "true"],
        cwd=project,
        env=dict(os.environ, PWD=str(project), DEVSECRETS_SESSION=capability),
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: _connected_to_agent(run.pid), what="run to ask the agent")
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=10)
    assert run.returncode == 130 and b"Traceback" not in err


def test_an_untrusted_config_is_refused_and_denying_it_wipes_the_session(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    canary_state(sandbox)
    stranger = write_project(tmp_path, "secrets:\n  TOKEN: op://Staging/tok/credential\n", "new")
    with pytest.raises(client.AgentUnavailable) as caught:
        enter_here(stranger)
    assert "is not trusted yet" in caught.value.message and "devsecrets allow" in str(
        caught.value.fix
    )
    assert inject_calls(sandbox) == 0  # nothing fetched for a config nobody reviewed
    project = canary_project(sandbox, tmp_path)
    shell = shells(project)
    shell.enter()
    assert cli("deny", cwd=project).returncode == 0
    wait_for(lambda: sessions() == [], what="the wipe after deny")
    out = shell.run("-- true")
    assert shell.status == 125 and "is denied" in out  # and run's own path refuses it too


def test_a_changed_config_wipes_the_session(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    project = canary_project(sandbox, tmp_path)
    shell = shells(project)
    shell.enter()
    with (project / ".devsecrets.yml").open("a") as config:
        config.write("# changed\n")
    out = shell.run("-v -- true")
    assert "cannot serve this run" in out and "changed since you allowed it" in out
    assert shell.status == 125  # and run's own path refuses it until it is allowed again
    assert sessions() == []


def test_a_changed_team_policy_wipes_the_session(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    from devsecrets.paths import team_policy_file

    project = canary_project(sandbox, tmp_path)
    shell = shells(project)
    shell.enter()
    policy, _ = team_policy_file()
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text("max_age: 5d\n")  # tighter: what was served under 7d is re-decided
    out = shell.run("-v -- true")
    assert "the team policy changed since the session began" in out
    assert shell.status == 0  # run decided under the new policy itself
    assert sessions() == []


def test_capability_from_another_process_tree_is_refused(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Shells
) -> None:
    project = canary_project(sandbox, tmp_path)
    shell = shells(project)
    capability = shell.enter()
    config = project / ".devsecrets.yml"
    with pytest.raises(client.AgentUnavailable) as caught:  # the test is not under that shell
        client.get_values(capability, "true", [], config)
    assert caught.value.code == "denied"
    with pytest.raises(client.AgentUnavailable) as caught:
        client.get_values(capability, "true", [], tmp_path / "elsewhere" / ".devsecrets.yml")
    assert caught.value.code in ("denied", "other_project")
    with pytest.raises(client.AgentUnavailable) as caught:  # nor can it claim that shell
        client.enter(config, _digest(project), shell.pid)
    assert caught.value.code == "denied"


def test_malformed_and_oversized_requests_get_errors_and_the_agent_keeps_serving(
    agent: Agent, sandbox: Sandbox, tmp_path: Path
) -> None:
    capability = enter_here(canary_project(sandbox, tmp_path))
    bad = [
        b"\x00\x00\x00\x05hello",
        (protocol.MAX_HEADER + 1).to_bytes(4, "big"),
        b"\xff\xff\xff\xff",
        _frame({"v": 1}),
        _frame({"v": 1, "op": "explode"}),
        _frame({"v": 1, "op": "get", "cap": ["x"]}),
        _frame({"v": 1, "op": "enter", "config": "relative", "digest": "0", "shell": os.getpid()}),
        _frame({"v": 1, "op": "get", "cap": capability, "command": "x", "only": [1]}),
        _frame({"v": 9, "op": "status"}),
    ]
    for raw in bad:
        with contextlib.closing(client.connect()) as sock:
            sock.sendall(raw)
            reply = protocol.read_header(sock)
        assert reply["ok"] is False and reply["error"], raw
    with contextlib.closing(client.connect()) as sock:  # a peer that says nothing and leaves
        pass
    with contextlib.closing(client.connect()) as sock:  # half a frame, then gone
        sock.sendall(b"\x00\x00\x00\x40{")
    assert client.status()["pid"] == agent.pid
    wait_ready(capability)


def test_100_concurrent_gets_are_all_served(agent: Agent, sandbox: Sandbox, tmp_path: Path) -> None:
    project = canary_project(sandbox, tmp_path)
    capability = enter_here(project)
    wait_ready(capability)
    config = project / ".devsecrets.yml"

    def get(i: int) -> tuple[list[str], list[bytes]]:
        only = [["TOKEN"], ["OTHER"], []][i % 3]
        reply, values = client.get_values(capability, "true", only, config)
        return reply["names"], [bytes(v) for v in values]

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(get, range(100)))
    tok, other = CANARIES["TOKEN"].encode(), CANARIES["OTHER"].encode()
    expected = [(["TOKEN"], [tok]), (["OTHER"], [other]), (["TOKEN", "OTHER"], [tok, other])]
    assert results == [expected[i % 3] for i in range(100)]


def test_sigterm_wipes_and_exits(agent: Agent, sandbox: Sandbox, tmp_path: Path) -> None:
    enter_here(canary_project(sandbox, tmp_path))
    wait_ready()
    os.kill(agent.pid, signal.SIGTERM)
    assert agent.proc.wait(timeout=10) == 0
    assert not Path(socket_path()).exists()
    assert "wiped (agent stopping)" in agent.log.read_text()


def test_exits_by_itself_when_idle_and_holding_nothing(tmp_path: Path) -> None:
    idle = start_agent(tmp_path, "--idle-exit", "0.5")
    try:
        assert idle.proc.wait(timeout=10) == 0
    finally:
        idle.stop()
    assert "idle and holding nothing" in idle.log.read_text()


def test_the_runtime_directory_must_be_private(sandbox: Sandbox, tmp_path: Path) -> None:
    directory = Path(socket_path()).parent
    directory.mkdir(mode=0o755, parents=True)
    directory.chmod(0o755)
    result = cli("agent", cwd=tmp_path)
    assert result.returncode == 125
    err = result.stderr.decode()
    assert "is open to other users (mode 755)" in err and f"chmod 700 {directory}" in err
    status = cli("status", cwd=canary_project(sandbox, tmp_path)).stdout.decode()
    assert "agent: unusable: " in status and "is open to other users" in status
    directory.rmdir()
    directory.symlink_to(tmp_path)
    assert "is not a directory (a symlink or a file)" in cli("agent", cwd=tmp_path).stderr.decode()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the directory to another uid")
def test_a_runtime_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = Path(socket_path()).parent
    directory.mkdir(mode=0o700, parents=True)
    os.chown(directory, 4242, 4242)
    result = cli("agent", cwd=tmp_path)
    assert result.returncode == 125
    assert "belongs to uid 4242, not to you" in result.stderr.decode()
    with pytest.raises(client.AgentUnavailable) as caught:
        client.status()
    assert caught.value.code == "insecure"


def _digest(project: Path) -> str:
    digest = client.config_digest(project / ".devsecrets.yml")
    assert digest is not None
    return digest


def _frame(header: dict[str, object]) -> bytes:
    body = json.dumps(header).encode()
    return len(body).to_bytes(4, "big") + body


def _connected_to_agent(pid: int) -> bool:
    """Whether pid has a Unix socket open (its connection to the agent)."""
    with contextlib.suppress(OSError):
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            for fd in os.listdir(f"/proc/{pid}/fd")
        )
    return False


def _gone(pid: int) -> bool:
    """Dead: no /proc entry, or only its zombie (a detached agent's parent may not reap)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("kind", ["missing", "a file", "relative"])
def test_an_unusable_xdg_runtime_dir(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XDG_RUNTIME_DIR is the login session's: never created, even where we could; a
    relative one is ignored (the per-user directory in tmp is used)."""
    from devsecrets.agent.rundir import RuntimeDirError, private_runtime_dir

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "a file").write_text("")
    monkeypatch.chdir(tmp_path)
    named = {"missing": tmp_path / "gone" / "run", "a file": tmp_path / "a file"}.get(kind)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(named) if named else "relative/run")
    if named is None:
        assert private_runtime_dir(create=True) == f"{tmp_path}/tmp/devsecrets-{os.getuid()}"
        assert not (tmp_path / "relative").exists()
        return
    with pytest.raises(RuntimeDirError) as caught:
        private_runtime_dir(create=True)
    why = "No such file or directory" if kind == "missing" else "Not a directory"
    assert (
        caught.value.message == f"XDG_RUNTIME_DIR={named} cannot hold the agent's directory: {why}"
    )
    assert "set XDG_RUNTIME_DIR to your login session's runtime directory" in str(caught.value.fix)
    assert not (tmp_path / "gone").exists()


def test_the_agent_command_with_a_missing_xdg_runtime_dir(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "run"
    result = cli("agent", cwd=tmp_path, env={"XDG_RUNTIME_DIR": str(missing)})
    err = result.stderr.decode()
    assert result.returncode == 125, err
    assert f"error: XDG_RUNTIME_DIR={missing} cannot hold the agent's directory" in err
    assert "internal error" not in err
    assert not (tmp_path / "gone").exists()
