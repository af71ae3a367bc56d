"""Rotation enforced by `run` and shown by `status`: served, warned, refused, audited."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, timestamp, vault, write_state
from helpers import cli, files_containing, record_rotation, store_keyring, trusted_project

from devsecrets.auditlog import audit_path
from devsecrets.config import load_config
from devsecrets.ledger import read_records
from devsecrets.status import rotation_note

CANARY_KR = "krcanary-enf-71c3a9e05d"
CANARY_OP = "opcanary-enf-2b8e4f6a19"
CONFIG = """\
version: 1
project: shop
secrets:
  DB: keyring:database-url
  STRIPE: op://Staging/stripe-sandbox/credential
"""
ECHO = ["sh", "-c", 'test -n "$DB" && test -n "$STRIPE" && echo child-ran']
DAY = timedelta(days=1)


def ago(delta: timedelta) -> datetime:
    return datetime.now(UTC) - delta


def op_items(sandbox: Sandbox, *items: dict[str, object]) -> None:
    write_state(sandbox.op_state, make_state([vault("Staging", items=list(items))]))


def stripe(updated: datetime | None = None, **extra: object) -> dict[str, object]:
    when = timestamp(updated) if updated else None
    return item("stripe-sandbox", {"credential": CANARY_OP}, updated_at=when, **extra)  # type: ignore[arg-type]


@pytest.fixture
def project(sandbox: Sandbox, tmp_path: Path) -> Path:
    op_items(sandbox, stripe())
    store_keyring("shop", "DB", CANARY_KR, ref="keyring:database-url")
    return trusted_project(tmp_path, CONFIG)


def audit_lines() -> list[dict[str, str]]:
    return [json.loads(line) for line in audit_path().read_text().splitlines()]


def test_fresh_secrets_are_served_and_audited(project: Path) -> None:
    result = cli("run", "--", *ECHO, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"child-ran\n" and result.stderr == b""
    decisions = {(e["secret"], e["decision"], e["action"], e["command"]) for e in audit_lines()}
    assert decisions == {("DB", "served", "run", "sh"), ("STRIPE", "served", "run", "sh")}


def test_due_soon_is_served_with_a_warning(project: Path) -> None:
    # Six days minus a few minutes: "in 1 day" whatever the test's own duration.
    when = ago(6 * DAY - timedelta(minutes=5))
    record_rotation("shop", "DB", "keyring:database-url", rotated_at=when)
    result = cli("run", "--", *ECHO, cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 0 and result.stdout == b"child-ran\n"
    assert "devsecrets: DB due for rotation in 1 day (on 20" in err
    assert "rotate it with `devsecrets rotate DB`" in err
    warned = [e for e in audit_lines() if e["decision"] == "warned"]
    assert [e["secret"] for e in warned] == ["DB"]


def test_stale_keyring_secret_is_refused_before_any_value_is_read(
    project: Path, sandbox: Sandbox
) -> None:
    record_rotation("shop", "DB", "keyring:database-url", rotated_at=ago(8 * DAY))
    result = cli("run", "--", *ECHO, cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 125 and result.stdout == b""
    assert "refused 1 secret; nothing was started" in err
    assert "DB: it is 8 days old (stored with devsecrets set); the policy allows 7d" in err
    assert "fix: rotate it: devsecrets rotate DB" in err
    assert all(call["argv"][0] != "inject" for call in sandbox.op_calls())  # type: ignore[index]
    assert [(e["secret"], e["decision"]) for e in audit_lines()] == [("DB", "refused")]


def test_every_refusal_of_a_run_is_listed_together(sandbox: Sandbox, tmp_path: Path) -> None:
    op_items(
        sandbox,
        stripe(ago(10 * DAY)),
        item("tagged", {"credential": "fine-value"}, tags=["production"]),
        item("skewed", {"credential": "x-value"}, updated_at=timestamp(ago(-2 * DAY))),
    )
    store_keyring("shop", "DB", CANARY_KR, ref="keyring:database-url", rotated_at=ago(9 * DAY))
    keyring.set_password("devsecrets/shop", "NEVER", "never-recorded")
    project = trusted_project(
        tmp_path,
        CONFIG
        + "  TAGGED: op://Staging/tagged/credential\n"
        + "  SKEWED: op://Staging/skewed/credential\n"
        + "  NEVER: keyring\n",
    )
    result = cli("run", "--", "true", cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 125
    assert "refused 5 secrets; nothing was started" in err
    assert "DB: it is 9 days old" in err
    assert "NEVER: its age is unknown: devsecrets has no record of storing it" in err
    assert "STRIPE: it is 10 days old (1Password item updated_at)" in err
    assert "TAGGED: its 1Password item is tagged 'production'" in err
    assert "SKEWED: its age is unknown: it last changed on" in err and "in the future" in err
    for fix in ("devsecrets rotate DB", "devsecrets set NEVER", "devsecrets rotate STRIPE"):
        assert fix in err
    assert "timedatectl" in err
    assert all(call["argv"][0] != "inject" for call in sandbox.op_calls())  # type: ignore[index]


def test_an_unknown_item_hides_no_other_refusal(sandbox: Sandbox, tmp_path: Path) -> None:
    """The refusal list of a run refused early is completed per reference: one item
    1Password does not have does not hide another's production tag."""
    op_items(sandbox, stripe(), item("tagged", {"credential": "v"}, tags=["production"]))
    store_keyring("shop", "DB", CANARY_KR, ref="keyring:database-url", rotated_at=ago(9 * DAY))
    project = trusted_project(
        tmp_path,
        CONFIG
        + "  TAGGED: op://Staging/tagged/credential\n"
        + "  GONE: op://Staging/gone/credential\n",
    )
    result = cli("run", "--", "true", cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 125
    assert "refused 3 secrets; nothing was started" in err
    assert "DB: it is 9 days old" in err
    assert "TAGGED: its 1Password item is tagged 'production'" in err
    assert "GONE: its age is unknown: 1Password has no item 'gone' in vault 'Staging'" in err
    assert all(call["argv"][0] != "inject" for call in sandbox.op_calls())  # type: ignore[index]


def test_stale_1password_secret_is_refused_and_wiped(project: Path, sandbox: Sandbox) -> None:
    op_items(sandbox, stripe(ago(7 * DAY + timedelta(minutes=1))))
    result = cli("run", "--", *ECHO, cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 125
    assert "STRIPE: it is 7 days old (1Password item updated_at)" in err
    assert "DB:" not in err and CANARY_OP not in err


def test_team_policy_tightens_what_run_serves(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team.yml"
    team.write_text("max_age: 3d\n")
    monkeypatch.setenv("DEVSECRETS_POLICY", str(team))
    record_rotation("shop", "DB", "keyring:database-url", rotated_at=ago(4 * DAY))
    err = cli("run", "--", "true", cwd=project).stderr.decode()
    assert "DB: it is 4 days old (stored with devsecrets set); the policy allows 3d" in err


def test_a_value_changed_outside_devsecrets_is_reported_once(project: Path) -> None:
    assert cli("set", "DB", cwd=project, input=b"first-value-1234\n").returncode == 0
    assert cli("run", "--", "true", cwd=project).stderr == b""
    keyring.set_password("devsecrets/shop", "database-url", "changed-by-hand-5678")
    first = cli("run", "--", "true", cwd=project)
    err = first.stderr.decode()
    assert first.returncode == 0
    assert "DB was changed outside devsecrets since it was stored on" in err
    assert "its age still counts from then" in err
    assert cli("run", "--", "true", cwd=project).stderr == b""
    record = read_records("shop")["DB"]
    assert record.outside_change_at is not None and record.via == "set"
    assert [e["secret"] for e in audit_lines() if e["decision"] == "changed_outside"] == ["DB"]
    status = json.loads(cli("status", "--json", cwd=project).stdout)
    (db,) = [s for s in status["secrets"] if s["name"] == "DB"]
    assert db["changed_outside_at"] and "changed outside devsecrets" in db["notes"][0]


def test_status_shows_scope_age_due_and_state(sandbox: Sandbox, tmp_path: Path) -> None:
    op_items(sandbox, stripe(ago(10 * DAY)))
    store_keyring("shop", "DB", CANARY_KR, ref="keyring:database-url", rotated_at=ago(6 * DAY))
    store_keyring("shop", "FRESH", "fresh-value", ref="keyring", scope="sandbox")
    text = (
        CONFIG
        + "  FRESH:\n    from: keyring\n    scope: sandbox\n"
        + "  NEVER: keyring\n"
        + "  LIVE:\n    from: keyring\n    scope: production\n"
    )
    project = trusted_project(tmp_path, text)
    table = cli("status", cwd=project)
    out = table.stdout.decode()
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert lines["NAME"].split() == ["NAME", "SOURCE", "SCOPE", "AGE", "DUE", "STATE"]
    assert "6 days" in lines["DB"] and lines["DB"].endswith("due soon")
    assert "10 days" in lines["STRIPE"] and lines["STRIPE"].endswith("stale — refused")
    assert "sandbox" in lines["FRESH"] and lines["FRESH"].endswith("ok")
    assert lines["NEVER"].endswith("unknown age — refused")
    assert lines["LIVE"].endswith("production — refused")
    assert "LIVE: its scope 'production' is production" in out
    document = json.loads(cli("status", "--json", cwd=project).stdout)
    states = {s["name"]: s["state"] for s in document["secrets"]}
    assert states == {
        "DB": "due_soon",
        "STRIPE": "stale",
        "FRESH": "ok",
        "NEVER": "unknown",
        "LIVE": "refused",
    }
    db = next(s for s in document["secrets"] if s["name"] == "DB")
    assert 6 * 86400 - 60 < db["age_seconds"] <= 6 * 86400 + 60
    assert db["due_at"] and db["age_basis"] == "stored with devsecrets set"
    assert CANARY_KR.encode() not in table.stdout + table.stderr


def test_no_value_in_any_state_file_or_output(project: Path, sandbox: Sandbox) -> None:
    outputs = [
        cli("run", "--", *ECHO, cwd=project),
        cli("status", "--json", cwd=project),
        cli("set", "DB", cwd=project, input=CANARY_KR.encode()),
        cli("run", "--", *ECHO, cwd=project),
    ]
    record_rotation("shop", "DB", "keyring:database-url", rotated_at=ago(30 * DAY))
    outputs.append(cli("run", "--", *ECHO, cwd=project))
    assert outputs[-1].returncode == 125
    for result in outputs:
        for canary in (CANARY_KR, CANARY_OP):
            assert canary.encode() not in result.stdout + result.stderr
    assert audit_path().exists() and read_records("shop")
    root = Path(os.environ["HOME"]).parent
    for canary in (CANARY_KR, CANARY_OP):
        assert files_containing(root, canary.encode(), skip=(sandbox.backends,)) == []


def test_rotation_note_for_the_hooks_status_line(sandbox: Sandbox, tmp_path: Path) -> None:
    op_items(sandbox, stripe(ago(10 * DAY)))
    today = datetime.now(UTC)
    store_keyring("shop", "DB", CANARY_KR, ref="keyring:database-url", rotated_at=today - 4 * DAY)
    config = load_config(trusted_project(tmp_path, CONFIG))
    later = today + DAY  # the injected clock: tomorrow, DB is due soon
    calls = len(sandbox.op_calls())
    # Without metadata (a prompt cannot wait for op): the ledger's ages only, no op call.
    assert rotation_note(config, metadata=False) is None  # DB is fresh today
    note = rotation_note(config, now=later, metadata=False)
    assert note == "DB due for rotation in 2 days"
    assert len(sandbox.op_calls()) == calls
    assert (
        rotation_note(config, now=later) == "STRIPE is stale (devsecrets rotate STRIPE) (+1 more)"
    )


def test_team_vault_pins_are_enforced_by_run(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team.yml"
    team.write_text("vaults: [Dev]\n")
    monkeypatch.setenv("DEVSECRETS_POLICY", str(team))
    result = cli("run", "--", "true", cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 125
    assert f"STRIPE: 1Password vault 'Staging' is not one of the vaults allowed by {team}:1" in err
    assert "DB:" not in err and CANARY_OP not in err
