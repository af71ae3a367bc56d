"""What a `run` is served, decided and recorded: the effective policy, the ledger's ages,
`resolve()`, a check for values changed outside devsecrets, warnings, the audit log.

Every decision — served, warned (due soon), refused — is appended to the audit log with
its reason, never a value. A failing audit log is reported and does not block the run: it
is the developer's own record, not a gate.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from devsecrets import auditlog
from devsecrets.auditlog import Event
from devsecrets.config import Config, SecretSpec
from devsecrets.errors import RefusedError
from devsecrets.ledger import Record, note_outside_change, read_records
from devsecrets.policy import policy_for
from devsecrets.resolve import Resolved, resolve
from devsecrets.rotation import when
from devsecrets.secret import Secret

Warn = Callable[[str], None]


def warn_stderr(text: str) -> None:
    print(f"devsecrets: {text}", file=sys.stderr, flush=True)


def serve(
    config: Config,
    specs: Sequence[SecretSpec],
    *,
    command: str,
    now: datetime | None = None,
    warn: Warn = warn_stderr,
) -> dict[str, Secret]:
    """The values `command` may receive, or a RefusedError listing every refusal."""
    now = now or datetime.now(UTC)

    def audit(events: list[Event]) -> None:
        auditlog.append_run(config, events, command=command, now=now, warn=warn)

    records = read_records(config.project)
    try:
        resolved = resolve(config, specs, policy_for(config), records=records, now=now)
    except RefusedError as exc:
        audit([Event(name, "refused", reason) for name, reason, _ in exc.refusals])
        raise
    try:
        events = outside_changes(config, specs, resolved, records, now, warn)
    except BaseException:
        resolved.wipe()
        raise
    for spec in specs:
        assessment = resolved.assessments[spec.name]
        warning = assessment.warning()
        if warning:
            warn(warning)
            events.append(Event(spec.name, "warned", warning))
        else:
            due = when(assessment.due_at) if assessment.due_at else "?"
            events.append(Event(spec.name, "served", f"fresh ({assessment.basis}); due {due}"))
    audit(events)
    return resolved.secrets


def outside_changes(
    config: Config,
    specs: Sequence[SecretSpec],
    resolved: Resolved,
    records: Mapping[str, Record],
    now: datetime,
    warn: Warn,
) -> list[Event]:
    """Compare keyring values with their recorded fingerprints; report and record changes.

    The rotation date is kept: a value changed outside devsecrets is at most as old as the
    last rotation, and nothing says the new one is a fresh credential.
    """
    from devsecrets.fingerprint import NoKey, load_key

    checked = [
        spec
        for spec in specs
        if (record := records.get(spec.name)) is not None
        and record.fingerprint
        and record.ref == spec.ref.text
        and spec.name in resolved.secrets
    ]
    if not checked:
        return []
    key = load_key(create=False)
    if isinstance(key, NoKey):
        warn(f"cannot tell whether values changed outside devsecrets ({key.reason})")
        return []
    events = []
    for spec in checked:
        record = records[spec.name]
        secret = resolved.secrets[spec.name]
        verdict = key.compare(secret, record.fingerprint or "")
        if verdict == "same":
            continue
        changed = verdict == "changed"
        note_outside_change(
            config.project, spec.name, key.fingerprint(secret), now if changed else None
        )
        if changed:
            text = (
                f"{spec.name} was changed outside devsecrets since it was stored on "
                f"{when(record.rotated_at)}; its age still counts from then (rotate it with "
                f"`devsecrets rotate {spec.name}` to start a new period)"
            )
            warn(text)
            events.append(Event(spec.name, "changed_outside", text))
    return events
