"""`devsecrets status`: names, sources, scopes, last update; never a value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import cli, store_keyring, trusted_project, write_project

CANARY = "statuscanary-91c2d3"
CONFIG = """\
project: shop
secrets:
  STRIPE_API_KEY: op://Staging/stripe/credential
  DATABASE_URL:
    from: keyring:database-url
    scope: sandbox
    commands: [psql]
"""


def project(sandbox: Sandbox, tmp_path: Path) -> Path:
    write_state(
        sandbox.op_state,
        make_state(
            [
                vault(
                    "Staging",
                    items=[
                        item("stripe", {"credential": CANARY}, updated_at="2026-11-30T10:00:00Z")
                    ],
                )
            ]
        ),
    )
    store_keyring("shop", "DATABASE_URL", CANARY, ref="keyring:database-url", scope="sandbox")
    return trusted_project(tmp_path, CONFIG)


def test_table(sandbox: Sandbox, tmp_path: Path) -> None:
    result = cli("status", cwd=project(sandbox, tmp_path))
    out = result.stdout.decode()
    assert result.returncode == 0
    assert out.splitlines()[0].startswith("shop (staging)")
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert lines["STRIPE_API_KEY"][1:3] == ["op://Staging/stripe/credential", "staging"]
    assert lines["DATABASE_URL"][1:3] == ["keyring:database-url", "sandbox"]
    assert CANARY not in out + result.stderr.decode()
    assert [c["argv"][:2] for c in sandbox.op_calls()] == [["item", "list"]]


def test_json(sandbox: Sandbox, tmp_path: Path) -> None:
    result = cli("status", "--json", cwd=project(sandbox, tmp_path))
    document = json.loads(result.stdout)
    assert document["project"] == "shop"
    rows = {row["name"]: row for row in document["secrets"]}
    assert rows["STRIPE_API_KEY"]["updated_at"] == "2026-11-30T10:00:00+00:00"
    database = rows["DATABASE_URL"]
    assert (database["provider"], database["ref"], database["scope"]) == (
        "keyring",
        "keyring:database-url",
        "sandbox",
    )
    assert database["commands"] == ["psql"]
    assert database["updated_at"] is None
    assert CANARY not in result.stdout.decode()


def test_provider_trouble_is_a_warning_not_a_failure(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: object
) -> None:
    import os

    directory = project(sandbox, tmp_path)
    result = cli("status", cwd=directory, env={**os.environ, "FAKE_OP_MODE": "signed_out"})
    assert result.returncode == 0
    assert "warning: onepassword: the 1Password CLI is not signed in" in result.stderr.decode()
    out = result.stdout.decode()
    assert "STRIPE_API_KEY: its age is unknown: 1Password unavailable: the 1Password CLI is " in out
    assert "not signed in — sign in to 1Password" in out
    assert "did not say" not in out
    as_json = cli("status", "--json", cwd=directory, env={"FAKE_OP_MODE": "signed_out"})
    stripe = _rows(as_json.stdout)["STRIPE_API_KEY"]
    assert stripe["age_unknown_why"].startswith("1Password unavailable: the 1Password CLI is not")


MIXED = """project: shop
secrets:
  STRIPE_API_KEY: op://Staging/stripe/credential
  PAYMENTS_KEY: op://Staging/payments/credential
  OLD_KEY: op://Staging/old/credential
  GONE_KEY: op://Staging/gone/credential
  DUP_KEY: op://Staging/dup/credential
  ELSEWHERE_KEY: op://Nowhere/stripe/credential
