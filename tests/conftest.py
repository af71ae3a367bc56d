"""Isolation for every test: no real HOME, keyring, 1Password or network.

Every test gets a fresh HOME and XDG dirs under tmp, the fake `op` first on PATH, a file
keyring under tmp, and no OP_*/DEVSECRETS_*/DBUS variables from the outer environment.
Anything the fakes store (the "vault" side) lives under `backends/`, which canary scans skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from fakes.filekeyring import FileKeyring  # noqa: E402
from fakes.opstate import install_fake_op, make_state, write_state  # noqa: E402

REAL_HOME = Path.home()
_REAL_DIRS = [
    REAL_HOME / ".config" / "devsecrets",
    REAL_HOME / ".local" / "share" / "devsecrets",
    REAL_HOME / ".local" / "state" / "devsecrets",
]


class Sandbox:
    """Paths of one test's isolated world."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.bin = root / "bin"
        self.backends = root / "backends"
        self.op_state = self.backends / "op-state.json"
        self.op_log = self.backends / "op-calls.jsonl"
        self.keyring_file = self.backends / "keyring.json"
        self.runtime = root / "run"

    def op_calls(self) -> list[dict[str, object]]:
        from fakes.opstate import read_call_log

        return read_call_log(self.op_log)


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    for directory in (box.home, box.bin, box.backends):
        directory.mkdir()
    box.runtime.mkdir(mode=0o700)
    for name in list(os.environ):
        if name.startswith(("OP_", "DEVSECRETS_", "FAKE_OP_", "DBUS_", "XDG_", "PYTHON_KEYRING")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(box.home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(box.home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(box.home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(box.home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(box.home / ".cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(box.runtime))
    install_fake_op(box.bin)
    write_state(box.op_state, make_state(vaults=[]))
    monkeypatch.setenv("FAKE_OP_STATE", str(box.op_state))
    monkeypatch.setenv("FAKE_OP_LOG", str(box.op_log))
    monkeypatch.setenv("PATH", f"{box.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_KEYRING_FILE", str(box.keyring_file))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "fakes.filekeyring.FileKeyring")
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.setenv("DEVSECRETS_OP_TIMEOUT", "10")
    # The same login shell whatever the host's (CI runners often leave SHELL unset).
    monkeypatch.setenv("SHELL", shutil.which("bash") or "/bin/bash")
    keyring.set_keyring(FileKeyring())
    yield box


@pytest.fixture(autouse=True)
def no_agent_left_behind(sandbox: Sandbox) -> Iterator[None]:
    """Agents started detached — by the shell hook on entering a project, or by
    ensure_agent — answer on this test's socket: stop them (before the sandbox goes)."""
    yield
    from devsecrets.agent import client

    try:
        pid = int(client.status()["pid"])
    except client.AgentUnavailable:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only Unix sockets may connect from the test process."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        if self.family != socket.AF_UNIX:
            raise RuntimeError(f"tests must not use the network (tried {address!r})")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True, scope="session")
def real_home_untouched() -> Iterator[None]:
    before = {path: path.exists() for path in _REAL_DIRS}
    yield
    after = {path: path.exists() for path in _REAL_DIRS}
    assert after == before, f"tests wrote to the real HOME: {after}"


@pytest.fixture(autouse=True, scope="session")
def default_signals() -> None:
    """Started with `nohup` or `&` from a script, the suite would inherit SIGHUP or SIGINT
    ignored and pass that on to every program it starts: the Ctrl-C and closed-terminal
    tests would then test nothing the user sees. A user's terminal delivers both."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
