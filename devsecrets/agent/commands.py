"""What `devsecrets agent`, `devsecrets lock` and `devsecrets status` do with the agent."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from devsecrets.agent import client
from devsecrets.agent.rundir import socket_path
from devsecrets.durations import humanize

DEFAULT_IDLE_EXIT = 600.0


def agent_command(*, foreground: bool, idle_exit: float, ready_fd: int | None) -> int:
    if foreground:
        from devsecrets.agent.server import serve

        return serve(idle_exit=idle_exit, ready_fd=ready_fd)
    state = client.ensure_agent()
    print(f"devsecrets: agent running (pid {state.get('pid')}) on {socket_path()}")
    for what, how in dict(state.get("hardening") or {}).items():
        print(f"  {what}: {how}")
    return 0


def lock_command() -> int:
    try:
        reply = client.lock()
    except client.AgentUnavailable as exc:
        if exc.code != "not_running":
            raise
        print("devsecrets: no agent is running; it holds nothing")
        return 0
    count = int(reply.get("wiped") or 0)
    print(f"devsecrets: wiped {count} session{'s' if count != 1 else ''}; the agent holds nothing")
    return 0


def agent_state(config: Path) -> dict[str, Any]:
    """The agent's sessions for this config (names and times only), for `status`."""
    try:
        reply = client.status()
    except client.AgentUnavailable as exc:
        return {"running": False, "code": exc.code, "detail": exc.message, "sessions": []}
    real = os.path.realpath(config)
    sessions = [
        s
        for s in reply.get("sessions") or []
        if isinstance(s, dict) and os.path.realpath(str(s.get("config"))) == real
    ]
    hardening = reply.get("hardening") or {}
    return {"running": True, "pid": reply.get("pid"), "hardening": hardening, "sessions": sessions}


def describe(state: dict[str, Any]) -> str:
    """One line for `status`: the agent's state for this project and the time left."""
    if not state["running"]:
        if state["code"] != "not_running":
            return f"agent: unusable: {state['detail']}"
        return "agent: not running (each `run` fetches from the providers)"
    sessions = state["sessions"]
    if not sessions:
        return f"agent: running (pid {state['pid']}), holding nothing for this project"
    parts = []
    for session in sessions:
        left = humanize(timedelta(seconds=max(0.0, float(session.get("expires_in") or 0))))
        if session.get("state") == "ready":
            count = len(session.get("names") or [])
            parts.append(f"{count} secret{'' if count == 1 else 's'} ready, {left} left")
        elif session.get("state") == "failed":
            message = str((session.get("error") or ["?"])[0]).splitlines()[0]
            parts.append(f"fetch failed: {message}")
        else:
            parts.append("fetching…")
    return f"agent: {'; '.join(parts)} (shell {', '.join(str(s['shell']) for s in sessions)})"
