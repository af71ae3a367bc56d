"""`devsecrets import`: tricky dotenv files moved into the keyring, the config extended in
place, the plaintext gone only when every value was read back equal — and no canary left
on disk anywhere but in the stand-in keyring (`backends/`)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import pytest
from conftest import Sandbox
from helpers import cli, files_containing, main_in_process, trusted_project, write_project

from devsecrets.ledger import read_records
from devsecrets.trust import ALLOWED, NOT_ALLOWED, check

InProcess = Callable[..., tuple[int, str, str]]
CANARY = "impcanary"
TRICKY = (
    "# the app's settings\r\n"
    f'export DATABASE_URL="postgres://app:{CANARY}-pw@db.internal:5432/app?ssl=true"\r\n'
    f"API_TOKEN = '{CANARY}-tok=with=equals'   \r\n"
    f'GREETING="zoë ✓ {CANARY}-uni"\r\n'
    f'JSON={{"k":"{CANARY}-json"}}\r\n'
    f'MULTI="-----BEGIN KEY-----\r\n{CANARY}-multi\r\n-----END KEY-----"\r\n'
    "EMPTY=\r\n"
    f"DUP={CANARY}-first\r\n"
    f"DUP={CANARY}-last # the second one wins\r\n"
)
EXPECTED = {
    "database-url": f"postgres://app:{CANARY}-pw@db.internal:5432/app?ssl=true",
    "api-token": f"{CANARY}-tok=with=equals",
    "greeting": f"zoë ✓ {CANARY}-uni",
    "json": f'{{"k":"{CANARY}-json"}}',
    "multi": f"-----BEGIN KEY-----\n{CANARY}-multi\n-----END KEY-----",
    "dup": f"{CANARY}-last",
}


@pytest.fixture
def inproc(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    return functools.partial(main_in_process, monkeypatch, capsys)


def entries(project: str) -> dict[str, str]:
    """The stand-in keyring's entries for `project`: {entry name: value}."""
    path = Path(os.environ["FAKE_KEYRING_FILE"])
    data = json.loads(path.read_text()) if path.exists() else {}
    prefix = f"devsecrets/{project}\0"
    return {k.removeprefix(prefix): v for k, v in data.items() if k.startswith(prefix)}


def test_tricky_file_moves_whole_and_leaves_no_plaintext(
    inproc: InProcess, tmp_path: Path, sandbox: Sandbox
) -> None:
    project = tmp_path / "app"
    project.mkdir()
    (project / ".git").mkdir()  # a git work tree: .gitignore is updated
    (project / ".env").write_bytes(TRICKY.encode())
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 0, err
    assert not (project / ".env").exists()
    assert entries("app") == EXPECTED
    assert "drop   EMPTY" in out and "DUP is set more than once" in out
    config = (project / ".devsecrets.yml").read_text()
    assert "  DATABASE_URL: keyring:database-url\n" in config and "EMPTY" not in config
    assert ".env\n" in (project / ".gitignore").read_text()
    assert f"removed {project / '.env'}: its 6 values are in the keyring" in out
    # A new config written by import is trusted: the user's own keys are all it holds.
    result = cli("run", "--", "sh", "-c", 'printf %s "$API_TOKEN"', cwd=project)
    assert result.returncode == 0 and result.stdout == b"<concealed by devsecrets>"
    assert files_containing(tmp_path, CANARY.encode(), skip=(sandbox.backends,)) == []
    assert CANARY not in out + err


def test_config_is_appended_to_and_trusted_again(inproc: InProcess, tmp_path: Path) -> None:
    text = (
        "# payments service\nproject: shop\nsecrets:\n"
        "  STRIPE_KEY: op://Staging/stripe/credential  # sandbox key\n"
        "\n# tighter than the team\npolicy:\n  max_age: 5d\n"
    )
    project = trusted_project(tmp_path, text, "shop")
    (project / ".env").write_text(f"REDIS_PASSWORD={CANARY}-redis\n")
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 0, err
    assert (project / ".devsecrets.yml").read_text() == text.replace(
        "# sandbox key\n", "# sandbox key\n  REDIS_PASSWORD: keyring:redis-password\n"
    )
    assert "+ REDIS_PASSWORD  keyring:redis-password" in out
    from devsecrets.config import load_config

    assert check(load_config(project)).state == ALLOWED


