"""Trust: allow, deny, changed, expired; the record files; `run` and `status` honour it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import Sandbox
from helpers import cli, write_project

from devsecrets import paths, trust, trustfile
from devsecrets.config import load_config
from devsecrets.errors import ConfigError

DAY = 86400.0
T0 = 1_750_000_000.0
CONFIG = """\
version: 1
project: shop
secrets:
  STRIPE_API_KEY: op://Staging/stripe-sandbox/credential
  DATABASE_URL: keyring:database-url
  GH_TOKEN: keyring
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, CONFIG)


def state(project: Path, now: float = T0) -> str:
    return trust.check(load_config(project), now=now).state


def test_never_seen_then_allowed(project: Path) -> None:
    assert state(project) == trust.NOT_ALLOWED
    lines = trust.allow_at(str(project), now=T0)
    assert lines[0].startswith(f"devsecrets: allowed {project / '.devsecrets.yml'} (shop, staging)")
    assert "  STRIPE_API_KEY  op://Staging/stripe-sandbox/credential" in lines
    assert state(project) == trust.ALLOWED


def test_record_file_is_private_and_holds_references_only(project: Path) -> None:
    trust.allow_at(str(project), now=T0)
    directory = Path(trustfile.trust_dir())
    (record,) = directory.iterdir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    text = record.read_text()
    assert f"path {json.dumps(str(project / '.devsecrets.yml'))}" in text
    assert 'secret DATABASE_URL "keyring:database-url"' in text
    assert load_config(project).digest in text


def test_deny_blocks_until_allowed_again(project: Path) -> None:
    trust.allow_at(str(project), now=T0)
    assert trust.deny_at(str(project), now=T0).startswith("devsecrets: denied")
    assert state(project) == trust.DENIED
    trust.allow_at(str(project), now=T0)
    assert state(project) == trust.ALLOWED
    assert [p.suffix for p in Path(trustfile.trust_dir()).iterdir()] == [".allow"]


def test_deny_works_on_a_config_that_does_not_parse(tmp_path: Path) -> None:
    project = write_project(tmp_path, "secrets: [not, a, mapping]\n")
    with pytest.raises(ConfigError):
        trust.allow_at(str(project))
    trust.deny_at(str(project))
    real = os.path.realpath(project / ".devsecrets.yml")
    assert Path(trustfile.record_paths(real)[1]).exists()


def test_changed_config_lists_what_changed(project: Path) -> None:
    trust.allow_at(str(project), now=T0)
    config_file = project / ".devsecrets.yml"
    config_file.write_text(
        CONFIG.replace("keyring:database-url", "keyring:db-url").replace(
            "  GH_TOKEN: keyring\n", "  NPM_TOKEN: op://Staging/npm/token\n"
        )
    )
    assert state(project) == trust.CHANGED
    with pytest.raises(trust.UntrustedError) as caught:
        trust.require_trusted(load_config(project), now=T0)
    message = caught.value.render()
    assert str(config_file) in message and "changed since you allowed it" in message
    assert "  ~ DATABASE_URL  keyring:database-url -> keyring:db-url" in message
    assert "  - GH_TOKEN  keyring" in message
    assert "  + NPM_TOKEN  op://Staging/npm/token" in message
    assert "fix: review it, then run `devsecrets allow`" in message
    lines = trust.allow_at(str(project), now=T0 + 60)
    assert "  ~ DATABASE_URL  keyring:database-url -> keyring:db-url" in lines
    assert state(project, T0 + 60) == trust.ALLOWED


def test_reverting_to_the_allowed_bytes_is_allowed_again(project: Path) -> None:
    trust.allow_at(str(project), now=T0)
    config_file = project / ".devsecrets.yml"
    config_file.write_text(CONFIG + "# a comment\n")
    assert state(project) == trust.CHANGED
    config_file.write_text(CONFIG)
    assert state(project) == trust.ALLOWED


def test_expiry_follows_the_policy_trust_ttl(tmp_path: Path) -> None:
    default = write_project(tmp_path, CONFIG, name="default")
    tight = write_project(tmp_path, CONFIG + "policy:\n  trust_ttl: 7d\n", name="tight")
    for project in (default, tight):
        trust.allow_at(str(project), now=T0)
    assert state(default, T0 + 30 * DAY - 1) == trust.ALLOWED
    assert state(default, T0 + 30 * DAY) == trust.EXPIRED
    assert state(tight, T0 + 7 * DAY - 1) == trust.ALLOWED
    assert state(tight, T0 + 7 * DAY) == trust.EXPIRED
    with pytest.raises(trust.UntrustedError, match="trust expired") as caught:
        trust.require_trusted(load_config(tight), now=T0 + 8 * DAY)
    assert "trust_ttl 7d" in caught.value.message
    trust.allow_at(str(tight), now=T0 + 8 * DAY)
    assert state(tight, T0 + 8 * DAY) == trust.ALLOWED


def test_the_parsed_bytes_are_the_checked_bytes(project: Path) -> None:
    trust.allow_at(str(project), now=T0)
    config = load_config(project)
    # Replaced after it was read: the decision is about what was parsed, not what is there.
    (project / ".devsecrets.yml").write_text(CONFIG + "  EXTRA: keyring\n")
    assert trust.check(config, now=T0).state == trust.ALLOWED
    assert config.secret("EXTRA") is None
    assert state(project) == trust.CHANGED


