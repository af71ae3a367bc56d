"""`devsecrets set` and `devsecrets rotate`: hidden prompt, pipe, `rotate:` commands,
1Password guidance, and what is refused before anything is stored."""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import pexpect
import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, timestamp, vault, write_state
from helpers import (
    DEVSECRETS,
    cli,
    files_containing,
    main_in_process,
    record_rotation,
    store_keyring,
    trusted_project,
)

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


InProcess = Callable[..., tuple[int, str, str]]


@pytest.fixture
def inproc(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    return functools.partial(main_in_process, monkeypatch, capsys)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return trusted_project(tmp_path, CONFIG)


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
    args: list[str], stdin: bytes, message: str, project: Path, inproc: InProcess
) -> None:
    code, _, err = inproc(*args, cwd=project, input=stdin)
    assert code == 125 and message in err, err
    assert "Traceback" not in err and (not stdin or stdin not in err.encode())
    assert CANARY not in err
    assert stored("database-url") is None and read_records("shop") == {}


def test_set_refuses_a_value_on_the_command_line(project: Path, inproc: InProcess) -> None:
    code, _, err = inproc("set", "DB", CANARY, cwd=project)
    assert code == 2
    assert "visible to every process (ps)" in err and "treat that value as leaked" in err
    assert CANARY not in err and stored("database-url") is None


def test_team_value_detectors_apply_to_set(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inproc: InProcess
) -> None:
    team = tmp_path / "team.yml"
    team.write_text("deny_values: ['^corp_prod_']\n")
    monkeypatch.setenv("DEVSECRETS_POLICY", str(team))
    code, _, err = inproc("set", "DB", cwd=project, input=b"corp_prod_42")
    assert code == 125
    assert f"matching '^corp_prod_' (deny_values in {team}:1)" in err


def write_rotate_command(project: Path, body: str) -> None:
    script = project / "new-token"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


def test_rotate_runs_the_rotate_command(project: Path) -> None:
    # It gets no stdin: `cat` ends at once instead of waiting for a terminal.
    write_rotate_command(project, f'cat; echo "note" >&2; printf "%s\\n" "{CANARY}"\n')
    result = cli("rotate", "API", cwd=project)
    assert result.returncode == 0, result.stderr
    assert stored("API") == CANARY
    assert read_records("shop")["API"].via == "rotate-command"
    assert CANARY.encode() not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('echo "boom" >&2; exit 3\n', "exited with status 3; nothing was stored\n  it said: boom"),
        ("true\n", "printed nothing; nothing was stored"),
        ("printf 'sk_live_abcdefghijkl'\n", "looks like a Stripe live secret key"),
    ],
)
def test_rotate_command_failures_store_nothing(
    body: str, message: str, project: Path, inproc: InProcess
) -> None:
    write_rotate_command(project, body)
    code, _, err = inproc("rotate", "API", cwd=project)
    assert code == 125 and message in err
    assert stored("API") is None and "sk_live_abcdefghijkl" not in err


def test_rotate_command_that_does_not_exist(project: Path, inproc: InProcess) -> None:
    code, _, err = inproc("rotate", "API", cwd=project)
    assert code == 125 and "'./new-token' cannot be run" in err
    assert "relative to the project root" in err


def rotate_project(tmp_path: Path, rotate: str) -> Path:
    """A trusted project whose keyring secret API has `rotate: ROTATE` (YAML as written)."""
    config = (
        f"version: 1\nproject: shop\nsecrets:\n  API:\n    from: keyring\n    rotate: {rotate}\n"
    )
    return trusted_project(tmp_path, config, name="rotating")


def test_a_string_rotate_command_runs_in_a_shell(tmp_path: Path, inproc: InProcess) -> None:
    project = rotate_project(tmp_path, '"printf %s newtoken-abc | tr a-z A-Z"')
    code, out, err = inproc("rotate", "API", cwd=project)
    assert code == 0, err
    assert stored("API") == "NEWTOKEN-ABC"
    assert "NEWTOKEN-ABC" not in out + err


def test_a_failing_string_rotate_command_names_its_exit_status(
    tmp_path: Path, inproc: InProcess
) -> None:
    project = rotate_project(tmp_path, '"exit 3"')
    code, _, err = inproc("rotate", "API", cwd=project)
    assert code == 125
    assert "the rotate command 'exit 3' exited with status 3; nothing was stored" in err
    assert stored("API") is None


def test_a_list_rotate_command_is_run_as_argv_without_a_shell(
    tmp_path: Path, inproc: InProcess
) -> None:
    project = rotate_project(tmp_path, '[./new-token, "two words", "$HOME"]')
    write_rotate_command(project, 'printf "%s|" "$#" "$@"\n')
    code, _, err = inproc("rotate", "API", cwd=project)
    assert code == 0, err
    assert stored("API") == "2|two words|$HOME|"


def test_rotate_a_keyring_secret_without_command_reads_like_set(
    project: Path, inproc: InProcess
) -> None:
    assert inproc("rotate", "DB", cwd=project, input=VALUE)[0] == 0
    assert stored("database-url") == CANARY
    assert read_records("shop")["DB"].via == "rotate"


def stripe_state(sandbox: Sandbox, updated: datetime) -> None:
    stripe = item("stripe-sandbox", {"credential": "sk_test_x"}, updated_at=timestamp(updated))
    write_state(sandbox.op_state, make_state([vault("Staging", items=[stripe])]))


