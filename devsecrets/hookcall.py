"""The shell hook's one Python call, made when the nearest config (the project) changes.

shell-hooks/devsecrets.{bash,zsh,fish} run it as

    PYTHON -I -S -c CODE PKGDIR CONFIG PREV_RECORD PREV_STATE PREV_PROJECT [--quiet]

(CODE: hooks.ENTRY). `-I`: PYTHON* variables and the user site are ignored, and the working
directory — a project someone else wrote — is not on sys.path, so nothing in it can stand in
for devsecrets. `-S`: no site-packages scan (≈ 3.5 ms); PKGDIR, the directory holding this
package, is put on sys.path instead. CONFIG is the config the hook found ('' when it left
every project); the PREV_* values are what this call told the hook last time.

It prints one status line on stderr, and on stdout `key=value` lines that the hook reads
into unexported variables of its own — it assigns known keys and evaluates nothing:
`state` (a trust state, or `error`), `project`, `record` (the allow-record file whose
existence and age the hook watches between calls). For the session agent (issue 5), a key
carrying the session capability fits the same channel.

It runs on `cd`, with a budget of direnv loading an .envrc (≈ 24 ms here), so it imports
only cheap standard modules (`python -X importtime` in bench/README.md): no click, yaml,
json, pathlib, typing or dataclasses, and it never parses the YAML — the allow record
carries what the status line shows.
"""

from __future__ import annotations

import os
import sys
import time

from devsecrets.configfile import read_config_bytes
from devsecrets.errors import DevsecretsError
from devsecrets.trust import ALLOWED, CHANGED, DENIED, EXPIRED, NOT_ALLOWED, decide
from devsecrets.trustfile import read_record, record_paths, sha256_hex

ERROR = "error"
REVIEW = "review it, then run devsecrets allow"


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        sys.stderr.write("devsecrets: this shell hook is out of date; load it again\n")
        return 2
    config, prev_record, prev_state, prev_project = argv[:4]
    quiet = "--quiet" in argv[4:] or os.environ.get("DEVSECRETS_HOOK_QUIET", "") not in ("", "0")
    if config:
        fields, line = enter(config, time.time())
        if (fields["record"], fields["state"]) == (prev_record, prev_state):
            line = ""  # re-checked, nothing new to say
    else:
        fields, line = {}, left(prev_project, prev_state)
    _emit(fields)
    if line and not quiet:
        sys.stderr.write(_printable(line) + "\n")
        sys.stderr.flush()
    return 0


def enter(config: str, now: float) -> tuple[dict[str, str], str]:
    """The hook's fields and the status line for the config at `config` (a logical path)."""
    allow_path, deny_path = record_paths(os.path.realpath(config))
    fields = {"record": allow_path, "state": ERROR, "project": ""}
    try:
        data = read_config_bytes(config)
    except DevsecretsError as exc:
        return fields, exc.render()
    allow = read_record(allow_path)
    denied = read_record(deny_path) is not None
    # The hook cannot parse the YAML (too slow), so it applies the TTL recorded at allow
    # time; `run` applies the current policy's.
    state = decide(allow, denied, sha256_hex(data), now, allow.ttl if allow else 0)
    fields["state"] = state
    where = _display(config)
    if state == ALLOWED and allow:
        fields["project"] = allow.project
        count = f"{allow.count} secret{'' if allow.count == 1 else 's'}"
        return fields, f"devsecrets: {allow.project} ({allow.scope}) — {count} ready"
    messages = {
        NOT_ALLOWED: f"devsecrets: {where} is not trusted — {REVIEW}",
        CHANGED: f"devsecrets: {where} changed since you allowed it — {REVIEW}",
        EXPIRED: f"devsecrets: {where}: trust expired — {REVIEW}",
        DENIED: f"devsecrets: {where} is denied; nothing is served here",
    }
    return fields, messages[state]


def left(project: str, state: str) -> str:
    """In this issue nothing is held but the hook's own state, which the hook has cleared; the
    session agent (issue 5) makes the wipe real."""
    return f"devsecrets: left {project} — session wiped" if state == ALLOWED else ""


def _emit(fields: dict[str, str]) -> None:
    # A value with a line break would break the line protocol: left out (the hook then
    # watches nothing and asks again at the next change of directory).
    lines = [f"{key}={value}\n" for key, value in fields.items() if "\n" not in value]
    sys.stdout.buffer.write(os.fsencode("".join(lines)))
    sys.stdout.flush()


def _display(path: str) -> str:
    home = os.environ.get("HOME", "").rstrip("/")
    return "~" + path[len(home) :] if home and path.startswith(home + "/") else path


def _printable(text: str) -> str:
    """No terminal control characters: a directory name could carry some."""
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
