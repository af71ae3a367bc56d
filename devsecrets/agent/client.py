"""Talking to the agent: connect (checking the directory and the peer), one request per
connection, and `ensure_agent()` to start one when none answers.

Standard library only and quick to import: the warm `run` path uses `get_values`. Every
failure to be served is an `AgentUnavailable`, which callers answer by fetching from the
providers themselves: a missing or broken agent costs time, never a run.
"""

from __future__ import annotations

import _socket  # socket.py costs the warm path ≈ 2 ms (selectors, array, IntEnums)
import os
import select
import sys
import time

from devsecrets.agent.peer import peer_of
from devsecrets.agent.protocol import (
    ProtocolError,
    read_header,
    read_values,
    send_message,
    wipe,
)
from devsecrets.agent.rundir import RuntimeDirError, check_private, socket_path
from devsecrets.agent.wirejson import loads
from devsecrets.errors import DevsecretsError

TYPE_CHECKING = False  # typing costs the warm `run` path ≈ 2.5 ms to import; mypy sees True
if TYPE_CHECKING:
    from devsecrets.agent.protocol import Header

StrPath = str | os.PathLike[str]

CONNECT_TIMEOUT = 3.0  # the agent answers (or says "fetching") well within this


class AgentUnavailable(Exception):
    """The agent cannot serve this request; `code` says why (not_running, unknown_session…)."""

    def __init__(self, message: str, code: str = "unavailable", fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.fix = fix


def connect(timeout: float = CONNECT_TIMEOUT) -> _socket.socket:
    """A connection to this user's agent: the directory private, the peer ourselves."""
    path = socket_path()
    directory = os.path.dirname(path)
    try:
        check_private(directory)
    except RuntimeDirError as exc:
        code = "not_running" if not os.path.lexists(directory) else "insecure"
        raise AgentUnavailable(exc.message, code, exc.fix) from None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        if peer_of(sock).uid != os.getuid():
            raise AgentUnavailable(f"{path} is served by another user", "insecure")
    except OSError:
        sock.close()
        raise AgentUnavailable("no agent is running", "not_running") from None
    except BaseException:
        sock.close()
        raise
    return sock


def request(header: Header) -> Header:
    """Send one request; its reply, or AgentUnavailable when the agent refused or failed."""
    try:
        sock = connect()
        try:
            send_message(sock, header)
            return _checked(read_header(sock))
        finally:
            sock.close()
    except (OSError, ProtocolError) as exc:
        raise _unanswered(exc) from None


def status(capability: str | None = None) -> Header:
    return request({"op": "status", "cap": capability})


def enter(config: StrPath, digest: str, shell_pid: int) -> Header:
    config = os.fspath(config)
    return request({"op": "enter", "config": config, "digest": digest, "shell": shell_pid})


def leave(capability: str) -> Header:
    return request({"op": "leave", "cap": capability})


def renew(capability: str) -> Header:
    return request({"op": "renew", "cap": capability})


def lock() -> Header:
    return request({"op": "lock"})


def get_values(
    capability: str, command: str, only: list[str], config: StrPath
) -> tuple[Header, list[bytearray]]:
    """What `run` needs: the reply (names, project) and one wipeable buffer per name.

    No digest of the config is sent: the agent re-reads the file through every check before
    it serves, and refuses (and wipes) when it changed; hashing here too would only cost
    `run` the import of OpenSSL."""
    header = {"op": "get", "cap": capability, "command": command, "only": only}
    header["config"] = os.fspath(config)
    try:
        sock = connect()
        try:
            send_message(sock, header)
            reply = read_header(sock)
            while reply.get("state") == "fetching":  # the agent is alive and still fetching
                reply = read_header(sock)
            reply = _checked(reply)
            names = reply.get("names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ProtocolError("the reply does not list the values' names")
            values = read_values(sock, len(names))
        finally:
            sock.close()
    except (OSError, ProtocolError) as exc:
        raise _unanswered(exc) from None
    if len(set(names)) != len(names):
        wipe(values)
        raise AgentUnavailable("the agent sent a name twice")
    return reply, values


def enter_project(shell_pid: int, start: str | None = None) -> Header:
    """For the shell hook: the nearest config from `start` (default: the working directory),
    an agent (started if none answers), and a new session bound to `shell_pid`. Returns at
    once; the fetch goes on in the agent (`status` says "fetching", then "ready")."""
    from devsecrets.lookup import find_config

    config = find_config(start)
    digest = config_digest(config) if config is not None else None
    if config is None or digest is None:
        raise DevsecretsError("no readable .devsecrets.yml here or above", "cd into a project")
    ensure_agent()
    return enter(config, digest, shell_pid)


def config_digest(path: StrPath) -> str | None:
    """SHA-256 of the config's bytes, as `Config.digest` computes it; None if unreadable
    (the agent says why when it reads the file itself)."""
    import hashlib

    from devsecrets.configfile import read_config_bytes

    try:
        return hashlib.sha256(read_config_bytes(path)).hexdigest()
    except DevsecretsError:
        return None


def ensure_agent(timeout: float = 10.0) -> Header:
    """The agent's status; start one, detached, when none answers. DevsecretsError when it
    cannot start (for example an insecure runtime directory), with the fix."""
    try:
        return status()
    except AgentUnavailable as exc:
        if exc.code == "insecure":
            raise DevsecretsError(exc.message, exc.fix) from None
        if exc.code == "version":
            raise DevsecretsError(
                "the running agent belongs to another version of devsecrets",
                f"stop it (values it holds are wiped): kill {_agent_pid() or '<its pid>'}",
            ) from None
    from devsecrets.agent.rundir import private_runtime_dir

    private_runtime_dir(create=True)  # refuses a directory that is not private, with the fix
    started = _spawn(timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return status()
        except AgentUnavailable:
            if time.monotonic() > deadline:
                raise DevsecretsError(
                    f"the agent started (pid {started}) but does not answer",
                    "run `devsecrets agent --foreground` to see why",
                ) from None
            time.sleep(0.02)


def _spawn(timeout: float) -> int | None:
    """Start the agent (`devsecrets agent --foreground`, without the command line: see
    agent/__main__.py) in its own session; wait until it is ready."""
    import subprocess

    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-m", "devsecrets.agent"]
    proc = subprocess.Popen(
        [*argv, "--ready-fd", str(write_fd)],
        pass_fds=(write_fd,),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
    )
    os.close(write_fd)
    try:
        line = _read_line(read_fd, timeout)
    finally:
        os.close(read_fd)
    try:
        said = loads(line.decode()) if line else {}
    except ValueError:
        said = {}
    if not isinstance(said, dict):
        said = {}
    if said.get("state") == "error":
        raise DevsecretsError(f"the agent cannot start: {said.get('message')}", said.get("fix"))
    if said.get("state") not in ("ready", "running"):
        raise DevsecretsError(
            "the agent did not start", "run `devsecrets agent --foreground` to see why"
        )
    return proc.pid


def _read_line(fd: int, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def _checked(reply: Header) -> Header:
    if reply.get("ok") is not True:
        raise AgentUnavailable(
            str(reply.get("error") or "the agent refused"),
            str(reply.get("code") or "refused"),
            reply.get("fix") if isinstance(reply.get("fix"), str) else None,
        )
    return reply


def _unanswered(exc: OSError | ProtocolError) -> AgentUnavailable:
    if isinstance(exc, ProtocolError):
        return AgentUnavailable(f"the agent's answer is unusable ({exc.message})", exc.code)
    why = exc.strerror or type(exc).__name__
    return AgentUnavailable(f"the agent did not answer ({why})")


def _agent_pid() -> int | None:
    """The pid the agent wrote into its lock file."""
    from devsecrets.agent.rundir import LOCK_NAME

    try:
        with open(os.path.join(os.path.dirname(socket_path()), LOCK_NAME)) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None
