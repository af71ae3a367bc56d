"""`devsecrets status`: what the project needs, where it comes from, how old it is and
whether `run` would serve it. Never a value (no value is even read: ages come from the
ledger and from 1Password's item metadata)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from devsecrets.config import Config, SecretSpec, load_config
from devsecrets.durations import humanize
from devsecrets.errors import ProviderError
from devsecrets.ledger import Record, read_records
from devsecrets.policy import Refusal, metadata_refusals, policy_for, static_refusals
from devsecrets.providers.base import Metadata
from devsecrets.refs import Ref
from devsecrets.resolve import fetch
from devsecrets.rotation import (
    STALE,
    UNKNOWN,
    Assessment,
    assess_all,
    due_note,
    scope_refusal,
    when,
)
from devsecrets.trust import ALLOWED, check

PROVIDER_LABELS = {"onepassword": "1Password", "keyring": "the keyring"}
STATE_TEXT = {"ok": "ok", "due_soon": "due soon", "stale": "stale", "unknown": "unknown age"}


@dataclass(frozen=True)
class Row:
    name: str
    provider: str
    ref: str
    scope: str
    commands: tuple[str, ...] | None
    updated_at: datetime | None
    assessment: Assessment | None = None
    refusals: tuple[Refusal, ...] = ()  # what no rotation fixes: production, scope, vault
    outside_change_at: datetime | None = None
    scope_mismatch: Refusal | None = None  # stored as another scope: a rotation fixes it

    @property
    def state(self) -> str:
        """ok | due_soon | stale | unknown | refused — what `run` would do with it."""
        if self.refusals or self.scope_mismatch:
            return "refused"
        return self.assessment.state if self.assessment else UNKNOWN

    @property
    def state_text(self) -> str:
        if self.refusals:
            production = any(r.production for r in self.refusals)
            return "production — refused" if production else "refused"
        if self.scope_mismatch:
            return "wrong scope — refused"
        text = STATE_TEXT[self.state]
        return f"{text} — refused" if self.state in (STALE, UNKNOWN) else text

    def notes(self) -> list[str]:
        notes = [r.reason for r in self.refusals]
        if self.scope_mismatch:
            notes.append(self.scope_mismatch.reason)
        age_refusal = self.assessment.refusal() if self.assessment else None
        if age_refusal and not self.refusals:
            notes.append(age_refusal.reason)
        if self.outside_change_at:
            notes.append(f"changed outside devsecrets (noticed {when(self.outside_change_at)})")
        return notes

    def as_json(self) -> dict[str, object]:
        a = self.assessment
        return {
            "name": self.name,
            "provider": self.provider,
            "ref": self.ref,
            "scope": self.scope,
            "commands": list(self.commands) if self.commands is not None else None,
            "updated_at": json_time(self.updated_at),
            "state": self.state,
            "age_seconds": int(a.age.total_seconds()) if a and a.age is not None else None,
            "due_at": json_time(a.due_at if a else None),
            "age_basis": a.basis if a and a.basis else None,
            "age_unknown_why": a.why if a and a.state == UNKNOWN else None,
            "notes": self.notes(),
            "changed_outside_at": json_time(self.outside_change_at),
        }


def json_time(moment: datetime | None) -> str | None:
    """Every time in JSON output: UTC, whole seconds, `+00:00` (as trust.py's)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


@dataclass
class Survey:
    """What is known about a project's secrets without reading any value."""

    rows: list[Row]
    warnings: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # provider → its warning

    @property
    def assessments(self) -> dict[str, Assessment]:
        return {r.name: r.assessment for r in self.rows if r.assessment is not None}


def survey(
    config: Config,
    *,
    now: datetime | None = None,
    metadata: bool = True,
    not_asked: str = "providers were not asked",
) -> Survey:
    """Every secret's source, age, due date and policy verdict. `metadata=False` skips the
    providers (what a shell prompt can afford): 1Password ages are then unknown, and
    "not checked: {not_asked}" says why."""
    now = now or datetime.now(UTC)
    policy = policy_for(config)
    unavailable: dict[str, str] = {}
    if metadata:
        found, warnings, unavailable = _metadata(config)
    else:
        found, warnings = _unknown(config.secrets, f"not checked: {not_asked}"), []
    records: dict[str, Record] = read_records(config.project)
    by_name = {s.name: found[s.ref] for s in config.secrets if s.ref in found}
    assessments = assess_all(config.secrets, policy, by_name, records, now)
    rows = []
    for spec in config.secrets:
        record = records.get(spec.name)
        refusals = static_refusals(spec, policy) + metadata_refusals(
            spec, by_name.get(spec.name), policy
        )
        meta = by_name.get(spec.name)
        rows.append(
            Row(
                spec.name,
                spec.ref.provider,
                spec.ref.text,
                spec.scope,
                spec.commands,
                meta.updated_at if meta else None,
                assessments[spec.name],
                tuple(refusals),
                record.outside_change_at if record and record.ref == spec.ref.text else None,
                scope_refusal(spec, record),
            )
        )
    return Survey(rows, warnings, unavailable)


def rotation_note(
    config: Config, *, now: datetime | None = None, metadata: bool = True
) -> str | None:
    """A status line's rotation words ("DATABASE_URL due for rotation in 2 days"), or None.

    `metadata=False` asks no provider (no `op` call on a prompt): only the ledger's ages
    (keyring secrets) count then. Secrets refused for other reasons are left to `run`.
    """
    rows = survey(config, now=now, metadata=metadata).rows
    return due_note(
        {
            row.name: row.assessment
            for row in rows
            if row.assessment and not row.refusals and (metadata or row.provider == "keyring")
        }
    )


def _metadata(config: Config) -> tuple[dict[Ref, Metadata], list[str], dict[str, str]]:
    """Metadata from every provider, plus a warning for and the name of each provider that
    could not answer (its secrets' metadata then says why: "1Password unavailable: …")."""
    metadata: dict[Ref, Metadata] = {}
    warnings = []
    unavailable = {}
    by_provider: dict[str, list[SecretSpec]] = {}
    for spec in config.secrets:
        by_provider.setdefault(spec.ref.provider, []).append(spec)
    for name, specs in by_provider.items():
        try:
            metadata.update(fetch(config, specs, values=False)[1])
        except ProviderError as exc:
            said = exc.message.splitlines()[0]
            unavailable[name] = f"{name}: {said} ({exc.fix})"
            warnings.append(unavailable[name])
            label = PROVIDER_LABELS.get(name, name)
            metadata.update(_unknown(specs, f"{label} unavailable: {said} — {exc.fix}"))
    return metadata, warnings, unavailable


def _unknown(specs: Sequence[SecretSpec], why: str) -> dict[Ref, Metadata]:
    """Metadata saying only why there is none. Not for keyring secrets: their ages are in
    the ledger, which needs no provider."""
    return {spec.ref: Metadata(unknown=why) for spec in specs if spec.ref.provider != "keyring"}


def show_status(*, as_json: bool, now: datetime | None = None) -> int:
    from devsecrets.agent.commands import agent_state, describe

    config = load_config()
    verdict = check(config)
    trusted = verdict.state == ALLOWED
    # Providers are not asked about the references of a config nobody has reviewed.
    result = survey(config, now=now, metadata=trusted, not_asked="the config is not trusted")
    rows, warnings = result.rows, result.warnings
    if not trusted:
        warnings.append("providers were not asked (the config is not trusted)")
    agent = agent_state(config.path)
    if as_json:
        document = {
            "project": config.project,
            "config": str(config.path),
            "scope": config.scope,
            "trust": verdict.as_json(),
            "secrets": [row.as_json() for row in rows],
            "agent": agent,
            "warnings": warnings,
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"{config.project} ({config.scope}) — {config.path}")
    print(f"trust: {verdict.describe()}")
    table = [("NAME", "SOURCE", "SCOPE", "AGE", "DUE", "STATE")] + [
        (r.name, r.ref, r.scope, _age(r), _due(r), r.state_text) for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    for row in rows:
        for note in row.notes():
            print(f"  {row.name}: {note}")
    print(describe(agent))
    for warning in warnings:
        print(f"devsecrets: warning: {warning}", file=sys.stderr)
    return 0


def _age(row: Row) -> str:
    a = row.assessment
    return humanize(a.age) if a and a.age is not None else "-"


def _due(row: Row) -> str:
    a = row.assessment
    return when(a.due_at) if a and a.due_at else "-"
