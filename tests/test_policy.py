"""Staging-only: scopes, vault names, tags and value shapes that say production are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import cli, store_keyring, trusted_project

from devsecrets.config import parse_config
from devsecrets.policy import (
    Policy,
    metadata_refusals,
    policy_for,
    says_production,
    static_refusals,
    value_refusals,
)
from devsecrets.providers.base import Metadata
from devsecrets.secret import Secret


def spec(text: str) -> object:
    config = parse_config(text.encode(), Path("/p/x/.devsecrets.yml"))
    return config.secrets[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("prod", True),
        ("Production", True),
        ("LIVE", True),
        ("Prod-Payments", True),
        ("payments prod", True),
        ("team_live_keys", True),
        ("Products", False),
        ("Staging", False),
        ("liveness", False),
        ("reproduce", False),
    ],
)
def test_production_words(name: str, expected: bool) -> None:
    assert says_production(name) is expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "secrets:\n  A:\n    from: keyring\n    scope: production\n",
            "scope 'production' is production",
        ),
        ("scope: PROD\nsecrets:\n  A: keyring\n", "scope 'prod' is production"),
        ("secrets:\n  A:\n    from: keyring\n    scope: qa\n", "scope 'qa' is not served"),
        (
            "secrets:\n  A: op://Prod-Payments/stripe/credential\n",
            "vault 'Prod-Payments' says production",
        ),
    ],
)
def test_refused_before_fetching(text: str, reason: str) -> None:
    refusals = static_refusals(spec(text), Policy())  # type: ignore[arg-type]
    assert len(refusals) == 1
    assert reason in refusals[0].reason
    assert refusals[0].name == "A"


def test_staging_and_sandbox_are_served() -> None:
    for scope in ("dev", "test", "sandbox", "staging"):
        text = f"secrets:\n  A:\n    from: op://Products/x/y\n    scope: {scope}\n"
        assert static_refusals(spec(text), Policy()) == []  # type: ignore[arg-type]


def test_project_can_narrow_scopes() -> None:
    config = parse_config(
        b"secrets:\n  A: keyring\npolicy:\n  allowed_scopes: [sandbox]\n",
        Path("/p/x/.devsecrets.yml"),
    )
    refusals = static_refusals(config.secrets[0], policy_for(config))
    assert refusals and "allowed: sandbox" in refusals[0].reason


def test_metadata_vault_and_tags() -> None:
    a = spec("secrets:\n  A: op://abcdefghijklmnopqrstuvwxyz/x/y\n")
    meta = Metadata(vault_name="Production", tags=("payments", "LIVE"))
    reasons = [r.reason for r in metadata_refusals(a, meta, Policy())]  # type: ignore[arg-type]
    assert reasons == [
        "1Password vault 'Production' says production",
        "its 1Password item is tagged 'LIVE'",
    ]
    assert metadata_refusals(a, Metadata(vault_name="Staging", tags=("payments",)), Policy()) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "sk_live_51H8abcdefghijklmnop",
        "rk_live_abcdef123456",
        "AKIAZ7QRSTUVWXY23456",
        "access_token$production$abc123$def",
        "rzp_live_ABCDEF123456",
        "postgres://app:pw@db.prod.example.com:5432/app",
        "https://user:pw@prod-db.internal/x",
        "mysql://u:p@api.production.example.net/db",
    ],
)
def test_production_looking_values(value: str) -> None:
    a = spec("secrets:\n  A: keyring\n")
    refusals = value_refusals(a, Secret(bytearray(value.encode())), Policy())  # type: ignore[arg-type]
    assert refusals, value
    assert refusals[0].reason.startswith("its value looks like")


@pytest.mark.parametrize(
    "value",
    [
        "sk_test_51H8abcdefghijklmnop",
        "ASIAZ7QRSTUVWXY23456",
        "postgres://app:pw@localhost/products",
        "https://staging.example.com/api",
        "https://reproduction.example.com/",
        "plain-sandbox-token-123",
        "AKIAZ7QRSTUVWXY234567890",
    ],
)
def test_look_alikes_are_served(value: str) -> None:
    a = spec("secrets:\n  A: keyring\n")
    assert value_refusals(a, Secret(bytearray(value.encode())), Policy()) == []  # type: ignore[arg-type]


def test_team_value_patterns_from_project_policy() -> None:
    config = parse_config(
        b"secrets:\n  A: keyring\npolicy:\n  deny_values: ['^corp_prod_']\n",
        Path("/p/x/.devsecrets.yml"),
    )
    refusals = value_refusals(
        config.secrets[0], Secret(bytearray(b"corp_prod_123")), policy_for(config)
    )
    assert len(refusals) == 1


PROJECT = """\
secrets:
  PAY: op://Staging/pay/credential
  TAGGED: op://Staging/tagged/credential
  AWS: keyring:aws
  OK: keyring:ok
"""


def test_all_refusals_are_listed_and_nothing_starts(sandbox: Sandbox, tmp_path: Path) -> None:
    write_state(
        sandbox.op_state,
        make_state(
            [
                vault(
                    "Staging",
                    items=[
                        item("pay", {"credential": "sk_live_abcdefghijklmnop"}),
                        item("tagged", {"credential": "fine"}, tags=["production"]),
                    ],
                )
            ]
        ),
    )
    store_keyring("proj", "AWS", "AKIAZ7QRSTUVWXY23456", ref="keyring:aws")
    store_keyring("proj", "OK", "fine-token", ref="keyring:ok")
    project = trusted_project(tmp_path, PROJECT)
    marker = project / "started"
    result = cli("run", "--", "touch", str(marker), cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 125
    assert "refused 3 secrets; nothing was started" in err
    assert "PAY: its value looks like a Stripe live secret key" in err
    assert "TAGGED: its 1Password item is tagged 'production'" in err
    assert "AWS: its value looks like a long-lived AWS access key id" in err
    assert "OK:" not in err
    assert "sk_live_abcdefghijklmnop" not in err and "AKIAZ7QRSTUVWXY23456" not in err
    assert not marker.exists()


def test_production_scope_refusal_calls_no_provider(sandbox: Sandbox, tmp_path: Path) -> None:
    project = trusted_project(
        tmp_path, "secrets:\n  A:\n    from: op://Staging/a/b\n    scope: production\n"
    )
    result = cli("run", "--", "true", cwd=project)
    assert result.returncode == 125
    assert "A: its scope 'production' is production" in result.stderr.decode()
    assert sandbox.op_calls() == []