def test_an_untrusted_config_stays_untrusted(inproc: InProcess, tmp_path: Path) -> None:
    project = write_project(tmp_path, "project: shop\nsecrets:\n  A: keyring\n", "shop")
    (project / ".env").write_text(f"B={CANARY}-b\n")
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 0, err
    assert "was not trusted before this import" in out
    from devsecrets.config import load_config

    assert check(load_config(project)).state == NOT_ALLOWED


def test_variables_and_production_values_keep_the_file(inproc: InProcess, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    original = (
        f"TOKEN={CANARY}-token\nURL=postgres://${{DB_USER}}@h/db\n"
        "STRIPE=sk_live_abcdefghijklmnopqrstuvwx\n"
    ).encode()
    (project / ".env").write_bytes(original)
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 125
    assert (project / ".env").read_bytes() == original
    assert "leave  URL     uses $VARIABLES" in out
    assert "leave  STRIPE  looks like a Stripe live secret key" in out
    assert "kept" in err and "stored: TOKEN" in err
    assert "(`devsecrets set NAME`, or delete" in err.replace("\n", " ")  # in the project
    assert entries("app") == {"token": f"{CANARY}-token"}
    assert "STRIPE" not in (project / ".devsecrets.yml").read_text()
    # Once the two lines are dealt with, a second run recognises TOKEN and finishes.
    (project / ".env").write_text(f"TOKEN={CANARY}-token\n")
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 0, err
    assert "done   TOKEN  already in the keyring, same value" in out
    assert not (project / ".env").exists()


def test_a_keyring_failure_keeps_the_file(
    inproc: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "app"
    project.mkdir()
    (project / ".env").write_text(f"ONE={CANARY}-one\nTWO={CANARY}-two\n")
    # A keyring locked from the start: refused before anything changes.
    monkeypatch.setenv("FAKE_KEYRING_LOCKED", "1")
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 125
    assert "the keyring is locked; nothing was stored" in err
    assert sorted(p.name for p in project.iterdir()) == [".env"]
    monkeypatch.delenv("FAKE_KEYRING_LOCKED")
    # One that fails on each write: every key is reported, the file kept.
    from fakes.filekeyring import FileKeyring
    from keyring.errors import KeyringLocked

    def locked(*_: object) -> None:
        raise KeyringLocked("locked on write")

    monkeypatch.setattr(FileKeyring, "set_password", locked)
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 125
    assert (project / ".env").exists()
    assert "failed ONE  the keyring is locked" in out
    assert "stored: none" in err
    assert entries("app") == {}


def test_asks_first_and_refuses_without_a_terminal(inproc: InProcess, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    (project / ".env").write_text(f"ONE={CANARY}-one\n")
    code, _, err = inproc("import", cwd=project)
    assert code == 2 and "pass --yes" in err
    assert sorted(p.name for p in project.iterdir()) == [".env"]


def test_values_date_from_the_file_not_from_now(inproc: InProcess, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    dotenv = project / ".env"
    dotenv.write_text(f"OLD_TOKEN={CANARY}-old\n")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(dotenv, (ten_days_ago, ten_days_ago))
    code, _, err = inproc("import", "--yes", cwd=project)
    assert code == 0, err
    assert "so it is already due: rotate it with `devsecrets rotate OLD_TOKEN`" in err
    rotated = read_records("app")["OLD_TOKEN"].rotated_at
    assert abs(rotated - datetime.fromtimestamp(ten_days_ago, UTC)) < timedelta(seconds=1)


def test_gitignore_patterns_are_respected(inproc: InProcess, tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / ".git").mkdir(parents=True)
    (project / ".gitignore").write_text("node_modules/\n.env*\n")
    (project / ".env.local").write_text(f"ONE={CANARY}-one\n")
    code, _, err = inproc("import", ".env.local", "--yes", cwd=project)
    assert code == 0, err
    assert (project / ".gitignore").read_text() == "node_modules/\n.env*\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('A="never closed\n', '.env:1: the " opened here is never closed; nothing was changed'),
        ("just words\n", ".env:1: expected KEY=VALUE"),
    ],
)
def test_a_broken_file_changes_nothing(
    inproc: InProcess, tmp_path: Path, text: str, message: str
) -> None:
    project = tmp_path / "app"
    project.mkdir()
    (project / ".env").write_text(text)
    code, _, err = inproc("import", "--yes", cwd=project)
    assert code == 125 and message in err
    assert sorted(p.name for p in project.iterdir()) == [".env"]
    assert keyring.get_password("devsecrets/app", "a") is None


def test_a_missing_file(inproc: InProcess, tmp_path: Path) -> None:
    code, _, err = inproc("import", "--yes", cwd=tmp_path)
    assert code == 125 and ".env does not exist" in err


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("secrets:\n  A: keyring\n", "secrets:\n  A: keyring\n  B: keyring:b\n"),
        (  # the entry's own indentation; comments after the mapping stay after it
            "secrets:\n    A: keyring  # a\n\n# policy\npolicy:\n  max_age: 5d\n",
            "secrets:\n    A: keyring  # a\n    B: keyring:b\n\n# policy\npolicy:\n  max_age: 5d\n",
        ),
        (
            "secrets:\n  A:\n    from: keyring\n    commands: [x]\npolicy: {}",
            "secrets:\n  A:\n    from: keyring\n    commands: [x]\n  B: keyring:b\npolicy: {}\n",
        ),
        ("secrets: {}\n# end\n", "secrets:\n  B: keyring:b\n# end\n"),
        ("secrets:\npolicy: {}\n", "secrets:\n  B: keyring:b\npolicy: {}\n"),
        ("version: 1\n", "version: 1\nsecrets:\n  B: keyring:b\n"),
        ("secrets:\r\n  A: keyring\r\n", "secrets:\r\n  A: keyring\r\n  B: keyring:b\r\n"),
    ],
)
def test_secrets_are_appended_as_text(before: str, after: str) -> None:
    from devsecrets.configedit import add_secrets

    assert add_secrets(before, [("B", "keyring:b")], "f") == after


