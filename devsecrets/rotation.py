"""Rotation age: fresh, due soon, stale or unknown — pure decisions, the clock passed in.

Where the age comes from: a 1Password item's `updated_at` (from `op item list`, no value
read); for keyring secrets, the ledger's record of the last `set`/`rotate`. No record means
the age is unknown, and an unknown age counts as due: the weekly rotation is a promise
about every served secret, not only the ones devsecrets happens to know about. Why an age
is unknown is said as precisely as it is known: the provider's reason for that reference
(`Metadata.unknown`: no such item, 1Password unavailable, not asked), else the ledger's.

A secret is stale (refused) from its due date on (`changed + max_age`, boundary included),
due soon from `warn_window` before it. A change time in the future is clock skew: up to
`SKEW_TOLERANCE` it counts as "just now"; beyond it the age is unknown, since this
machine's clock — which every due date depends on — cannot be trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from devsecrets.config import SecretSpec
from devsecrets.durations import format_duration, humanize
from devsecrets.ledger import Record
from devsecrets.policy import Policy, Refusal
from devsecrets.providers.base import Metadata

SKEW_TOLERANCE = timedelta(minutes=5)
OK, DUE_SOON, STALE, UNKNOWN = "ok", "due_soon", "stale", "unknown"


@dataclass(frozen=True)
class Age:
    """When a secret's value last changed, as far as anything says, and who says so."""

    changed_at: datetime | None
    basis: str
    unknown_why: str = ""
    never_stored: bool = False  # a keyring secret devsecrets has no record of at all


@dataclass(frozen=True)
class Assessment:
    name: str
    state: str
    max_age: timedelta
    changed_at: datetime | None
    due_at: datetime | None
    basis: str
    why: str  # for UNKNOWN: why the age is not known
    now: datetime
    skewed: bool = False
    never_stored: bool = False

    @property
    def served(self) -> bool:
        return self.state in (OK, DUE_SOON)

    @property
    def age(self) -> timedelta | None:
        return None if self.changed_at is None else max(self.now - self.changed_at, timedelta())

    def refusal(self) -> Refusal | None:
        fix = f"rotate it: devsecrets rotate {self.name}"
        if self.state == STALE:
            assert self.age is not None and self.due_at is not None
            return Refusal(
                self.name,
                f"it is {humanize(self.age)} old ({self.basis}); the policy allows "
                f"{format_duration(self.max_age)}, so it was due on {when(self.due_at)}",
                fix,
            )
        if self.state == UNKNOWN:
            if self.skewed:
                fix = "check this machine's clock (`timedatectl`; enable NTP), then retry"
            elif self.never_stored:
                fix = f"store it: devsecrets set {self.name}"
            return Refusal(self.name, f"its age is unknown: {self.why}", fix)
        return None

    def warning(self) -> str | None:
        if self.state != DUE_SOON:
            return None
        assert self.due_at is not None
        return (
            f"{self.note()} (on {when(self.due_at)}): rotate it with "
            f"`devsecrets rotate {self.name}`"
        )

    def note(self) -> str:
        """A few words for a status line: "DATABASE_URL due for rotation in 2 days"."""
        if self.state == DUE_SOON and self.due_at is not None:
            left = self.due_at - self.now
            return f"{self.name} due for rotation in {humanize(left)}"
        if self.state == STALE:
            return f"{self.name} is stale (devsecrets rotate {self.name})"
        if self.state == UNKNOWN:
            return f"{self.name} has an unknown age (devsecrets rotate {self.name})"
        return f"{self.name} ok"


def age_of(spec: SecretSpec, meta: Metadata | None, record: Record | None) -> Age:
    """The provider's own `updated_at` first; else the ledger, if it is about this ref —
    unless the provider was asked and could not say anything (`meta.unknown`): the item
    the ledger vouched for may be gone, or be another one now."""
    if meta is not None and meta.updated_at is not None:
        return Age(meta.updated_at, "1Password item updated_at")
    if meta is not None and meta.unknown:
        return Age(None, "", meta.unknown)
    if record is not None and record.ref == spec.ref.text:
        return Age(record.rotated_at, f"stored with devsecrets {record.via}")
    if record is not None:
        why = f"it was last rotated as {record.ref}, and the config now says {spec.ref.text}"
        return Age(None, "", why)
    if spec.ref.provider == "onepassword":
        return Age(None, "", "1Password did not say when the item was last updated")
    return Age(None, "", "devsecrets has no record of storing it", never_stored=True)


def assess(spec: SecretSpec, policy: Policy, age: Age, now: datetime) -> Assessment:
    max_age = policy.max_age_for(spec)
    if age.changed_at is None:
        return Assessment(
            spec.name,
            UNKNOWN,
            max_age,
            None,
            None,
            "",
            age.unknown_why,
            now,
            False,
            age.never_stored,
        )
    changed = age.changed_at
    if changed > now + SKEW_TOLERANCE:
        why = (
            f"it last changed on {when(changed)} ({age.basis}), {humanize(changed - now)} in "
            "the future: this machine's clock is behind, or the source's is ahead"
        )
        return Assessment(spec.name, UNKNOWN, max_age, None, None, age.basis, why, now, True)
    changed = min(changed, now)
    due = changed + max_age
    if now >= due:
        state = STALE
    elif now >= due - policy.warn_window(max_age):
        state = DUE_SOON
    else:
        state = OK
    return Assessment(spec.name, state, max_age, changed, due, age.basis, "", now)


def assess_all(
    specs: Sequence[SecretSpec],
    policy: Policy,
    metadata: Mapping[str, Metadata],
    records: Mapping[str, Record],
    now: datetime,
) -> dict[str, Assessment]:
    """Assess every spec; `metadata` and `records` are keyed by secret name."""
    return {
        spec.name: assess(
            spec, policy, age_of(spec, metadata.get(spec.name), records.get(spec.name)), now
        )
        for spec in specs
    }


def scope_refusal(spec: SecretSpec, record: Record | None) -> Refusal | None:
    """A value stored as one scope's credential is not served as another's."""
    if record is None or record.ref != spec.ref.text or record.scope == spec.scope:
        return None
    return Refusal(
        spec.name,
        f"it was stored as a {record.scope!r} credential, and the config now says {spec.scope!r}",
        f"store a {spec.scope} credential: devsecrets rotate {spec.name}",
    )


def due_note(assessments: Mapping[str, Assessment]) -> str | None:
    """The most urgent rotation note for a status line, or None when all are fresh."""
    order = {STALE: 0, UNKNOWN: 1, DUE_SOON: 2}
    pending = sorted(
        (a for a in assessments.values() if a.state in order),
        key=lambda a: (order[a.state], a.due_at or a.now, a.name),
    )
    if not pending:
        return None
    more = f" (+{len(pending) - 1} more)" if len(pending) > 1 else ""
    return pending[0].note() + more


def when(moment: datetime) -> str:
    """A date people read: local time, minutes, with the zone."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")
