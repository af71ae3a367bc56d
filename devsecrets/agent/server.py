"""The agent process: one per user, on a Unix socket in the private runtime directory.

Only processes of the same user get an answer (SO_PEERCRED); `get`, `renew` and `enter` are
further bound to the shell that entered: the peer must be that shell or descend from it, so a
capability copied to another terminal is useless. What stays possible, honestly: a process of
the same user that can ptrace the shell (the default without Yama) can read the capability
from the shell's memory and ask from a process it starts under that shell, and any process of
the user can `enter` itself — which makes the agent fetch from the providers, exactly what
that process could do by calling the provider itself.

One request per connection, handled on a thread pool; the main thread accepts, sweeps the
store every TICK and exits after SIGTERM/SIGINT/SIGHUP or when idle and holding nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import stat
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devsecrets import __version__
from devsecrets.agent import harden, notice
from devsecrets.agent.peer import Peer, descends_from, identify, peer_of
from devsecrets.agent.protocol import (
    ProtocolError,
    integer,
    read_header,
    send_message,
    text,
    texts,
)
from devsecrets.agent.rundir import LOCK_NAME, SOCKET_NAME, RuntimeDirError, private_runtime_dir
from devsecrets.agent.store import Session, Store, audit_served
from devsecrets.errors import DevsecretsError
from devsecrets.project import load_project
from devsecrets.resolve import select

if TYPE_CHECKING:
    from devsecrets.agent.protocol import Header

IO_TIMEOUT = 5.0  # a peer that stalls longer than this mid-request is dropped
TICK = 0.2
KEEPALIVE = 1.0  # while a fetch runs, `get` says "fetching" this often
WORKERS = 32
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107  # sun_path, less the NUL


def error(code: str, message: str, fix: str | None = None) -> Header:
    return {"ok": False, "code": code, "error": message, "fix": fix}


class Agent:
    def __init__(self, listener: socket.socket, store: Store, idle_exit: float) -> None:
        self.listener = listener
        self.store = store
        self.idle_exit = idle_exit
        self.stopping = False
        self.last_request = time.monotonic()
        self.ops = {
            "enter": self.enter,
            "get": self.get,
            "leave": self.leave,
            "renew": self.renew,
            "lock": self.lock,
            "status": self.status,
        }

    def stop(self, *_: object) -> None:
        self.stopping = True

    def loop(self) -> None:
        pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="agent")
        try:
            while not self.stopping:
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    pass
                else:
                    self.last_request = time.monotonic()
                    pool.submit(self.handle, conn)
                self.store.sweep()
                idle = time.monotonic() - self.last_request
                if not len(self.store) and idle >= self.idle_exit:
                    _log("idle and holding nothing: exiting")
                    self.stopping = True
        finally:
            self.store.close_all("agent stopping")
            pool.shutdown(wait=False, cancel_futures=True)

    def handle(self, conn: socket.socket) -> None:
        with conn:
            reply: Header | None
            try:
                conn.settimeout(IO_TIMEOUT)
                peer = peer_of(conn)
                if peer.uid != os.getuid():
                    return  # another user: not a word
                request = read_header(conn)
                op = self.ops.get(str(request.get("op")))
                if op is None:
                    raise ProtocolError(f"unknown op {request.get('op')!r}")
                reply = op(conn, peer, request)
            except ProtocolError as exc:
                reply = error(exc.code, exc.message)
            except OSError:
                return  # the peer went away or stalled
            except Exception as exc:
                _log(f"internal error: {type(exc).__name__}")
                reply = error("internal", f"the agent failed ({type(exc).__name__})")
            if reply is not None:
                with contextlib.suppress(OSError, ProtocolError):
                    send_message(conn, reply)

    # ---------------------------------------------------------------- requests

    def enter(self, conn: socket.socket, peer: Peer, request: Header) -> Header | None:
        path, digest = text(request, "config"), text(request, "digest", limit=64)
        shell_pid = integer(request, "shell")
        shell = identify(shell_pid)
        if (
            shell is None
            or peer.pid is None
            or not descends_from(peer.pid, shell, include_self=True)
        ):
            return error("denied", f"process {shell_pid} is not a shell you are running in")
        if not os.path.isabs(path):
            return error("bad_request", "the config path must be absolute")
        try:
            config = load_project(Path(path))
        except DevsecretsError as exc:
            return error("config", exc.message, exc.fix)
        if config.digest != digest:
            return error("config_changed", f"{path} changed while entering", "enter again")
        capability, session = self.store.open(shell, config, fetch=False)
        reply = {
            "ok": True,
            "cap": capability,
            "session": session.summary(time.monotonic()),
            "notice": session.notice,
            "note": notice.rotation_words(config),
        }
        # The reply first, then the fetch: the shell's prompt waits for the reply, and a
        # fetch thread already running would hold the GIL for milliseconds of it.
        try:
            send_message(conn, reply)
        except (OSError, ProtocolError):
            self.store.close(session, "the hook went away before it had the capability")
            raise
        self.store.fetch(session)
        return None

    def get(self, conn: socket.socket, peer: Peer, request: Header) -> Header | None:
        session = self._held(peer, request)
        command, only = text(request, "command"), texts(request, "only")
        path = text(request, "config")
        if not isinstance(session, Session):
            return session
        if os.path.realpath(path) != session.real_path:
            return error("other_project", f"this session is for {session.config.path}")
        problem = self.store.recheck(session)  # changed or no longer passing: wiped
        if problem:
            return error("config_changed", problem)
        if time.monotonic() >= session.expires_at:  # before the next sweep noticed
            self.store.close(session, "session TTL reached")
            return error("unknown_session", "the session expired")
        while not session.done.wait(KEEPALIVE):
            send_message(conn, {"ok": True, "state": "fetching"})
        if session.state == "failed" and session.error:
            return error("fetch_failed", *session.error)
        try:
            names = [spec.name for spec in select(session.config, only, command)]
        except DevsecretsError as exc:
            return error("refused", exc.message, exc.fix)
        return self._send_values(conn, session, names, command)

    def _held(self, peer: Peer, request: Header) -> Session | Header:
        """The session the request's capability names, when the peer runs under the shell
        that opened it; else the error to answer."""
        session = self.store.find(text(request, "cap", limit=128))
        if session is None:
            return error("unknown_session", "no such session: it expired, was left or locked")
        if peer.pid is None or not descends_from(peer.pid, session.shell, include_self=True):
            return error("denied", "this session belongs to a shell you are not running in")
        return session

    def _send_values(
        self, conn: socket.socket, session: Session, names: list[str], command: str
    ) -> Header | None:
        with session.lock:  # a wipe waits until the values are out
            if session.state != "ready":
                return error("unknown_session", "the session was wiped")
            warnings = [w for w in session.warnings if w.split(" ", 1)[0] in names]
            header = {
                "ok": True,
                "state": "ready",
                "names": names,
                "project": session.config.project,
                "expires_in": round(session.expires_at - time.monotonic(), 1),
                "warnings": warnings,  # what `run` prints when it fetches itself
            }
            send_message(conn, header, [session.secrets[name].buffer for name in names])
        audit_served(session, names, command, log=_log)
        return None

    def leave(self, conn: socket.socket, peer: Peer, request: Header) -> Header:
        session = self.store.find(text(request, "cap", limit=128))
        left = session is not None and self.store.close(session, "left")
        return {"ok": True, "wiped": left}

    def renew(self, conn: socket.socket, peer: Peer, request: Header) -> Header:
        session = self._held(peer, request)
        if not isinstance(session, Session):
            return session
        capability = self.store.renew(session)
        if capability is None:
            return error("unknown_session", "the session was wiped")
        return {"ok": True, "cap": capability}

    def lock(self, conn: socket.socket, peer: Peer, request: Header) -> Header:
        return {"ok": True, "wiped": self.store.close_all("locked")}

    def status(self, conn: socket.socket, peer: Peer, request: Header) -> Header:
        now = time.monotonic()
        mine = self.store.find(request["cap"]) if isinstance(request.get("cap"), str) else None
        sessions: list[dict[str, Any]] = []
        for session in self.store.sessions():
            sessions.append({**session.summary(now), "yours": session is mine})
        return {
            "ok": True,
            "pid": os.getpid(),
            "version": __version__,
            "hardening": harden.report(),
            "idle_exit": self.idle_exit,
            "sessions": sessions,
        }


def serve(*, idle_exit: float, ready_fd: int | None = None) -> int:
    """Run the agent in this process until stopped; report readiness on `ready_fd`."""
    try:
        run_dir = Path(private_runtime_dir(create=True))
        lock = _single_instance(run_dir / LOCK_NAME)
        if lock is None:
            _tell(ready_fd, {"state": "running"})
            return 0
        hardening = harden.harden_process()
        listener = _listen(run_dir / SOCKET_NAME)
    except DevsecretsError as exc:
        _tell(ready_fd, {"state": "error", "message": exc.message, "fix": exc.fix})
        raise
    notice.sweep(str(run_dir))
    agent = Agent(listener, Store(log=_log, notice_dir=str(run_dir)), idle_exit)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, agent.stop)
    _log(f"pid {os.getpid()} on {run_dir / SOCKET_NAME}; " + "; ".join(hardening.values()))
    _tell(ready_fd, {"state": "ready", "pid": os.getpid()})
    try:
        agent.loop()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(run_dir / SOCKET_NAME)
        listener.close()
        os.close(lock)
    return 0


def _single_instance(path: Path) -> int | None:
    """Hold the agent lock for life; None when another agent holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # who to stop, for a newer devsecrets
    return fd


def _listen(path: Path) -> socket.socket:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise RuntimeDirError(
            f"the socket path {path} is too long for a Unix socket",
            "set XDG_RUNTIME_DIR to a shorter directory",
        )
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            import shlex  # only for the message

            raise RuntimeDirError(
                f"{path} exists and is not a socket", f"remove it: rm {shlex.quote(str(path))}"
            )
        os.unlink(path)  # stale: we hold the lock, so no agent listens on it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)  # born 0600: no moment where others could connect
    try:
        listener.bind(str(path))
    finally:
        os.umask(umask)
    listener.listen(128)
    listener.settimeout(TICK)
    return listener


def _tell(fd: int | None, message: dict[str, Any]) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(message).encode() + b"\n")
        os.close(fd)


def _log(text: str) -> None:
    """Names and events only, never a value. A broken stderr must not stop a wipe."""
    with contextlib.suppress(OSError, ValueError):
        print(f"devsecrets agent: {text}", file=sys.stderr, flush=True)
