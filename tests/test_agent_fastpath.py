"""The warm `run` path takes the usual spellings only; anything else goes to click."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli

from devsecrets.agent.fastpath import parse


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
