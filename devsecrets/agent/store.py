"""Sessions: one per shell that entered a project, each holding its own values.

Why each session fetches its own values instead of sharing a project's: any process of the
user can send `enter`, so values shared across sessions would go, with no provider involved,
to whoever asks. A fetch per session makes `enter` exactly as strong as asking the provider
directly (which such a process can do anyway) and never a way around it.

A session is wiped — values zeroed, buffers unlocked, references dropped — on leave, TTL, its
shell ending, lock, the config changing or failing its checks, and agent shutdown. A fetch
that finishes after its session was wiped wipes its own result.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from devsecrets.agent import harden, notice
from devsecrets.agent.peer import Proc, alive
from devsecrets.config import Config
from devsecrets.errors import DevsecretsError
from devsecrets.policy import policy_for
from devsecrets.project import load_project, resolve_project
from devsecrets.secret import Secret
from devsecrets.teampolicy import team_policy_digest

MAX_TTL = timedelta(minutes=60)
RECHECK_EVERY = 1.0  # seconds between re-reads of each session's config
CAPABILITY_PREFIX = "dsc1_"
AGENT_COMMAND = "devsecrets-agent"  # the "command" the audit log names for a session's fetch


def session_ttl(config: Config) -> float:
    """The policy's session_ttl (15 minutes unless tightened), never more than an hour."""
    return min(policy_for(config).session_ttl, MAX_TTL).total_seconds()


@dataclass(eq=False)
class Session:
    key: bytes  # sha256 of the capability: the capability itself is not kept
    shell: Proc
    config: Config
    real_path: str
    ttl: float
    created: float
    state: str = "fetching"  # fetching → ready | failed; closed once wiped
    error: tuple[str, str | None] | None = None
    secrets: dict[str, Secret] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # rotation due soon, changed outside
    ready_at: float | None = None
    checked_at: float = 0.0
    notice: str | None = None  # the file the hook reads the fetch's outcome from (notice.py)
    team_policy: str = ""  # teampolicy.team_policy_digest() when the session began
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def expires_at(self) -> float:
        return (self.ready_at if self.ready_at is not None else self.created) + self.ttl

    def summary(self, now: float) -> dict[str, Any]:
        """Names, scopes, ages: never a value."""
        return {
            "project": self.config.project,
            "config": str(self.config.path),
            "state": self.state,
            "names": [spec.name for spec in self.config.secrets],
            "scopes": {spec.name: spec.scope for spec in self.config.secrets},
            "shell": self.shell.pid,
            "age": round(now - self.ready_at, 1) if self.ready_at is not None else None,
            "expires_in": round(self.expires_at - now, 1),
            "error": list(self.error) if self.error else None,
            "warnings": list(self.warnings),
        }

    def wipe(self) -> None:
        with self.lock:
            for secret in self.secrets.values():
                secret.wipe()
                harden.unlock_buffer(secret.buffer)
            self.secrets.clear()
            self.state = "closed"
        self.done.set()
        if self.notice:
            notice.remove(self.notice)

    def tell(self) -> None:
        """The fetch's outcome, for the hook's next prompt. Called holding `lock`, so that a
        wipe (which removes the file after taking the lock) cannot come in between."""
        if self.notice is None:
            return
        if self.state == "ready":
            text = notice.ready_text(self.config.project, len(self.secrets), self.ttl)
        else:
            message, fix = self.error or ("unknown error", None)
            text = notice.failed_text(self.config.project, message, fix)
        notice.write(self.notice, text)


