"""The warm `run` path takes the usual spellings only; anything else goes to click."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from agentkit import Agent, Shell, agent, canary_project, inject_calls, shells
from conftest import Sandbox
from helpers import cli

from devsecrets.agent.fastpath import parse

__all__ = ["agent", "shells"]  # fixtures, imported to be used here


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--", "make", "test"], ([], True, False, ["make", "test"])),
        (["make", "-j4"], ([], True, False, ["make", "-j4"])),
        (["--no-mask", "-v", "--", "env"], ([], False, True, ["env"])),
        (
            ["--only", "A", "--only=B", "--", "x", "--only", "C"],
            (["A", "B"], True, False, ["x", "--only", "C"]),
        ),
        (["--verbose", "--", "--", "x"], ([], True, True, ["--", "x"])),
    ],
)
def test_usual_spellings(args: list[str], expected: tuple[object, ...]) -> None:
    assert parse(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--"],
        ["--help"],
        ["-h"],
        ["--only"],
        ["--only", "--no-mask", "--", "x"],
        ["-vx"],
        ["--only="],
        ["--mask", "--", "x"],
        ["--verbos", "--", "x"],
    ],
)
def test_anything_else_goes_to_click(args: list[str]) -> None:
    assert parse(args) is None


def test_help_and_usage_errors_come_from_click_even_with_a_capability(tmp_path: Path) -> None:
    env = {"DEVSECRETS_SESSION": "dsc1_whatever"}
    result = cli("run", "--help", cwd=tmp_path, env=env)
    assert result.returncode == 0 and result.stdout.startswith(b"Usage: devsecrets run")
    result = cli("run", cwd=tmp_path, env=env)
    assert result.returncode == 2 and b"Missing argument" in result.stderr
    result = cli("run", "--", "true", cwd=tmp_path, env=env)  # no config here: click's error
    assert result.returncode == 125 and b"no .devsecrets.yml" in result.stderr


def test_a_mistyped_option_is_a_usage_error_with_an_agent_too(
    agent: Agent, sandbox: Sandbox, tmp_path: Path, shells: Callable[[Path], Shell]
) -> None:
    project = canary_project(sandbox, tmp_path)
    shell = shells(project)
    shell.enter()
    fetched = inject_calls(sandbox)
    out = shell.run("--verbos -- touch started")
    assert shell.status == 2 and "No such option '--verbos'" in out
    assert not (project / "started").exists()
    assert inject_calls(sandbox) == fetched  # nothing fetched: click stopped it first
    shell.run("sh -c 'exit 4' --verbos")  # after the command: the command's own
    assert shell.status == 4
    assert inject_calls(sandbox) == fetched  # served by the agent, on the warm path