def test_rotate_1password_on_a_terminal_confirms_from_updated_at(
    project: Path, sandbox: Sandbox
) -> None:
    old = datetime.now(UTC) - 9 * DAY
    stripe_state(sandbox, old)
    child, seen = spawn(project, "rotate", "STRIPE")
    child.expect_exact("Press Enter when it is done")
    text = seen.getvalue().decode()
    assert "vault 'Staging' (id " in text and "item 'stripe-sandbox' (id " in text
    assert "field 'credential'" in text
    new = datetime.now(UTC).replace(microsecond=0)
    stripe_state(sandbox, new)  # the developer edits the item in the 1Password app
    child.sendline("")
    assert finish(child) == 0
    assert "confirmed: 1Password shows STRIPE updated" in seen.getvalue().decode()
    record = read_records("shop")["STRIPE"]
    assert record.via == "1password" and record.rotated_at == new


def test_rotate_1password_unchanged_is_an_error(project: Path, sandbox: Sandbox) -> None:
    stripe_state(sandbox, datetime.now(UTC) - 9 * DAY)
    child, seen = spawn(project, "rotate", "STRIPE")
    child.expect_exact("Press Enter when it is done")
    child.sendline("")
    assert finish(child) == 125
    assert "1Password still shows STRIPE last updated" in seen.getvalue().decode()
    assert read_records("shop") == {}


def test_rotate_1password_without_a_terminal_checks_freshness(
    project: Path, sandbox: Sandbox
) -> None:
    stripe_state(sandbox, datetime.now(UTC) - 9 * DAY)
    stale = cli("rotate", "STRIPE", cwd=project)
    assert stale.returncode == 125 and "not rotated" in stale.stderr.decode()
    stripe_state(sandbox, datetime.now(UTC) - timedelta(minutes=1))
    fresh = cli("rotate", "STRIPE", cwd=project)
    assert fresh.returncode == 0 and "confirmed" in fresh.stderr.decode()
    assert not any(call["argv"][0] == "inject" for call in sandbox.op_calls())  # type: ignore[index]


def test_rotate_due_rotates_only_what_is_due(project: Path, sandbox: Sandbox) -> None:
    stripe_state(sandbox, datetime.now(UTC) - DAY)
    record_rotation("shop", "DB", "keyring:database-url")
    keyring.set_password("devsecrets/shop", "database-url", "fresh-value")
    write_rotate_command(project, f'printf "%s" "{CANARY}"\n')
    result = cli("rotate", "--due", cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "rotating API" in err and "rotating DB" not in err and "rotating STRIPE" not in err
    assert stored("API") == CANARY and stored("database-url") == "fresh-value"
    again = cli("rotate", "--due", cwd=project)
    assert again.returncode == 0 and "nothing is due for rotation" in again.stderr.decode()


def test_rotate_due_is_not_misled_by_one_unknown_item(sandbox: Sandbox, tmp_path: Path) -> None:
    """An item 1Password does not have is reported; the fresh one next to it is left alone."""
    stripe_state(sandbox, datetime.now(UTC) - DAY)
    config = "project: shop\nsecrets:\n  STRIPE: op://Staging/stripe-sandbox/credential\n"
    directory = trusted_project(tmp_path, config + "  GONE: op://Staging/gone/credential\n")
    result = cli("rotate", "--due", cwd=directory)
    err = result.stderr.decode()
    assert result.returncode == 125, err
    assert "rotating GONE" in err and "rotating STRIPE" not in err
    assert "GONE: 1Password has no item 'gone' in vault 'Staging'" in err
    assert "1 of 1 rotations failed" in err


def test_rotate_due_needs_a_terminal_for_typed_values(
    project: Path, sandbox: Sandbox, inproc: InProcess
) -> None:
    stripe_state(sandbox, datetime.now(UTC) - DAY)
    code, _, err = inproc("rotate", "--due", cwd=project)
    assert code == 125 and "DB need a value typed at a prompt" in err


def test_rotate_usage(project: Path, inproc: InProcess) -> None:
    assert inproc("rotate", cwd=project)[0] == 2
    assert inproc("rotate", "DB", "--due", cwd=project)[0] == 2


def test_no_value_left_anywhere(project: Path, sandbox: Sandbox) -> None:
    write_rotate_command(project, f'printf "%s" "{CANARY}-cmd"\n')
    results = [
        cli("set", "DB", cwd=project, input=CANARY.encode()),
        cli("rotate", "API", cwd=project),
        cli("set", "DB", "--scope", "production", cwd=project, input=CANARY.encode()),
        cli("rotate", "DB", cwd=project, input=b"sk_live_" + CANARY.encode()),
    ]
    for result in results:
        assert CANARY.encode() not in result.stdout + result.stderr
    root = Path(os.environ["HOME"]).parent
    found = files_containing(root, CANARY.encode(), skip=(sandbox.backends,))
    assert found == [project / "new-token"]  # the test's own script, nothing of ours


@pytest.mark.parametrize("args", [["set", "DATABASE_URL"], ["run", "--", "true"]])
def test_a_keyring_backend_that_does_not_load(args: list[str], tmp_path: Path) -> None:
    project = trusted_project(tmp_path, "project: p\nsecrets:\n  DATABASE_URL: keyring\n")
    store_keyring("p", "DATABASE_URL", "v", ref="keyring")
    result = cli(*args, cwd=project, input=b"v\n", env={"PYTHON_KEYRING_BACKEND": "nope.Backend"})
    err = result.stderr.decode()
    assert result.returncode == 125, err
    assert "internal error" not in err
    assert "PYTHON_KEYRING_BACKEND=nope.Backend names a keyring backend" in err
