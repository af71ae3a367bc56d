"""The rotation ledger: per project and secret, when it was last rotated, its scope, and a
keyed fingerprint of its value — never the value.

One JSON file in the state directory (0600 in a 0700 directory). Every change is a
read-modify-write under an fcntl lock, written to a temp file and renamed over the old one,
so concurrent `run`s and `set`s lose no record and a crash leaves the previous ledger
intact. A ledger that does not parse is an error, never silently reset: a reset would drop
every rotation date (every keyring secret would count as due) and the outside-change
records with them, and hide whatever broke the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from devsecrets.errors import DevsecretsError
from devsecrets.paths import state_dir
from devsecrets.statefiles import atomic_write, locked

VERSION = 1
Projects = dict[str, dict[str, "Record"]]


class LedgerError(DevsecretsError):
    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"the rotation ledger {path} {problem}",
            "devsecrets does not reset it on its own: look at it, then move it aside "
            f"(mv {path} {path}.broken); every keyring secret then counts as due until "
            "it is rotated again",
        )


@dataclass(frozen=True)
class Record:
    """One secret's rotation record. `ref` is the reference the record was made for: after
    the config points the secret elsewhere, the record no longer says anything about it."""

    ref: str
    rotated_at: datetime
    scope: str
    via: str  # set | rotate | rotate-command | 1password
    fingerprint: str | None = None
    outside_change_at: datetime | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "rotated_at": _timestamp(self.rotated_at),
            "scope": self.scope,
            "via": self.via,
            "fingerprint": self.fingerprint,
            "outside_change_at": _timestamp(self.outside_change_at),
        }

    @classmethod
    def from_json(cls, data: object) -> Record:
        if not isinstance(data, dict):
            raise ValueError("a record is not an object")
        fingerprint = data.get("fingerprint")
        outside = data.get("outside_change_at")
        return cls(
            ref=_text(data, "ref"),
            rotated_at=_parse_time(_text(data, "rotated_at")),
            scope=_text(data, "scope"),
            via=_text(data, "via"),
            fingerprint=fingerprint if isinstance(fingerprint, str) else None,
            outside_change_at=_parse_time(outside) if isinstance(outside, str) else None,
        )


def ledger_path() -> Path:
    return state_dir() / "ledger.json"


def read_records(project: str) -> dict[str, Record]:
    """The project's records (no lock needed: the file is only ever replaced whole)."""
    return _load(ledger_path()).get(project, {})


def write_record(project: str, name: str, record: Record) -> None:
    def change(projects: Projects) -> None:
        projects.setdefault(project, {})[name] = record

    update(change)


def note_outside_change(
    project: str, name: str, fingerprint: str, noticed_at: datetime | None
) -> None:
    """Record a value's new fingerprint; `noticed_at` when it changed outside devsecrets
    (None: only the fingerprint key changed). The rotation date stays."""

    def change(projects: Projects) -> None:
        record = projects.get(project, {}).get(name)
        if record is not None:
            outside = noticed_at or record.outside_change_at
            projects[project][name] = replace(
                record, fingerprint=fingerprint, outside_change_at=outside
            )

    update(change)


def update(change: Callable[[Projects], None]) -> None:
    """Apply `change` to the whole ledger under the lock, then replace the file atomically."""
    path = ledger_path()
    with locked(path.with_name("ledger.lock")):
        projects = _load(path)
        change(projects)
        document = {
            "version": VERSION,
            "projects": {
                project: {name: record.as_json() for name, record in sorted(records.items())}
                for project, records in sorted(projects.items())
            },
        }
        atomic_write(path, (json.dumps(document, indent=2) + "\n").encode())


def _load(path: Path) -> Projects:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LedgerError(path, f"cannot be read: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise LedgerError(path, f"is not valid JSON{where}") from None
    if not isinstance(document, dict) or not isinstance(document.get("projects"), dict):
        raise LedgerError(path, "does not have the ledger's shape")
    if document.get("version") != VERSION:
        raise LedgerError(path, f"has version {document.get('version')!r}; this reads 1")
    projects: Projects = {}
    for project, records in document["projects"].items():
        if not isinstance(records, dict):
            raise LedgerError(path, f"has a malformed entry for project {project!r}")
        for name, data in records.items():
            try:
                projects.setdefault(project, {})[name] = Record.from_json(data)
            except ValueError as exc:
                raise LedgerError(path, f"has a malformed record {project}/{name}: {exc}") from None
    return projects


def _text(data: dict[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} is missing")
    return value


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed


def _timestamp(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