def test_a_flow_style_mapping_is_not_rewritten() -> None:
    from devsecrets.configedit import add_secrets
    from devsecrets.errors import ConfigError

    with pytest.raises(ConfigError, match="flow style"):
        add_secrets("secrets: {A: keyring}\n", [("B", "keyring:b")], "f")


def test_keyring_names() -> None:
    from devsecrets.configedit import keyring_ref

    taken: set[str] = {"database-url"}
    assert keyring_ref("API_TOKEN", taken) == "keyring:api-token"
    assert keyring_ref("DATABASE_URL", taken) == "keyring:DATABASE_URL"  # name taken
    assert keyring_ref("api_token", taken) == "keyring:api_token"
    assert keyring_ref("_", taken) == "keyring"  # no valid entry name: the key's own


def test_a_committed_file_is_named_for_rotation(inproc: InProcess, tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    project = tmp_path / "app"
    project.mkdir()
    (project / ".env").write_text(f"ONE={CANARY}-one\n")
    subprocess.run([git, "init", "-q"], cwd=project, check=True)
    subprocess.run([git, "add", ".env"], cwd=project, check=True)
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 0, err
    assert "git tracks .env: once committed, its values stay in the history" in out


@pytest.mark.parametrize("named", ["app/.env.local", "my app/.env.local"])
def test_the_fix_names_the_file_as_it_was_given(
    named: str, inproc: InProcess, tmp_path: Path
) -> None:
    import shlex

    (tmp_path / named).parent.mkdir()
    (tmp_path / named).write_text(f"ONE={CANARY}-one\nTWO=$HOME/x\n")
    code, _, err = inproc("import", named, "--yes", cwd=tmp_path)
    assert code == 125
    command = err.split("then run `")[1].split("`")[0]
    assert shlex.split(command) == ["devsecrets", "import", named]
    # `set` must find the project's config: from here it runs in a subshell cd'ed there.
    directory = shlex.quote(str(tmp_path / named.split("/")[0]))
    assert f"(`(cd {directory} && devsecrets set NAME)`, or delete" in err.replace("\n", " ")


def test_a_file_without_entries_says_so(inproc: InProcess, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    (project / ".env").write_text("# nothing here yet\n")
    code, out, err = inproc("import", "--yes", cwd=project)
    assert code == 125 and out == ""
    assert f"{project / '.env'} has no KEY=value lines: there is nothing to import" in err
    assert "reasons above" not in err
    assert sorted(p.name for p in project.iterdir()) == [".env"]
