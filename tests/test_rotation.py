"""Rotation age with an injected clock: fresh, due soon, stale, boundaries, unknown, skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devsecrets.config import SecretSpec, parse_config
from devsecrets.ledger import Record
from devsecrets.policy import Policy
from devsecrets.providers.base import Metadata
from devsecrets.providers.onepassword import parse_timestamp
from devsecrets.rotation import (
    DUE_SOON,
    OK,
    SKEW_TOLERANCE,
    STALE,
    UNKNOWN,
    Age,
    Assessment,
    age_of,
    assess,
    assess_all,
    due_note,
    scope_refusal,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CONFIG = """\
secrets:
  DB: keyring:database-url
  STRIPE: op://Staging/stripe/credential
  SHORT:
    from: keyring
    max_age: 1d
"""


def specs() -> dict[str, SecretSpec]:
    config = parse_config(CONFIG.encode(), Path("/p/shop/.devsecrets.yml"))
    return {s.name: s for s in config.secrets}


def state_at(
    changed: datetime | None, name: str = "DB", policy: Policy | None = None
) -> Assessment:
    spec = specs()[name]
    return assess(spec, policy or Policy(), Age(changed, "ledger"), NOW)


@pytest.mark.parametrize(
    ("age", "state"),
    [
        (timedelta(), OK),
        (timedelta(hours=1), OK),
        (5 * DAY - timedelta(seconds=1), OK),
        (5 * DAY, DUE_SOON),  # exactly warn_before (2d) before the 7-day due date
        (6 * DAY, DUE_SOON),
        (7 * DAY - timedelta(seconds=1), DUE_SOON),
        (7 * DAY, STALE),  # exactly max_age: due now, refused
        (30 * DAY, STALE),
    ],
)
def test_states_by_age(age: timedelta, state: str) -> None:
    assessment = state_at(NOW - age)
    assert assessment.state == state
    assert assessment.due_at == NOW - age + 7 * DAY
    assert assessment.served is (state != STALE)


def test_fresh_has_no_warning_and_no_refusal() -> None:
    fresh = state_at(NOW - DAY)
    assert fresh.warning() is None and fresh.refusal() is None


def test_due_soon_warning_names_the_secret_and_the_due_date() -> None:
    warning = state_at(NOW - 5 * DAY).warning()
    assert warning is not None
    assert warning.startswith("DB due for rotation in 2 days (on 2026-12-06 ")
    assert warning.endswith("rotate it with `devsecrets rotate DB`")


def test_stale_refusal_says_how_old_and_which_command_fixes_it() -> None:
    refusal = state_at(NOW - 9 * DAY).refusal()
    assert refusal is not None
    assert refusal.name == "DB"
    assert refusal.reason.startswith("it is 9 days old (ledger); the policy allows 7d")
    assert refusal.fix == "rotate it: devsecrets rotate DB"


def test_secret_max_age_and_warn_window_cap() -> None:
    # max_age 1d: the 2-day warning window is capped at half of it.
    assert state_at(NOW - timedelta(hours=11), "SHORT").state == OK
    assert state_at(NOW - timedelta(hours=12), "SHORT").state == DUE_SOON
    assert state_at(NOW - DAY, "SHORT").state == STALE


def test_policy_max_age_and_warn_before() -> None:
    policy = Policy(max_age=3 * DAY, warn_before=DAY)
    assert state_at(NOW - timedelta(hours=47), policy=policy).state == OK
    assert state_at(NOW - 2 * DAY, policy=policy).state == DUE_SOON
    assert state_at(NOW - 3 * DAY, policy=policy).state == STALE


def test_unknown_age_counts_as_due_and_is_refused() -> None:
    spec = specs()["DB"]
    assessment = assess(spec, Policy(), age_of(spec, None, None), NOW)
    assert assessment.state == UNKNOWN and not assessment.served
    refusal = assessment.refusal()
    assert refusal is not None
    assert refusal.reason == "its age is unknown: devsecrets has no record of storing it"
    assert refusal.fix == "store it: devsecrets set DB"
    assert assessment.note() == "DB has an unknown age (devsecrets rotate DB)"


def test_a_record_for_another_reference_says_nothing() -> None:
    spec = specs()["DB"]
    old = Record("keyring:old-db", NOW, "staging", "set")
    age = age_of(spec, None, old)
    assert age.changed_at is None
    assert "keyring:old-db" in age.unknown_why and "keyring:database-url" in age.unknown_why


def test_1password_age_comes_from_updated_at_not_the_ledger() -> None:
    spec = specs()["STRIPE"]
    record = Record(spec.ref.text, NOW, "staging", "1password")
    meta = Metadata(updated_at=NOW - 8 * DAY)
    assert age_of(spec, meta, record).changed_at == NOW - 8 * DAY
    missing = age_of(spec, Metadata(), None)
    assert missing.changed_at is None and "1Password did not say" in missing.unknown_why


def test_why_1password_could_not_say_is_the_reason_and_beats_the_ledger() -> None:
    """An item 1Password cannot find now is not vouched for by an old ledger record."""
    spec = specs()["STRIPE"]
    record = Record(spec.ref.text, NOW, "staging", "1password")
    gone = Metadata(unknown="1Password has no item 'stripe' in vault 'Staging'")
    for with_record in (None, record):
        age = age_of(spec, gone, with_record)
        assert age.changed_at is None
        assert age.unknown_why == "1Password has no item 'stripe' in vault 'Staging'"


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("2026-12-03T12:00:00Z", OK),
        ("2026-12-03T04:00:00.453086-08:00", OK),  # local offset, fractional seconds
        ("2026-11-29T03:00:00.123456789-08:00", DUE_SOON),  # op's nanoseconds
        ("2026-11-27T12:00:00Z", STALE),
        ("2026-11-27T04:00:00-08:00", STALE),  # the very boundary, in another zone
    ],
)
def test_both_updated_at_formats(text: str, state: str) -> None:
    updated = parse_timestamp(text)
    assert updated is not None
    spec = specs()["STRIPE"]
    assessment = assess(spec, Policy(), age_of(spec, Metadata(updated_at=updated), None), NOW)
    assert assessment.state == state


@pytest.mark.parametrize(
    ("ahead", "state"),
    [
        (timedelta(seconds=30), OK),
        (SKEW_TOLERANCE, OK),
        (SKEW_TOLERANCE + timedelta(seconds=1), UNKNOWN),
        (3 * DAY, UNKNOWN),
    ],
)
def test_clock_skew(ahead: timedelta, state: str) -> None:
    assessment = state_at(NOW + ahead)
    assert assessment.state == state
    if state == OK:  # a little skew counts as "just changed", not as negative age
        assert assessment.age == timedelta()
        assert assessment.due_at == NOW + 7 * DAY
        return
    refusal = assessment.refusal()
    assert refusal is not None
    assert "in the future" in refusal.reason and "clock" in refusal.reason
    assert "timedatectl" in refusal.fix


def test_scope_recorded_at_store_time_must_match() -> None:
    spec = specs()["DB"]
    assert scope_refusal(spec, Record("keyring:database-url", NOW, "staging", "set")) is None
    refusal = scope_refusal(spec, Record("keyring:database-url", NOW, "sandbox", "set"))
    assert refusal is not None and "stored as a 'sandbox' credential" in refusal.reason
    assert scope_refusal(spec, Record("keyring:other", NOW, "sandbox", "set")) is None


def test_due_note_picks_the_most_urgent() -> None:
    all_specs = list(specs().values())
    records = {
        "DB": Record("keyring:database-url", NOW - 6 * DAY, "staging", "set"),
        "SHORT": Record("keyring", NOW - timedelta(hours=1), "staging", "set"),
    }
    meta = {"STRIPE": Metadata(updated_at=NOW - timedelta(days=5, hours=12))}
    found = assess_all(all_specs, Policy(), meta, records, NOW)
    assert {n: a.state for n, a in found.items()} == {
        "DB": DUE_SOON,
        "STRIPE": DUE_SOON,
        "SHORT": OK,
    }
    assert due_note(found) == "DB due for rotation in 1 day (+1 more)"
    records["SHORT"] = Record("keyring", NOW - 2 * DAY, "staging", "set")
    found = assess_all(all_specs, Policy(), meta, records, NOW)
    assert due_note(found) == "SHORT is stale (devsecrets rotate SHORT) (+2 more)"
    fresh = {"DB": Record("keyring:database-url", NOW, "staging", "set")}
    assert due_note(assess_all(all_specs[:1], Policy(), {}, fresh, NOW)) is None
