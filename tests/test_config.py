from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import cli, write_project

from devsecrets.config import find_config, load_config, parse_config
from devsecrets.errors import ConfigError
from devsecrets.refs import KeyringRef, OpRef

GOOD = """\
version: 1
project: payments-api
scope: staging
secrets:
  STRIPE_API_KEY: op://Staging/stripe-sandbox/credential
  DATABASE_URL:
    from: keyring:database-url
  GITHUB_TOKEN:
    from: op://Dev/github-bot/token
    scope: sandbox
    max_age: 3d
    commands: [gh, git]
policy:
  max_age: 5d
"""


def parse(text: str, name: str = "proj") -> object:
    return parse_config(text.encode(), Path(f"/p/{name}/.devsecrets.yml"))


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


def test_the_design_example_parses() -> None:
    config = parse_config(GOOD.encode(), Path("/p/x/.devsecrets.yml"))
    assert config.project == "payments-api"
    names = [s.name for s in config.secrets]
    assert names == ["STRIPE_API_KEY", "DATABASE_URL", "GITHUB_TOKEN"]
    stripe, db, gh = config.secrets
    assert isinstance(stripe.ref, OpRef) and stripe.scope == "staging"
    assert isinstance(db.ref, KeyringRef) and db.ref.username == "database-url"
    assert gh.scope == "sandbox" and gh.max_age == timedelta(days=3)
    assert gh.commands == ("gh", "git")
    assert gh.allowed_for("/usr/bin/git") and not gh.allowed_for("make")
    assert config.policy.max_age == timedelta(days=5)
    assert stripe.line == 5 and gh.line == 9


def test_defaults_project_from_directory_and_scope_staging() -> None:
    config = parse_config(b"secrets:\n  A: keyring\n", Path("/p/my-app/.devsecrets.yml"))
    assert config.project == "my-app"
    assert config.secrets[0].scope == "staging"


def test_rotate_is_a_command_line_or_an_argv() -> None:
    text = (
        "secrets:\n  A:\n    from: keyring\n    rotate: ./new | tr -d ' '\n"
        "  B:\n    from: keyring\n    rotate: [./new, two words]\n"
    )
    a, b = parse_config(text.encode(), Path("/p/x/.devsecrets.yml")).secrets
    assert a.rotate == "./new | tr -d ' '"  # for sh -c, as written
    assert b.rotate == ("./new", "two words")


def test_digest_is_of_the_parsed_bytes() -> None:
    import hashlib

    config = parse_config(GOOD.encode(), Path("/p/x/.devsecrets.yml"))
    assert config.digest == hashlib.sha256(GOOD.encode()).hexdigest()


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("secrets:\n  A: [unclosed\n", "YAML syntax error", 3),
        ("", "is empty", None),
        ("# only a comment\n", "is empty", None),
        ("- a\n- b\n", "must be a mapping", 1),
        ("version: 1\n", "has no `secrets:` mapping", 1),
        ("version: 2\nsecrets: {}\n", "version 2 is not supported", 1),
        ("version: one\nsecrets: {}\n", "version: must be a whole number, not a string", 1),
        ("secret:\n  A: keyring\n", "secret: unknown key", 1),
        ("secrets:\n  1A: keyring\n", "'1A' is not a valid environment variable name", 2),
        ("secrets:\n  MY-KEY: keyring\n", "not a valid environment variable name", 2),
        ("secrets:\n  PATH: keyring\n", "PATH is reserved", 2),
        ("secrets:\n  LD_PRELOAD: keyring\n", "LD_PRELOAD is reserved", 2),
        ("secrets:\n  OP_SESSION_x: keyring\n", "is reserved", 2),
        ("secrets:\n  GIT_SSH_COMMAND: keyring\n", "GIT_SSH_COMMAND is reserved", 2),
        ("secrets:\n  GIT_CONFIG_KEY_0: keyring\n", "GIT_CONFIG_KEY_0 is reserved", 2),
        ("secrets:\n  JAVA_TOOL_OPTIONS: keyring\n", "JAVA_TOOL_OPTIONS is reserved", 2),
        ("secrets:\n  A: keyring\n  A: keyring:b\n", "defined twice (first on line 2)", 3),
        ("secrets:\n  A: op://v/i\n", "needs a vault, an item and a field", 2),
        ("secrets:\n  A: 42\n", "must be a string, not a number", 2),
        ("secrets:\n  A:\n", "must be a string, not empty", 2),
        ("secrets:\n  A:\n    from: keyring\n    max_age: 3x\n", "'3x' is not a duration", 4),
        ("secrets:\n  A:\n    from: keyring\n    max_age: 7\n", "must be a string", 4),
        ("secrets:\n  A:\n    from: keyring\n    max_age: 0d\n", "longer than zero", 4),
        ("secrets:\n  A:\n    from: keyring\n    comands: [gh]\n", "did you mean 'commands'", 4),
        ("secrets:\n  A:\n    scope: dev\n", "has no `from:`", 3),
        ("secrets:\n  A:\n    from: keyring\n    commands: gh\n", "must be a list", 4),
        ("secrets:\n  A:\n    from: keyring\n    commands: []\n", "empty list", 4),
        ("secrets:\n  A:\n    from: keyring\n    commands: [/bin/gh]\n", "not a command name", 4),
        ("secrets:\n  A:\n    from: keyring\n    rotate: ' '\n", "rotate: is empty", 4),
        ("secrets:\n  A:\n    from: keyring\n    rotate: []\n", "rotate: is empty", 4),
        ("scope: Prod Env\nsecrets: {}\n", "is not a scope name", 1),
        ("secrets: {}\npolicy:\n  max_ag: 3d\n", "did you mean 'max_age'", 3),
        ("secrets: {}\npolicy:\n  deny_values: ['(']\n", "not a regular expression", 3),
        ("project: 'has space'\nsecrets: {}\n", "not a valid project name", 1),
        ("a: &x 1\nb: *x\n", "anchor/alias", None),
        ("secrets: {}\n---\nsecrets: {}\n", "more than one YAML document", 3),
        ("secrets:\n  A: !!binary aGk=\n", "must be a string", 2),
    ],
)
def test_every_malformed_input_is_located_and_has_a_fix(
    text: str, expected: str, line: int | None
) -> None:
    error = error_of(text)
    assert expected in error.message
    assert error.fix
    assert error.file == "/p/proj/.devsecrets.yml"
    if line is not None:
        assert error.line == line
    assert error.exit_code == 125


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(b"secrets:\n  A: keyring\n  B: \xff\n", Path("/p/x/.devsecrets.yml"))
    assert info.value.line == 3
    assert "not valid UTF-8" in info.value.message


