"""lookup.py (plain strings, for the warm `run` path) finds what config.py and paths.py
(pathlib) find."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from devsecrets import config, lookup, paths


def test_find_config_walks_up_like_pathlib(tmp_path: Path) -> None:
    project = tmp_path / "a"
    deep = project / "b" / "c"
    deep.mkdir(parents=True)
    (project / ".devsecrets.yml").write_text("secrets: {}\n")
    for start in (deep, project, Path(f"{deep}/./"), Path(f"{project}//b")):
        assert lookup.find_config(str(start)) == str(project / ".devsecrets.yml")
        assert config.find_config(start) == project / ".devsecrets.yml"


def test_start_dir_keeps_the_shells_symlinked_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.chdir(link)
    monkeypatch.setenv("PWD", f"{link}/./")
    assert lookup.start_dir() == str(link) == str(config.start_dir())
    monkeypatch.setenv("PWD", "/somewhere/else")
    assert lookup.start_dir() == os.getcwd()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEVSECRETS_HOME": "/x/home", "XDG_RUNTIME_DIR": "/run/user/7"}, "/x/home/run"),
        ({"XDG_RUNTIME_DIR": "/run/user/7"}, "/run/user/7/devsecrets"),
    ],
)
def test_runtime_dir(env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert lookup.runtime_dir() == expected == str(paths.runtime_dir())


def test_runtime_dir_without_xdg_is_per_user_in_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert lookup.runtime_dir().endswith(f"/devsecrets-{os.getuid()}")


def test_a_deleted_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Named as such (not FileNotFoundError); an absolute start needs no working directory."""
    from devsecrets.errors import DevsecretsError

    (tmp_path / ".devsecrets.yml").write_text("secrets: {}\n")
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    for call in (lookup.start_dir, lookup.find_config, lambda: lookup.find_config("sub")):
        with pytest.raises(DevsecretsError, match="the current directory no longer exists"):
            call()
    assert lookup.find_config(str(gone)) == str(tmp_path / ".devsecrets.yml")


@pytest.mark.parametrize("relative", ["run/user", "./x", ""])
def test_a_relative_xdg_runtime_dir_is_ignored(
    relative: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The XDG Base Directory spec: a relative path is invalid and ignored."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", relative)
    assert lookup.runtime_place() == (f"{tempfile.gettempdir()}/devsecrets-{os.getuid()}", "tmp")
