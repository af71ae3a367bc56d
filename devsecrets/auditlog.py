"""The audit log: one JSON line per decision — served, warned, refused, stored, rotated, a
value changed outside devsecrets. Names, reasons and times only, never a value.

Appended with one `write` per call to a 0600 file in the state directory (O_APPEND keeps
lines from concurrent runs whole). It is the developer's own record of what reached their
processes, not a tamper-proof log: anything running as them can edit it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from devsecrets.errors import DevsecretsError
from devsecrets.paths import state_dir
from devsecrets.statefiles import append_private

if TYPE_CHECKING:
    from devsecrets.config import Config


@dataclass(frozen=True)
class Event:
    secret: str
    decision: str  # served | warned | refused | stored | rotated | changed_outside | …
    reason: str


def audit_path() -> Path:
    return state_dir() / "audit.log"


def append(
    events: Sequence[Event],
    *,
    action: str,
    project: str,
    config: str,
    now: datetime,
    command: str | None = None,
) -> None:
    """Append `events` of one action (`run`, `set`, `rotate`) in a single write."""
    if not events:
        return
    base: dict[str, object] = {
        "time": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "action": action,
        "project": project,
        "config": config,
    }
    if command is not None:
        # The program's name only: its arguments may be anything, values included.
        base["command"] = os.path.basename(command)
    lines = [
        json.dumps({**base, "secret": e.secret, "decision": e.decision, "reason": e.reason})
        for e in events
    ]
    try:
        append_private(audit_path(), ("\n".join(lines) + "\n").encode())
    except OSError as exc:
        raise DevsecretsError(
            f"cannot append to the audit log {audit_path()}: {exc.strerror}",
            f"check the permissions and free space of {audit_path().parent}",
        ) from None


def append_run(
    config: Config,
    events: Sequence[Event],
    *,
    command: str,
    now: datetime,
    warn: Callable[[str], None],
) -> None:
    """A run's decisions. A log that cannot be written is reported through `warn` and does
    not block the run: it is the developer's own record, not a gate."""
    try:
        append(
            events,
            action="run",
            project=config.project,
            config=str(config.path),
            now=now,
            command=command,
        )
    except DevsecretsError as exc:
        warn(f"{exc.message} ({exc.fix})")
