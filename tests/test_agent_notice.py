"""What the agent gives the shell hook on `enter`: the rotation words for the status line, and
a notice file that says, once the fetch has ended, whether the secrets are ready."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentkit import (
    CANARIES,
    Agent,
    agent,
    canary_project,
    canary_state,
    inject_calls,
    start_agent,
    wait_for,
)
from conftest import Sandbox
from helpers import store_keyring

from devsecrets.agent import client
from devsecrets.agent.rundir import socket_path

__all__ = ["agent"]  # fixtures, imported to be used here


def enter(project: Path) -> dict[str, object]:
    config = project / ".devsecrets.yml"
    digest = client.config_digest(config)
    assert digest is not None
    return client.enter(config, digest, os.getpid())


def notices() -> list[Path]:
    return sorted(Path(socket_path()).parent.glob("notice-*"))


def test_the_notice_says_ready_once_fetched_and_goes_with_the_session(
    agent: Agent, sandbox: Sandbox, tmp_path: Path
) -> None:
    reply = enter(canary_project(sandbox, tmp_path, latency_ms=300))
    notice = Path(str(reply["notice"]))
    assert notice.parent == Path(socket_path()).parent and not notice.exists()
    assert reply["note"] is None  # op secrets: their age needs the provider, not asked here
    wait_for(notice.exists, what="the notice")
    assert notice.read_text() == "devsecrets: shop — 3 secrets ready for 15 minutes\n"
    assert notice.stat().st_mode & 0o777 == 0o600
    client.leave(str(reply["cap"]))
    assert notices() == []


def test_a_failed_fetch_is_the_notice(agent: Agent, sandbox: Sandbox, tmp_path: Path) -> None:
    project = canary_project(sandbox, tmp_path)
    canary_state(sandbox, mode="signed_out")
    notice = Path(str(enter(project)["notice"]))
    wait_for(notice.exists, what="the notice")
    text = notice.read_text()
    assert text.startswith("devsecrets: shop — fetch failed: TOKEN: the 1Password CLI is not")
    assert text.count("\n") == 1 and "(" in text  # one line, with the fix


def test_a_session_left_while_fetching_leaves_no_notice(
    agent: Agent, sandbox: Sandbox, tmp_path: Path
) -> None:
    reply = enter(canary_project(sandbox, tmp_path, latency_ms=200))
    client.leave(str(reply["cap"]))
    wait_for(lambda: inject_calls(sandbox) == 1, what="the fetch to start")
    time.sleep(0.6)  # op answered after 0.2 s: the fetch wiped its own result, wrote nothing
    assert notices() == []


def test_the_enter_reply_names_the_most_urgent_rotation(
    agent: Agent, sandbox: Sandbox, tmp_path: Path
) -> None:
    rotated = datetime.now(UTC) - timedelta(days=5, hours=12)
    store_keyring("shop", "DB", "keyring-value-0123456789", rotated_at=rotated)
    reply = enter(canary_project(sandbox, tmp_path, extra="  DB: keyring:DB\n"))
    assert reply["note"] == "DB due for rotation in 1 day"
    assert not any(value in str(reply) for value in CANARIES.values())


def test_notices_left_by_a_killed_agent_are_removed(tmp_path: Path) -> None:
    directory = Path(socket_path()).parent
    directory.mkdir(mode=0o700, parents=True)
    stale = directory / "notice-0123456789abcdef"
    stale.write_text("devsecrets: shop — 3 secrets ready for 15 minutes\n")
    started = start_agent(tmp_path)
    try:
        assert not stale.exists()
    finally:
        started.stop()