class Store:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] = lambda _: None,
        notice_dir: str | None = None,
    ) -> None:
        self.clock = clock
        self.log = log
        self.notice_dir = notice_dir
        self._sessions: dict[bytes, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def open(self, shell: Proc, config: Config, *, fetch: bool = True) -> tuple[str, Session]:
        """A new session for the shell, its capability, and a fetch started in the
        background (now, or by the caller through `fetch` once it has answered): the caller
        returns at once. A shell is in one project at a time, so its earlier session (this
        project or another) is wiped, even if the hook never left."""
        capability = CAPABILITY_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
        real_path = os.path.realpath(config.path)
        session = Session(
            key(capability), shell, config, real_path, session_ttl(config), self.clock()
        )
        session.team_policy = team_policy_digest()
        if self.notice_dir is not None:
            session.notice = notice.new_path(self.notice_dir)
        with self._lock:
            replaced = [s for s in self._sessions.values() if s.shell == shell]
            self._sessions[session.key] = session
        for old in replaced:
            self.close(old, "entered again")
        if fetch:
            self.fetch(session)
        return capability, session

    def fetch(self, session: Session) -> None:
        threading.Thread(target=self._fetch, args=(session,), daemon=True).start()
        self.log(f"{session.config.project}: session for shell {session.shell.pid}, fetching")

    def _fetch(self, session: Session) -> None:
        fetched: dict[str, Secret] = {}
        error = None
        try:
            fetched = resolve_project(
                session.config,
                session.config.secrets,
                command=AGENT_COMMAND,
                warn=session.warnings.append,
            )
        except DevsecretsError as exc:
            error = (exc.message, exc.fix)
        except Exception as exc:  # a provider bug must cost this session, not the agent
            error = (f"internal error while fetching ({type(exc).__name__})", None)
        with session.lock:
            if session.state == "closed":
                for secret in fetched.values():
                    secret.wipe()
                return
            session.secrets = fetched
            for secret in fetched.values():
                harden.lock_buffer(secret.buffer)
            session.state, session.error = ("failed", error) if error else ("ready", None)
            session.ready_at = session.checked_at = self.clock()
            session.tell()
        session.done.set()
        self.log(f"{session.config.project}: {session.state}")

    def renew(self, session: Session) -> str | None:
        """A new capability for the session, the old one dead at once; None when the
        session is gone. The hook renews the capability each time it passed one to a process
        on a pipe, which another process of the user could have read first."""
        capability = CAPABILITY_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            if self._sessions.pop(session.key, None) is None:
                return None
            session.key = key(capability)
            self._sessions[session.key] = session
        return capability

    def find(self, capability: str) -> Session | None:
        with self._lock:
            return self._sessions.get(key(capability))

    def close(self, session: Session, reason: str) -> bool:
        """Forget and wipe one session; False when it was already gone."""
        with self._lock:
            known = self._sessions.pop(session.key, None) is not None
        session.wipe()
        if known:
            self.log(f"{session.config.project}: wiped ({reason})")
        return known

    def close_all(self, reason: str) -> int:
        with self._lock:
            every = list(self._sessions.values())
        return sum(self.close(session, reason) for session in every)

    def recheck(self, session: Session) -> str | None:
        """Re-read the session's config through the same checks as `run`: None when it may
        still be served, else why not (and the session is wiped)."""
        try:
            current = load_project(session.config.path)
        except DevsecretsError as exc:
            problem = exc.message
        else:
            if current.digest != session.config.digest:
                problem = f"{session.config.path} changed since the session began"
            elif team_policy_digest() != session.team_policy:
                problem = "the team policy changed since the session began"
            else:
                session.checked_at = self.clock()
                return None
        self.close(session, problem)
        return problem

    def sweep(self) -> None:
        """Wipe what has expired, whose shell is gone, or whose config no longer passes."""
        now = self.clock()
        for session in self.sessions():
            if now >= session.expires_at:
                self.close(session, "session TTL reached")
            elif not alive(session.shell):
                self.close(session, f"shell {session.shell.pid} ended")
            elif session.state != "fetching" and now - session.checked_at >= RECHECK_EVERY:
                self.recheck(session)


def audit_served(
    session: Session, names: list[str], command: str, *, log: Callable[[str], None]
) -> None:
    """Every run the agent serves is in the audit log, as a run that fetched itself is."""
    from datetime import UTC, datetime

    from devsecrets import auditlog

    events = [auditlog.Event(name, "served", "from the session agent") for name in names]
    auditlog.append_run(session.config, events, command=command, now=datetime.now(UTC), warn=log)


def key(capability: str) -> bytes:
    return hashlib.sha256(capability.encode()).digest()
