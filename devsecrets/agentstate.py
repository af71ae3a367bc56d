"""The session agent's state, as `audit` and `doctor` report it.

The session agent (issue 5: a per-user process holding fetched values in hardened memory)
is built on another branch. Until it is merged, this build has no agent, and both commands
say so rather than guess. After the merge, `session_agent_state` is the one function to
change: ask the agent whether it is running and which hardening is active
(PR_SET_DUMPABLE 0, RLIMIT_CORE 0, mlock), and return that.
"""

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
    """Is the session agent running, and hardened? The merge of issue 5 plugs in here."""
    return AgentState(available=False, running=None, hardened=None, detail="not part of this build")
