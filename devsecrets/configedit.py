"""Add secrets to a `.devsecrets.yml` without rewriting it.

A config is a reviewed, committed file with its author's comments and layout, so new
entries are inserted as text at the end of the `secrets:` mapping — nothing else moves.
The result is parsed again by the caller before anything is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from devsecrets.config import PROJECT_NAME
from devsecrets.errors import ConfigError
from devsecrets.refs import RefError, parse_ref

HEADER = """\
# The secrets this project needs: names and references, never values. Commit this file.
# Written by `devsecrets import`; see `devsecrets run --help`.
"""


def keyring_ref(key: str, taken: set[str]) -> str:
    """`DATABASE_URL` → `keyring:database-url`; the key itself when that entry name is
    taken; a bare `keyring` (entry named like the key) when neither is a valid name."""
    for name in (re.sub(r"_+", "-", key.lower()).strip("-"), key):
        if name in taken:
            continue
        try:
            parse_ref(f"keyring:{name}", key)
        except RefError:
            continue
        taken.add(name)
        return f"keyring:{name}"
    taken.add(key)
    return "keyring"


def project_name(directory: Path) -> str:
    name = directory.name
    if PROJECT_NAME.fullmatch(name):
        return name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:64] or "project"


def new_config(project: str, entries: Sequence[tuple[str, str]]) -> str:
    lines = [f"  {name}: {ref}\n" for name, ref in entries]
    return f"{HEADER}version: 1\nproject: {project}\nscope: staging\nsecrets:\n" + "".join(lines)


def add_secrets(text: str, entries: Sequence[tuple[str, str]], file: str) -> str:
    """`text` with `NAME: ref` lines added at the end of its `secrets:` mapping."""
    if not entries:
        return text
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    key, value = _secrets_node(text, file)
    if key is None:  # no `secrets:` yet: a new block at the end
        return "".join(lines) + "secrets:" + newline + _block(entries, 2, newline)
    assert value is not None
    if isinstance(value, yaml.MappingNode) and value.value and not value.flow_style:
        indent = value.value[0][0].start_mark.column
        after = _last_content_line(lines, value.value[-1][1].end_mark)
    elif _is_empty(value):  # `secrets:` or `secrets: {}`: the block goes under the key
        start, end = value.start_mark.index, value.end_mark.index
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        text = text[:start] + text[end:]
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        indent = key.start_mark.column + 2
        after = key.start_mark.line
    else:
        raise ConfigError(
            "`secrets:` is written in flow style ({...}), so devsecrets cannot add to it",
            "write one `NAME: reference` per line under `secrets:`, then import again",
            file=file,
            line=key.start_mark.line + 1,
        )
    block = _block(entries, indent, newline)
    return "".join(lines[: after + 1]) + block + "".join(lines[after + 1 :])


def _secrets_node(text: str, file: str) -> tuple[yaml.Node | None, yaml.Node | None]:
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        root = None  # the caller parsed this file already: not reached for a valid config
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("is not a mapping", "fix the config first", file=file)
    for key, value in root.value:
        if key.value == "secrets":
            return key, value
    return None, None


def _is_empty(node: yaml.Node) -> bool:
    if isinstance(node, yaml.ScalarNode):
        return node.tag == "tag:yaml.org,2002:null"
    return isinstance(node, yaml.MappingNode) and not node.value


def _last_content_line(lines: list[str], end: yaml.Mark) -> int:
    """The index of the last line of the mapping's last entry: its end mark, stepped back
    over the blank and comment lines that belong to whatever follows."""
    line = end.line if end.column > 0 else end.line - 1
    line = min(line, len(lines) - 1)
    while line > 0 and (not lines[line].strip() or lines[line].lstrip().startswith("#")):
        line -= 1
    return line


def _block(entries: Sequence[tuple[str, str]], indent: int, newline: str) -> str:
    return "".join(f"{' ' * indent}{name}: {ref}{newline}" for name, ref in entries)


def write_config(path: Path, text: str) -> None:
    """Replace (or create) the config atomically; an existing file keeps its mode."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    temp = path.with_name(f".{path.name}.devsecrets.{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temp, mode & ~0o002)  # never world-writable: `run` would refuse it
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot be written: {exc.strerror}",
            "check the directory's permissions",
            file=str(path),
        ) from None