def test_trust_follows_the_real_path(tmp_path: Path) -> None:
    real = write_project(tmp_path, CONFIG, name="real")
    link = tmp_path / "link"
    link.symlink_to(real)
    trust.allow_at(str(link), now=T0)
    assert state(real) == trust.ALLOWED
    assert state(link) == trust.ALLOWED
    assert str(real / ".devsecrets.yml") in next(Path(trustfile.trust_dir()).iterdir()).read_text()
    # The same bytes elsewhere are another project: trust is not portable.
    copy = write_project(tmp_path, CONFIG, name="copy")
    assert state(copy) == trust.NOT_ALLOWED


def test_a_record_others_can_write_is_ignored(project: Path) -> None:
    trust.allow_at(str(project), now=T0)
    (record,) = Path(trustfile.trust_dir()).iterdir()
    record.chmod(0o666)
    assert state(project) == trust.NOT_ALLOWED


def test_a_malformed_record_is_ignored_and_replaced(project: Path) -> None:
    trust.allow_at(str(project), now=T0)
    (record,) = Path(trustfile.trust_dir()).iterdir()
    record.write_text("devsecrets trust 1\nkind allow\n")
    assert state(project) == trust.NOT_ALLOWED
    trust.allow_at(str(project), now=T0)
    assert state(project) == trust.ALLOWED


def test_no_temporary_file_is_left_behind(project: Path) -> None:
    for _ in range(3):
        trust.allow_at(str(project), now=T0)
        trust.deny_at(str(project), now=T0)
    assert len(list(Path(trustfile.trust_dir()).iterdir())) == 1


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"XDG_DATA_HOME": "/somewhere/data"},
        {"XDG_DATA_HOME": "relative/is/ignored"},
        {"DEVSECRETS_HOME": "/portable"},
    ],
)
def test_trust_dir_is_where_paths_says(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Path(trustfile.trust_dir()) == paths.data_dir() / "trust"


def test_locate_takes_a_directory_a_file_or_nothing(project: Path, tmp_path: Path) -> None:
    config_file = project / ".devsecrets.yml"
    sub = project / "src"
    sub.mkdir()
    assert trust.locate(str(sub)) == config_file
    assert trust.locate(str(config_file)) == config_file
    with pytest.raises(ConfigError, match="no such file"):
        trust.locate(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"no \.devsecrets\.yml"):
        trust.locate(str(tmp_path))


# ---------------------------------------------------------------- through the console script


def test_run_refuses_an_untrusted_config(project: Path, sandbox: Sandbox) -> None:
    marker = project / "started"
    result = cli("run", "--", "touch", str(marker), cwd=project)
    assert result.returncode == 125
    err = result.stderr.decode()
    assert f"{project / '.devsecrets.yml'} is not trusted yet" in err
    assert "fix: review it, then run `devsecrets allow`" in err
    assert not marker.exists()
    assert sandbox.op_calls() == []  # nothing is fetched for an untrusted config


def test_allow_deny_and_status_commands(project: Path, sandbox: Sandbox) -> None:
    untrusted = json.loads(cli("status", "--json", cwd=project).stdout)
    assert untrusted["trust"] == {"state": "not_allowed", "allowed_at": None, "expires_at": None}
    assert sandbox.op_calls() == []  # providers are not asked about an untrusted config
    allowed = cli("allow", cwd=project)
    assert allowed.returncode == 0, allowed.stderr
    assert b"DATABASE_URL    keyring:database-url" in allowed.stdout
    human = cli("status", cwd=project).stdout.decode()
    assert "trust: allowed until " in human
    denied = cli("deny", str(project), cwd=project.parent)
    assert denied.returncode == 0
    assert json.loads(cli("status", "--json", cwd=project).stdout)["trust"]["state"] == "denied"
    refused = cli("run", "--", "true", cwd=project)
    assert refused.returncode == 125 and b"is denied" in refused.stderr


def test_allow_of_a_broken_config_says_where(tmp_path: Path) -> None:
    project = write_project(tmp_path, "secrets:\n  1BAD: keyring\n")
    result = cli("allow", cwd=project)
    assert result.returncode == 125
    assert b".devsecrets.yml:2: secrets.1BAD" in result.stderr
    assert b"Traceback" not in result.stderr


def test_allow_shows_the_rotate_commands_it_trusts(tmp_path: Path) -> None:
    text = (
        "secrets:\n"
        "  DB: keyring\n"
        "  API:\n    from: keyring\n    rotate: ./bin/new-token | tr -d '\\n'\n"
        "  GH:\n    from: keyring\n    rotate: [gh, auth, token]\n"
    )
    project = write_project(tmp_path, text)
    lines = trust.allow_at(str(project), now=T0)
    assert "  API  keyring  (rotate: ./bin/new-token | tr -d '\\n')" in lines
    assert "  GH   keyring  (rotate: [gh, auth, token])" in lines
    assert "  DB   keyring" in lines
    (project / ".devsecrets.yml").write_text(text.replace("[gh, auth, token]", "[./steal]"))
    lines = trust.allow_at(str(project), now=T0 + 60)
    assert "  ~ GH  keyring  (rotate: [gh, auth, token]) -> keyring  (rotate: [./steal])" in lines


def test_the_hooks_sha256_is_hashlibs() -> None:
    import hashlib

    for data in (b"", b"abc", bytes(range(256)) * 64):
        assert trustfile.sha256_hex(data) == hashlib.sha256(data).hexdigest()
