"""`devsecrets set`: hidden prompt, pipe, and what is refused before anything is stored."""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta
from pathlib import Path

import keyring
import pexpect
import pytest
from conftest import Sandbox
from helpers import DEVSECRETS, cli, files_containing, write_project

from devsecrets.auditlog import audit_path
from devsecrets.ledger import read_records

CANARY = "setcanary-9f4e1b7d2c6a"
CONFIG = """\
version: 1
project: shop
secrets:
  DB: keyring:database-url
  API:
    from: keyring
    rotate: [./new-token]
  STRIPE: op://Staging/stripe-sandbox/credential
"""
DAY = timedelta(days=1)
VALUE = CANARY.encode()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, CONFIG)


def stored(username: str) -> str | None:
    return keyring.get_password("devsecrets/shop", username)


def spawn(project: Path, *args: str) -> tuple[pexpect.spawn, io.BytesIO]:
    seen = io.BytesIO()
    child = pexpect.spawn(
        DEVSECRETS,
        list(args),
        cwd=str(project),
        env=dict(os.environ, PWD=str(project), TERM="dumb"),
        timeout=15,
    )
    child.delaybeforesend = None
    child.logfile_read = seen
    return child, seen


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else 128 + child.signalstatus)


def test_set_from_a_hidden_prompt_asks_twice_and_never_echoes(project: Path) -> None:
    child, seen = spawn(project, "set", "DB")
    child.expect_exact("DB (input hidden): ")
    child.sendline(CANARY)
    child.expect_exact("DB again: ")
    child.sendline(CANARY)
    assert finish(child) == 0
    assert CANARY.encode() not in seen.getvalue()
    assert b"stored DB in the keyring (service devsecrets/shop); next rotation due" in (
        seen.getvalue()
    )
    assert stored("database-url") == CANARY
    record = read_records("shop")["DB"]
    assert record.via == "set" and record.scope == "staging" and record.fingerprint
    assert CANARY not in json.dumps(record.as_json())


def test_set_with_two_different_entries_stores_nothing(project: Path) -> None:
    child, seen = spawn(project, "set", "DB")
    child.expect_exact("DB (input hidden): ")
    child.sendline(CANARY)
    child.expect_exact("DB again: ")
    child.sendline(CANARY + "x")
    assert finish(child) == 125
    assert b"the two entries differ; nothing was stored" in seen.getvalue()
    assert CANARY.encode() not in seen.getvalue()
    assert stored("database-url") is None and read_records("shop") == {}


def test_set_from_a_pipe(project: Path) -> None:
    result = cli("set", "DB", cwd=project, input=f"{CANARY}\n".encode())
    assert result.returncode == 0, result.stderr
    assert stored("database-url") == CANARY  # the one trailing newline is not the value
    multi = "line one\nline two"
    assert cli("set", "DB", cwd=project, input=multi.encode()).returncode == 0
    assert stored("database-url") == multi
    audit = [json.loads(line) for line in audit_path().read_text().splitlines()]
    assert [(e["action"], e["secret"], e["decision"]) for e in audit] == [
        ("set", "DB", "stored")
    ] * 2


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["set", "DB", "--scope", "production"],
            CANARY.encode(),
            "DB: its scope 'production' is production",
        ),
        (
            ["set", "DB", "--scope", "sandbox"],
            CANARY.encode(),
            "the config says DB is a 'staging' credential",
        ),
        (["set", "DB"], b"sk_live_abcdefghijklmnop", "looks like a Stripe live secret key"),
        (["set", "DB"], b"postgres://u:p@db.prod.example.com/x", "production host"),
        (["set", "DB"], b"", "no value on stdin for DB"),
        (["set", "DB"], b"\xff\xfe", "is not UTF-8 text"),
        (["set", "STRIPE"], VALUE, "STRIPE comes from 1Password"),
        (["set", "NOPE"], VALUE, "has no secret named NOPE"),
    ],
)
def test_set_refusals_store_nothing(
    args: list[str], stdin: bytes, message: str, project: Path
) -> None:
    result = cli(*args, cwd=project, input=stdin)
    err = result.stderr.decode()
    assert result.returncode == 125 and message in err, err
    assert "Traceback" not in err and (not stdin or stdin not in result.stderr)
    assert CANARY not in err
    assert stored("database-url") is None and read_records("shop") == {}


def test_set_refuses_a_value_on_the_command_line(project: Path) -> None:
    result = cli("set", "DB", CANARY, cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 2
    assert "visible to every process (ps)" in err and "treat that value as leaked" in err
    assert CANARY not in err and stored("database-url") is None


def test_team_value_detectors_apply_to_set(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team.yml"
    team.write_text("deny_values: ['^corp_prod_']\n")
    monkeypatch.setenv("DEVSECRETS_POLICY", str(team))
    result = cli("set", "DB", cwd=project, input=b"corp_prod_42")
    assert result.returncode == 125
    assert f"matching '^corp_prod_' (deny_values in {team}:1)" in result.stderr.decode()


def test_no_value_left_anywhere(project: Path, sandbox: Sandbox) -> None:
    results = [
        cli("set", "DB", cwd=project, input=CANARY.encode()),
        cli("set", "DB", "--scope", "production", cwd=project, input=CANARY.encode()),
        cli("set", "DB", cwd=project, input=b"sk_live_" + CANARY.encode()),
    ]
    for result in results:
        assert CANARY.encode() not in result.stdout + result.stderr
    root = Path(os.environ["HOME"]).parent
    found = files_containing(root, CANARY.encode(), skip=(sandbox.backends,))
    assert found == []
