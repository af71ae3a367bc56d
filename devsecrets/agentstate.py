"""The session agent's state, as `audit` and `doctor` report it: whether it runs, and
whether its hardening is active (memory closed to other processes of the user, no core
dumps), as the agent itself reports (agent/harden.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgentState:
    """`available`: this build has an agent at all. `running` and `hardened` are None when
    nobody could tell (no agent in this build, or it did not answer)."""

    available: bool
    running: bool | None
    hardened: bool | None
    detail: str

    def as_json(self) -> dict[str, object]:
        return {
            "available": self.available,
            "running": self.running,
            "hardened": self.hardened,
            "detail": self.detail,
        }


def session_agent_state() -> AgentState:
    """Is the session agent running, and hardened?"""
    from devsecrets.agent import client

    try:
        reply = client.status()
    except client.AgentUnavailable as exc:
        if exc.code == "not_running":
            return AgentState(True, False, None, "not running (started on entering a project)")
        return AgentState(True, None, None, exc.message)
    hardening = {str(k): str(v) for k, v in dict(reply.get("hardening") or {}).items()}
    hardened = hardening.get("memory access", "").startswith("closed") and hardening.get(
        "core dumps", ""
    ).startswith("off")
    sessions = len(reply.get("sessions") or [])
    detail = f"running (pid {reply.get('pid')}, {sessions} sessions); " + "; ".join(
        f"{what}: {how}" for what, how in hardening.items()
    )
    return AgentState(True, True, hardened, detail)