"""
DUP_ID = "zzzzzzzzzzzzzzzzzzzzzzzzzz"


def mixed_vault(sandbox: Sandbox) -> None:
    items = [
        item("stripe", {"credential": CANARY}),
        item("payments", {"credential": CANARY}, tags=["prod"]),
        item("old", {"credential": CANARY}, updated_at="2020-01-01T00:00:00Z"),
        item("dup", {"credential": "1"}),
        item("dup", {"credential": "2"}, id=DUP_ID),
    ]
    write_state(sandbox.op_state, make_state([vault("Staging", items=items)]))


def _rows(stdout: bytes) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in json.loads(stdout)["secrets"]}


def test_one_unknown_item_leaves_the_others_checked(sandbox: Sandbox, tmp_path: Path) -> None:
    mixed_vault(sandbox)
    directory = trusted_project(tmp_path, MIXED)
    result = cli("status", cwd=directory)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    states = {line.split()[0]: line for line in out.splitlines()[3:9]}
    assert states["STRIPE_API_KEY"].endswith("  ok")
    assert states["PAYMENTS_KEY"].endswith("production — refused")
    assert states["OLD_KEY"].endswith("stale — refused")
    for name in ("GONE_KEY", "DUP_KEY", "ELSEWHERE_KEY"):
        assert states[name].endswith("unknown age — refused")
    assert "GONE_KEY: its age is unknown: 1Password has no item 'gone' in vault 'Staging'" in out
    assert "DUP_KEY: its age is unknown: 2 items in vault 'Staging' match 'dup': " in out
    assert DUP_ID in out
    assert "ELSEWHERE_KEY: its age is unknown: 1Password has no vault 'Nowhere'" in out
    assert "did not say" not in out and "warning" not in result.stderr.decode()
    rows = _rows(cli("status", "--json", cwd=directory).stdout)
    assert rows["PAYMENTS_KEY"]["state"] == "refused" and rows["OLD_KEY"]["state"] == "stale"
    assert rows["STRIPE_API_KEY"]["age_unknown_why"] is None
    assert rows["GONE_KEY"]["age_unknown_why"] == (
        "1Password has no item 'gone' in vault 'Staging'"
    )
    assert rows["GONE_KEY"]["notes"] == [
        "its age is unknown: 1Password has no item 'gone' in vault 'Staging'"
    ]


def test_untrusted_config_says_nothing_was_checked(sandbox: Sandbox, tmp_path: Path) -> None:
    mixed_vault(sandbox)
    directory = write_project(tmp_path, CONFIG)
    result = cli("status", cwd=directory)
    out = result.stdout.decode()
    assert "providers were not asked" in result.stderr.decode()
    assert "STRIPE_API_KEY: its age is unknown: not checked: the config is not trusted" in out
    assert "did not say" not in out
    assert sandbox.op_calls() == []
    rows = _rows(cli("status", "--json", cwd=directory).stdout)
    assert rows["STRIPE_API_KEY"]["age_unknown_why"] == "not checked: the config is not trusted"
    assert rows["DATABASE_URL"]["age_unknown_why"] == "devsecrets has no record of storing it"


def test_every_json_time_is_utc_to_the_second(sandbox: Sandbox, tmp_path: Path) -> None:
    """Trust and secret times alike: `+00:00`, no microseconds, whatever the local zone."""
    import re
    from datetime import UTC, datetime

    directory = project(sandbox, tmp_path)
    rotated = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC)
    store_keyring(
        "shop",
        "DATABASE_URL",
        CANARY,
        ref="keyring:database-url",
        scope="sandbox",
        rotated_at=rotated,
    )
    result = cli("status", "--json", cwd=directory, env={"TZ": "XST-5:30"})
    document = json.loads(result.stdout)
    times = {
        f"{where}.{key}": value
        for where, part in [("trust", document["trust"])]
        + [(row["name"], row) for row in document["secrets"]]
        for key, value in part.items()
        if key.endswith("_at") and value is not None
    }
    assert {"trust.allowed_at", "trust.expires_at", "DATABASE_URL.due_at"} <= set(times)
    for key, value in times.items():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", value), (key, value)
    assert times["DATABASE_URL.due_at"] == "2026-12-08T08:30:15+00:00"