def test_key_path_is_part_of_the_message() -> None:
    error = error_of("secrets:\n  TOKEN:\n    from: keyring\n    max_age: soon\n")
    assert "secrets.TOKEN.max_age" in error.message
    assert error.keypath == "secrets.TOKEN.max_age"


def test_found_by_walking_up(tmp_path: Path) -> None:
    project = write_project(tmp_path, "secrets: {}\n")
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == project / ".devsecrets.yml"


def test_nearest_config_wins(tmp_path: Path) -> None:
    outer = write_project(tmp_path, "project: outer\nsecrets: {}\n")
    inner = write_project(outer, "project: inner\nsecrets: {}\n", name="sub")
    (inner / "src").mkdir()
    assert load_config(inner / "src").project == "inner"
    assert load_config(outer).project == "outer"


def test_directory_named_like_the_config_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".devsecrets.yml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_world_writable_config_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path, "secrets: {}\n")
    (project / ".devsecrets.yml").chmod(0o666)
    with pytest.raises(ConfigError) as info:
        load_config(project)
    assert "writable by every user" in info.value.message
    assert "chmod o-w" in (info.value.fix or "")


def test_config_in_world_writable_directory_without_sticky_bit_is_refused(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path, "secrets: {}\n")
    project.chmod(0o777)
    with pytest.raises(ConfigError, match=r"directory .* is writable by every user"):
        load_config(project)
    project.chmod(0o1777)
    assert load_config(project).secrets == ()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the file to another user")
def test_config_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path, "secrets: {}\n")
    os.chown(project / ".devsecrets.yml", 12345, 12345)
    with pytest.raises(ConfigError, match="owned by uid 12345, not by you"):
        load_config(project)


def test_unreadable_config(tmp_path: Path) -> None:
    import shutil
    import tempfile

    # A directory others can traverse (pytest's tmp root is 0700), so that only the file's
    # own mode is in the way.
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    base.chmod(0o755)
    project = write_project(base, "secrets: {}\n")
    (project / ".devsecrets.yml").chmod(0)
    as_root = os.getuid() == 0
    try:
        if as_root:  # root reads anything: act as nobody for the open, then come back
            os.seteuid(65534)
        with pytest.raises(ConfigError) as info:
            load_config(project)
    finally:
        if as_root:
            os.seteuid(0)
        shutil.rmtree(base)
    assert "cannot be read: permission denied" in info.value.message
    assert "chmod u+r" in (info.value.fix or "")


def test_fifo_is_not_read(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    os.mkfifo(project / ".devsecrets.yml")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(project)


def test_cli_reports_config_errors_with_exit_125_and_no_traceback(tmp_path: Path) -> None:
    project = write_project(tmp_path, "secrets:\n  A:\n    from: keyring\n    maxage: 1d\n")
    result = cli("run", "--", "true", cwd=project)
    assert result.returncode == 125
    err = result.stderr.decode()
    assert "/.devsecrets.yml:4: secrets.A.maxage: unknown key" in err
    assert "did you mean 'max_age'" in err
    assert "Traceback" not in err


def test_a_symlinked_config_is_refused_and_names_the_fix(tmp_path: Path) -> None:
    real = write_project(tmp_path, "secrets:\n  DB: keyring\n", name="trusted")
    borrower = tmp_path / "victimapp"
    borrower.mkdir()
    (borrower / ".devsecrets.yml").symlink_to(real / ".devsecrets.yml")
    with pytest.raises(ConfigError) as info:
        load_config(borrower)
    assert "is a symbolic link" in info.value.message
    assert f"rm {borrower}/.devsecrets.yml && cp {real}/.devsecrets.yml" in (info.value.fix or "")
    assert cli("allow", cwd=borrower).returncode == 125


def test_the_default_project_name_is_the_real_directorys(tmp_path: Path) -> None:
    real = write_project(tmp_path, "secrets:\n  DB: keyring\n", name="payments-api")
    (tmp_path / "p").symlink_to(real)
    assert load_config(tmp_path / "p").project == "payments-api"


def test_a_value_written_instead_of_a_reference_is_never_printed(tmp_path: Path) -> None:
    canary = "sk_test_CANARY51Hx9aQ2bLr7"
    project = write_project(tmp_path, f"secrets:\n  STRIPE: {canary}\n")
    for args in (["run", "--", "true"], ["status"], ["allow"], ["audit"], ["doctor"]):
        result = cli(*args, cwd=project)
        assert result.returncode != 0, args
        assert canary.encode() not in result.stdout + result.stderr, args
        assert b"not shown" in result.stdout + result.stderr, args


def test_cli_without_any_config(tmp_path: Path) -> None:
    result = cli("status", cwd=tmp_path)
    assert result.returncode == 125
    assert "no .devsecrets.yml in this directory or above" in result.stderr.decode()
