"""Policy layers: built-in ← team policy file ← project `policy:` ← per-secret settings.

Each layer may only tighten the one above it; a loosening layer is an error naming both
files and lines.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import main_in_process, write_project

from devsecrets.config import PolicyBlock, load_config
from devsecrets.durations import parse_duration
from devsecrets.errors import ConfigError
from devsecrets.policy import BUILTIN, Policy, metadata_refusals, policy_for, value_refusals
from devsecrets.providers.base import Metadata
from devsecrets.secret import Secret

# key: (team value, a project value that tightens it, one that loosens it, the parsed
# effective value when the project tightens)
CASES = {
    "max_age": ("5d", "4d", "6d", timedelta(days=4)),
    "warn_before": ("3d", "4d", "1d", timedelta(days=4)),
    "session_ttl": ("30m", "10m", "45m", timedelta(minutes=10)),
    "trust_ttl": ("7d", "1d", "8d", timedelta(days=1)),
    "allowed_scopes": ("[sandbox, staging]", "[staging]", "[staging, dev]", ("staging",)),
}
# key: (a team value tighter than the built-in default, one looser than it)
TEAM_CASES = {
    "max_age": ("6d", "8d"),
    "warn_before": ("3d", "1d"),
    "session_ttl": ("60m", "61m"),  # a team may lengthen the 15-minute default up to 60
    "trust_ttl": ("29d", "31d"),
    "allowed_scopes": ("[sandbox]", "[staging, qa]"),
}


InProcess = Callable[..., tuple[int, str, str]]


@pytest.fixture
def inproc(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    return functools.partial(main_in_process, monkeypatch, capsys)


@pytest.fixture
def team_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "team-policy.yml"
    monkeypatch.setenv("DEVSECRETS_POLICY", str(path))
    return path


def project(tmp_path: Path, policy: str = "", secret_extra: str = "") -> Path:
    text = "version: 1\nsecrets:\n  A:\n    from: keyring\n" + secret_extra
    if policy:
        text += "policy:\n" + policy
    return write_project(tmp_path, text) / ".devsecrets.yml"


def effective(config: Path) -> Policy:
    return policy_for(load_config(config.parent))


def loosening_error(config: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        effective(config)
    return info.value


@pytest.mark.parametrize("key", sorted(CASES))
def test_project_tightens_team(key: str, tmp_path: Path, team_file: Path) -> None:
    team, tight, _, parsed = CASES[key]
    team_file.write_text(f"version: 1\n{key}: {team}\n")
    config = project(tmp_path, f"  {key}: {tight}\n")
    policy = effective(config)
    assert getattr(policy, key) == parsed
    assert policy.source(key) == f"{config}:{6}"


@pytest.mark.parametrize("key", sorted(CASES))
def test_project_may_repeat_the_team_value(key: str, tmp_path: Path, team_file: Path) -> None:
    team = CASES[key][0]
    team_file.write_text(f"{key}: {team}\n")
    effective(project(tmp_path, f"  {key}: {team}\n"))


@pytest.mark.parametrize("key", sorted(CASES))
def test_project_loosening_team_names_both_files(key: str, tmp_path: Path, team_file: Path) -> None:
    team, _, loose, _ = CASES[key]
    team_file.write_text(f"version: 1\n{key}: {team}\n")
    config = project(tmp_path, f"  {key}: {loose}\n")
    error = loosening_error(config)
    assert error.file == str(config) and error.line == 6
    assert error.keypath == f"policy.{key}"
    assert f"set by {team_file}:2" in error.message
    assert "a project may only tighten it" in error.message
    assert str(team_file) in (error.fix or "")


@pytest.mark.parametrize("key", sorted(TEAM_CASES))
def test_team_tightens_builtin(key: str, tmp_path: Path, team_file: Path) -> None:
    tight, _ = TEAM_CASES[key]
    team_file.write_text(f"{key}: {tight}\n")
    policy = effective(project(tmp_path))
    assert policy.source(key) == f"{team_file}:1"


@pytest.mark.parametrize("key", sorted(TEAM_CASES))
def test_team_loosening_builtin_is_an_error(key: str, tmp_path: Path, team_file: Path) -> None:
    _, loose = TEAM_CASES[key]
    team_file.write_text(f"version: 1\n{key}: {loose}\n")
    error = loosening_error(project(tmp_path))
    assert error.file == str(team_file) and error.line == 2 and error.keypath == key
    if key == "session_ttl":  # the team may lengthen it: the ceiling is what it passed
        assert error.message.endswith("1h1m exceeds the maximum of 1h that a team policy may set")
        assert error.fix == "use 1h or less here"
        return
    assert "devsecrets' built-in defaults" in error.message
    assert "the team policy may only tighten it" in error.message


@pytest.mark.parametrize(("value", "shown"), [("2h", "2h"), ("61m", "1h1m")])
def test_team_session_ttl_over_the_ceiling_names_it(
    value: str, shown: str, inproc: InProcess, tmp_path: Path, team_file: Path
) -> None:
    team_file.write_text(f"session_ttl: {value}\n")
    code, _, err = inproc("policy", cwd=tmp_path)
    assert code == 125
    assert f"session_ttl: {shown} exceeds the maximum of 1h that a team policy may set" in err
    assert "fix: use 1h or less here\n" in err
    assert "looser" not in err and "only tighten" not in err


@pytest.mark.parametrize("key", sorted(CASES))
def test_project_without_team_tightens_builtin(key: str, tmp_path: Path) -> None:
    _, tight, _, parsed = CASES[key]
    assert getattr(effective(project(tmp_path, f"  {key}: {tight}\n")), key) == parsed


@pytest.mark.parametrize("key", sorted(TEAM_CASES))
def test_project_without_team_cannot_loosen_builtin(key: str, tmp_path: Path) -> None:
    loose = "30m" if key == "session_ttl" else TEAM_CASES[key][1]  # a project gets no 60m
    error = loosening_error(project(tmp_path, f"  {key}: {loose}\n"))
    assert error.line == 6 and "built-in defaults" in error.message


@pytest.mark.parametrize(
    ("team", "policy", "secret", "refused_by"),
    [
        ("", "", "3d", None),
        ("", "", "7d", None),
        ("", "", "8d", "built-in"),
        ("max_age: 5d\n", "", "5d", None),
        ("max_age: 5d\n", "", "6d", "team"),
        ("", "  max_age: 4d\n", "3d", None),
        ("", "  max_age: 4d\n", "5d", "project"),
        ("max_age: 5d\n", "  max_age: 4d\n", "4d", None),
        ("max_age: 5d\n", "  max_age: 4d\n", "4d1s", "project"),
    ],
)
def test_secret_max_age_only_tightens(
    team: str, policy: str, secret: str, refused_by: str | None, tmp_path: Path, team_file: Path
) -> None:
    team_file.write_text(team or "version: 1\n")
    config = project(tmp_path, policy, f"    max_age: {secret}\n")
    if refused_by is None:
        spec = load_config(config.parent).secrets[0]
        assert effective(config).max_age_for(spec) == parse_duration(secret)
        return
    error = loosening_error(config)
    assert error.keypath == "secrets.A.max_age" and error.file == str(config) and error.line == 4
    expected = {
        "built-in": "devsecrets' built-in defaults",
        "team": f"set by {team_file}:1",
        "project": f"set by {config}:7",
    }[refused_by]
    assert expected in error.message and "a secret may only tighten" in error.message


def test_team_session_ttl_then_project(tmp_path: Path, team_file: Path) -> None:
    team_file.write_text("session_ttl: 45m\n")
    assert effective(project(tmp_path, "  session_ttl: 30m\n")).session_ttl == timedelta(minutes=30)
    error = loosening_error(project(tmp_path, "  session_ttl: 50m\n"))
    assert f"45m set by {team_file}:1" in error.message


def test_vaults_must_be_in_every_list_by_id_or_name(tmp_path: Path, team_file: Path) -> None:
    team_file.write_text("vaults: [vault-id-staging, Dev]\n")
    policy = effective(project(tmp_path, "  vaults: [Staging, Sandbox]\n"))
    config = load_config(tmp_path / "proj")
    spec = config.secrets[0]
    staging = Metadata(vault_id="vault-id-staging", vault_name="Staging")
    sandbox = Metadata(vault_id="vault-id-sandbox", vault_name="Sandbox")
    dev = Metadata(vault_id="vault-id-dev", vault_name="Dev")
    assert metadata_refusals(spec, staging, policy) == []
    (only_project,) = metadata_refusals(spec, sandbox, policy)
    assert f"allowed by {team_file}:1" in only_project.reason
    (only_team,) = metadata_refusals(spec, dev, policy)
    assert f"allowed by {tmp_path / 'proj' / '.devsecrets.yml'}:6" in only_team.reason


def test_team_value_detectors(tmp_path: Path, team_file: Path) -> None:
    team_file.write_text("deny_values: ['^corp_prod_', 'ACME-LIVE-[0-9]+']\n")
    policy = effective(project(tmp_path, "  deny_values: ['^extra_']\n"))
    spec = load_config(tmp_path / "proj").secrets[0]
    for value, source in (
        (b"corp_prod_123", f"{team_file}:1"),
        (b"x ACME-LIVE-42", f"{team_file}:1"),
        (b"extra_1", f"{tmp_path / 'proj' / '.devsecrets.yml'}:6"),
    ):
        (refusal,) = value_refusals(spec, Secret(bytearray(value)), policy)
        assert f"(deny_values in {source})" in refusal.reason
    assert value_refusals(spec, Secret(bytearray(b"sandbox_corp_prod")), policy) == []


@pytest.mark.parametrize(
    ("text", "line", "message", "fix"),
    [
        ("max_ag: 5d\n", 1, "unknown key; did you mean 'max_age'?", "known keys here"),
        ("version: 1\nmax_age: soon\n", 2, "'soon' is not a duration", "30m, 12h, 3d"),
        ("version: 2\n", 1, "version 2 is not supported", "write `version: 1`"),
        ("allowed_scopes: staging\n", 1, "must be a list", "list scopes"),
        ("deny_values: ['(']\n", 1, "not a regular expression", "regular expressions"),
        ("vaults: [Staging]\nvaults: [Dev]\n", 2, "defined twice", "keep one"),
    ],
)
def test_team_file_errors_are_located(
    text: str, line: int, message: str, fix: str, tmp_path: Path, team_file: Path
) -> None:
    team_file.write_text(text)
    error = loosening_error(project(tmp_path))
    assert error.file == str(team_file) and error.line == line
    assert message in error.message and fix in (error.fix or "")


def test_named_team_file_must_exist(tmp_path: Path, team_file: Path) -> None:
    error = loosening_error(project(tmp_path))
    assert "does not exist" in error.message and "DEVSECRETS_POLICY" in (error.fix or "")


def test_installed_team_file_is_optional_and_found(tmp_path: Path) -> None:
    config = project(tmp_path)
    assert effective(config).max_age == timedelta(days=7)
    installed = Path(os.environ["XDG_CONFIG_HOME"]) / "devsecrets" / "policy.yml"
    installed.parent.mkdir(parents=True)
    installed.write_text("max_age: 3d\n")
    assert effective(config).source("max_age") == f"{installed}:1"


def test_world_writable_team_file_is_refused(tmp_path: Path, team_file: Path) -> None:
    team_file.write_text("max_age: 3d\n")
    team_file.chmod(0o666)
    error = loosening_error(project(tmp_path))
    assert "writable by every user" in error.message


def test_policy_command_shows_sources(tmp_path: Path, team_file: Path, inproc: InProcess) -> None:
    team_file.write_text("version: 1\nmax_age: 5d\nvaults: [Staging]\n")
    config = project(tmp_path, "  allowed_scopes: [staging]\n", "    max_age: 2d\n")
    code, out, err = inproc("policy", "--json", cwd=config.parent)
    assert code == 0, err
    document = json.loads(out)
    assert document["team_policy"] == str(team_file)
    settings = document["policy"]
    assert settings["max_age"] == {"value": "5d", "source": f"{team_file}:2"}
    assert settings["allowed_scopes"] == {"value": ["staging"], "source": f"{config}:7"}
    assert settings["warn_before"] == {"value": "2d", "source": BUILTIN}
    assert settings["vaults"]["value"] == [{"allowed": ["Staging"], "source": f"{team_file}:3"}]
    assert document["secrets"] == [
        {"name": "A", "scope": "staging", "max_age": "2d", "max_age_source": f"{config}:4"}
    ]
    table = inproc("policy", cwd=config.parent)[1]
    assert "max_age         5d" in table and f"{team_file}:2" in table


def test_policy_command_reports_loosening(
    tmp_path: Path, team_file: Path, inproc: InProcess
) -> None:
    team_file.write_text("max_age: 5d\n")
    config = project(tmp_path, "  max_age: 30d\n")
    code, _, err = inproc("policy", cwd=config.parent)
    assert code == 125
    assert f"{config}:6: policy.max_age: 30d is looser than max_age: 5d set by {team_file}:1" in err
    assert "Traceback" not in err


def test_policy_command_outside_a_project(
    tmp_path: Path, team_file: Path, inproc: InProcess
) -> None:
    team_file.write_text("max_age: 5d\n")
    code, out, _ = inproc("policy", "--json", cwd=tmp_path)
    assert code == 0
    assert json.loads(out)["project"] is None


def test_tightened_by_clamps_even_without_the_check() -> None:
    loose = PolicyBlock(
        max_age=timedelta(days=30),
        warn_before=timedelta(hours=1),
        allowed_scopes=("staging", "qa"),
        session_ttl=timedelta(hours=2),
        lines={"max_age": 3},
    )
    policy = Policy().tightened_by(loose, "x.yml")
    assert policy.max_age == timedelta(days=7) and policy.warn_before == timedelta(days=2)
    assert policy.allowed_scopes == ("staging",)
    assert policy.session_ttl == timedelta(minutes=15)
    assert policy.source("max_age") == "x.yml:3"
    team = Policy().tightened_by(loose, "team.yml", may_raise={"session_ttl": timedelta(hours=1)})
    assert team.session_ttl == timedelta(hours=1)
